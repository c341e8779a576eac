"""PII never reaches the database: the ingest pipeline scrubs before it writes."""

from __future__ import annotations

import os
import time

from django.db import connection
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from tests.conftest import Tenant
from tests.ingest.otlp_http import headers, post


def test_pii_in_attributes_events_and_resource_is_redacted(alice: Tenant, traces_url: str, key: str) -> None:
    request = ExportTraceServiceRequest()
    resource_spans = request.resource_spans.add()
    resource_spans.resource.attributes.add(key="service.name").value.string_value = "api"
    resource_spans.resource.attributes.add(key="deployment.owner").value.string_value = "ops-lead@example.com"
    span = resource_spans.scope_spans.add().spans.add()
    span.trace_id, span.span_id, span.name, span.kind = os.urandom(16), os.urandom(8), "GET /pay", 2
    span.start_time_unix_nano = time.time_ns()
    span.end_time_unix_nano = span.start_time_unix_nano + 1000
    span.attributes.add(key="url.full").value.string_value = "https://shop.test/pay?api_key=sk_live_123456789&page=2"
    span.attributes.add(key="http.request.header.authorization").value.string_value = "Bearer eyJhbGciOi.abc.def"
    span.attributes.add(key="card").value.string_value = "4111 1111 1111 1111"
    event = span.events.add(name="exception", time_unix_nano=span.start_time_unix_nano)
    event.attributes.add(key="exception.message").value.string_value = "no account for jane.doe@example.org"

    assert post(traces_url, request.SerializeToString(), headers(key))[0] == 200
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT s.attributes::text, s.events::text, r.attributes::text FROM tracing_span s "
            "JOIN otlp_resource r ON r.organization_id = s.organization_id AND r.fingerprint = s.resource_fingerprint "
            "WHERE s.organization_id = %s",
            [alice.organization.pk],
        )
        attributes, events, resource = cursor.fetchone()
    stored = attributes + events + resource
    for secret in ("sk_live_123456789", "eyJhbGciOi", "4111 1111", "jane.doe@example.org", "ops-lead@example.com"):
        assert secret not in stored, secret
    assert "page=2" in attributes  # harmless parts of a URL survive
    assert "[REDACTED:card]" in attributes
    assert "[REDACTED:email]" in events
    assert "[REDACTED:email]" in resource
