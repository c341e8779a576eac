"""A project's own scrub rules: managed in the API and the UI, applied at ingest."""

from __future__ import annotations

import os
import time
from typing import Any

from django.db import connection
from django.test import Client
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from apps.ingest.models import ScrubRule
from tests.conftest import Tenant, session_client
from tests.ingest.otlp_http import headers, post


def rules_url(tenant: Tenant) -> str:
    return f"/api/v1/orgs/{tenant.slug}/projects/{tenant.project.slug}/scrub-rules/"


def test_invalid_rules_are_refused_with_a_reason(alice: Tenant) -> None:
    client = session_client(alice.owner)
    for body, field, words in (
        ({"kind": "regex", "pattern": "(a+)+$"}, "pattern", "backtrack"),
        ({"kind": "regex", "pattern": "[unclosed"}, "pattern", "unterminated"),
        ({"kind": "key", "pattern": "ssn", "category": "has space"}, "pattern", "category"),
        ({"kind": "sql", "pattern": "x"}, "kind", "valid choice"),
    ):
        response = client.post(rules_url(alice), body, format="json")
        assert response.status_code == 400, body
        message = " ".join(response.json()["error"]["details"][field]).lower()
        assert words in message, (body, message)
    assert not ScrubRule.objects.for_organization(alice.organization.pk).exists()


def test_viewers_read_rules_but_cannot_change_them(alice: Tenant) -> None:
    viewer = session_client(alice.members["viewer"])
    assert viewer.get(rules_url(alice)).status_code == 200
    assert viewer.post(rules_url(alice), {"kind": "key", "pattern": "ssn"}, format="json").status_code == 403


def _send(url: str, key: str, attributes: dict[str, str]) -> None:
    request = ExportTraceServiceRequest()
    resource_spans = request.resource_spans.add()
    resource_spans.resource.attributes.add(key="service.name").value.string_value = "api"
    span = resource_spans.scope_spans.add().spans.add()
    span.trace_id, span.span_id, span.name, span.kind = os.urandom(16), os.urandom(8), "GET /", 2
    span.start_time_unix_nano = time.time_ns()
    span.end_time_unix_nano = span.start_time_unix_nano + 1000
    for name, value in attributes.items():
        span.attributes.add(key=name).value.string_value = value
    assert post(url, request.SerializeToString(), headers(key))[0] == 200


def _stored_attributes(tenant: Tenant) -> list[dict[str, Any]]:
    import json

    with connection.cursor() as cursor:
        cursor.execute("SELECT attributes::text FROM tracing_span WHERE organization_id = %s", [tenant.organization.pk])
        return [json.loads(text) for (text,) in cursor.fetchall()]


def test_rules_apply_at_ingest(alice: Tenant, asgi_url: str, ingest_key: str) -> None:
    client = session_client(alice.owner)
    assert (
        client.post(
            rules_url(alice), {"kind": "key", "pattern": "ssn", "action": "hash", "category": "ssn"}, format="json"
        ).status_code
        == 201
    )
    rule = {"kind": "regex", "pattern": r"order-(?P<redact>\d{6})", "category": "order"}
    assert client.post(rules_url(alice), rule, format="json").status_code == 201
    attributes = {"customer.ssn": "123-45-6789", "note": "see order-123456 today"}
    _send(f"{asgi_url}/v1/traces", ingest_key, attributes)
    _send(f"{asgi_url}/v1/traces", ingest_key, attributes)
    first, second = _stored_attributes(alice)
    assert first["customer.ssn"].startswith("[HASH:")
    assert first["customer.ssn"] == second["customer.ssn"]  # hashed values stay joinable
    assert first["note"] == "see order-[REDACTED:order] today"


def test_rules_page(alice: Tenant) -> None:
    client = Client()
    client.force_login(alice.owner)
    url = f"/o/{alice.slug}/p/{alice.project.slug}/scrub-rules/"
    assert "No custom rules" in client.get(url).content.decode()
    response = client.post(url, {"kind": "key", "pattern": "ssn", "action": "replace", "category": "ssn"}, follow=True)
    assert response.status_code == 200
    assert "<code>ssn</code>" in response.content.decode()
    bad = client.post(url, {"kind": "regex", "pattern": "(a+)+z", "action": "replace", "category": "x"})
    assert bad.status_code == 400
    assert "backtrack" in bad.content.decode()
    rule = ScrubRule.objects.for_organization(alice.organization.pk).get()
    client.post(f"{url}{rule.pk}/delete/")
    assert not ScrubRule.objects.for_organization(alice.organization.pk).exists()


def test_a_refresh_keeps_the_scrubber_while_the_rules_are_unchanged(alice: Tenant, settings: Any) -> None:
    """Rules are re-read when the cache expires; an unchanged set keeps the scrubber (and what it has learnt),
    a changed one builds a new scrubber that applies it."""
    from apps.ingest import pipeline
    from apps.ingest.auth import IngestPrincipal

    settings.VIGIL_INGEST_KEY_CACHE_SECONDS = 0  # every call re-reads the rules
    principal = IngestPrincipal(alice.organization.pk, alice.project.pk, key_id=0)
    first = pipeline.scrubber(principal)
    assert first.scrub_value("note", "order-123456") == "order-123456"
    assert pipeline.scrubber(principal) is first
    rule = {"kind": "regex", "pattern": r"order-\d{6}", "category": "order"}
    assert session_client(alice.owner).post(rules_url(alice), rule, format="json").status_code == 201
    changed = pipeline.scrubber(principal)
    assert changed is not first
    assert changed.scrub_value("note", "order-123456") == "[REDACTED:order]"
    assert pipeline.scrubber(principal) is changed
