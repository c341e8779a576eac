"""Exceptions from spans and error logs become issues at ingest; counted once; resolved issues reopen; audited."""

from __future__ import annotations

import os
import time
from typing import Any

import pytest
from django.test import Client

from apps.audit.models import AuditEntry
from apps.errors.models import ErrorGroup
from apps.ingest.auth import IngestPrincipal
from apps.ingest.pipeline import ingest_decoded
from apps.otlp.types import Decoded, LogRecord, Resource, Scope, Span, SpanEvent, SpanKind, StatusCode
from tests.conftest import Tenant, session_client

CHECKOUT = Resource({"service.name": "checkout"})
STACK = """Traceback (most recent call last):
  File "/app/shop/payments.py", line 17, in charge
    raise PaymentDeclined(order)
shop.payments.PaymentDeclined: order {n} declined"""


def failing_span(n: int, *, user: str = "u-1", ago_s: float = 60) -> Span:
    start = time.time_ns() - int(ago_s * 1e9)
    event = SpanEvent(start + 1000, "exception", {
        "exception.type": "shop.payments.PaymentDeclined",
        "exception.message": f"order {n} declined",
        "exception.stacktrace": STACK.format(n=n),
    })  # fmt: skip
    return Span(resource=CHECKOUT, scope=Scope("tests"), trace_id=os.urandom(16), span_id=os.urandom(8),
                parent_span_id=None, name="POST /checkout", kind=SpanKind.SERVER, start_ns=start,
                end_ns=start + 5_000_000, attributes={"enduser.id": user}, status_code=StatusCode.ERROR,
                events=[event])  # fmt: skip


def ingest(tenant: Tenant, spans: list[Span] = (), logs: list[LogRecord] = ()) -> None:  # type: ignore[assignment]
    principal = IngestPrincipal(tenant.organization.pk, tenant.project.pk, 0)
    decoded = Decoded()
    decoded.spans, decoded.logs = list(spans), list(logs)
    ingest_decoded(principal, decoded)


def api(tenant: Tenant, user: Any = None) -> Any:
    return session_client(user or tenant.owner)


def base(tenant: Tenant) -> str:
    return f"/api/v1/orgs/{tenant.slug}/projects/app/errors/"


@pytest.mark.django_db(transaction=True)
def test_exceptions_group_into_one_issue_counted_once(alice: Tenant) -> None:
    spans = [failing_span(n, user=f"u-{n % 3}") for n in range(7)]
    ingest(alice, spans)
    ingest(alice, spans[:3])  # a retried request
    body = api(alice).get(base(alice)).json()
    assert body["count"] == 1
    issue = body["results"][0]
    assert issue["exception_type"] == "shop.payments.PaymentDeclined"
    assert issue["message"] == "order <num> declined"
    assert issue["frame"] == "/app/shop/payments.py:charge"
    assert issue["count"] == 7
    assert issue["users"] == 3
    assert issue["services"] == ["checkout"]
    assert sum(p["count"] for p in issue["series"]) == 7
    detail = api(alice).get(base(alice) + issue["fingerprint"] + "/").json()
    assert detail["count"] == 7
    assert detail["services"] == [{"name": "checkout", "count": 7}]
    assert detail["operations"] == [{"name": "POST /checkout", "count": 7}]
    assert detail["affected_users"] == 3
    assert len(detail["examples"]) == 7
    assert {e["trace_id"] for e in detail["examples"]} == {s.trace_id.hex() for s in spans}
    assert "PaymentDeclined" in detail["sample_stacktrace"]


@pytest.mark.django_db(transaction=True)
def test_error_logs_become_issues_too(alice: Tenant) -> None:
    now = time.time_ns()
    logs = [
        LogRecord(resource=CHECKOUT, scope=Scope("tests"), time_ns=now - i * 1000, observed_time_ns=now,
                  severity_number=17, severity_text="ERROR", body=f"stock for sku {i} below zero", attributes={},
                  trace_id=os.urandom(16), span_id=os.urandom(8))
        for i in range(3)
    ] + [LogRecord(resource=CHECKOUT, scope=Scope("tests"), time_ns=now, observed_time_ns=now, severity_number=9,
                   severity_text="INFO", body="fine", attributes={})]  # fmt: skip
    ingest(alice, logs=logs)
    ingest(alice, logs=logs)  # retried
    results = api(alice).get(base(alice)).json()["results"]
    assert [(r["exception_type"], r["message"], r["count"]) for r in results] == [
        ("ERROR", "stock for sku <num> below zero", 3)
    ]


@pytest.mark.django_db(transaction=True)
def test_resolved_issue_reopens_when_it_occurs_again(alice: Tenant) -> None:
    ingest(alice, [failing_span(1, ago_s=120)])
    fingerprint = api(alice).get(base(alice)).json()["results"][0]["fingerprint"]
    response = api(alice).patch(base(alice) + fingerprint + "/", {"status": "resolved"}, format="json")
    assert response.status_code == 200
    assert response.json()["status"] == "resolved"
    assert api(alice).get(base(alice)).json()["count"] == 0  # resolved issues are not listed by default
    assert api(alice).get(base(alice) + "?status=resolved").json()["count"] == 1
    ingest(alice, [failing_span(1, ago_s=120)])  # an old occurrence arriving late does not reopen it
    assert ErrorGroup.objects.for_organization(alice.organization.pk).get().status == "resolved"
    ingest(alice, [failing_span(2, ago_s=0)])
    assert ErrorGroup.objects.for_organization(alice.organization.pk).get().status == "unresolved"
    actions = list(
        AuditEntry.objects.for_organization(alice.organization.pk).order_by("id").values_list("action", flat=True)
    )
    assert actions[-2:] == ["error.status_changed", "error.reopened"]


@pytest.mark.django_db(transaction=True)
def test_triage_needs_alerts_write_and_valid_status(alice: Tenant) -> None:
    ingest(alice, [failing_span(1)])
    fingerprint = api(alice).get(base(alice)).json()["results"][0]["fingerprint"]
    assert api(alice, alice.members["viewer"]).patch(base(alice) + fingerprint + "/", {"status": "ignored"},
                                                     format="json").status_code == 403  # fmt: skip
    response = api(alice).patch(base(alice) + fingerprint + "/", {"status": "gone"}, format="json")
    assert response.status_code == 400
    assert api(alice).get(base(alice) + "?status=nope").status_code == 400
    assert api(alice).get(base(alice) + "0" * 32 + "/").status_code == 404


@pytest.mark.django_db(transaction=True)
def test_error_pages_list_show_and_triage(alice: Tenant) -> None:
    ingest(alice, [failing_span(n) for n in range(3)])
    client = Client()
    client.force_login(alice.owner)
    listing = client.get(f"/o/{alice.slug}/p/app/errors/")
    assert listing.status_code == 200
    row = listing.context["rows"][0]
    assert row["count"] == 3
    page = client.get(row["url"])
    html = page.content.decode()
    assert page.status_code == 200
    assert 'data-testid="stacktrace"' in html
    assert "/app/shop/payments.py:charge" in html
    assert f"/o/{alice.slug}/p/app/traces/" in html  # example traces link to the trace view
    response = client.post(row["url"], {"status": "resolved"})
    assert response.status_code == 302
    assert ErrorGroup.objects.for_organization(alice.organization.pk).get().status == "resolved"
    viewer = Client()
    viewer.force_login(alice.members["viewer"])
    assert viewer.get(row["url"]).status_code == 200
    assert viewer.post(row["url"], {"status": "ignored"}).status_code == 403
    empty = client.get(f"/o/{alice.slug}/p/app/errors/")  # resolved: not listed by default
    assert 'data-testid="empty-state"' in empty.content.decode()


@pytest.mark.django_db(transaction=True)
def test_gdpr_deletion_of_a_user_deletes_their_occurrences(alice: Tenant) -> None:
    from apps.privacy import services as privacy

    ingest(alice, [failing_span(n, user="u-gone" if n < 3 else "u-stays") for n in range(5)])
    found = privacy.find_user_telemetry(alice.organization.pk, None, "enduser.id", "u-gone")
    assert found.error_occurrences == 3
    deleted = privacy.delete_user_telemetry(alice.organization.pk, None, "enduser.id", "u-gone", batch_size=2)
    assert deleted.error_occurrences == 3
    issue = api(alice).get(base(alice)).json()["results"][0]
    assert (issue["count"], issue["users"]) == (2, 1)
    assert privacy.find_user_telemetry(alice.organization.pk, None, "enduser.id", "u-gone").total == 0
