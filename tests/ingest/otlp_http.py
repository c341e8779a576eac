"""Helpers of the OTLP/HTTP tests: a POST that returns refusals too, requests, stored counts."""

from __future__ import annotations

import os
import time
import urllib.error
import urllib.request
from typing import Any

from django.db import connection
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from tests.conftest import Tenant

PROTOBUF = "application/x-protobuf"


def post(url: str, body: bytes, headers: dict[str, str]) -> tuple[int, Any, bytes]:
    """Status, headers (case-insensitive) and body of one POST."""
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.headers, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers, exc.read()


def trace_request(spans: int = 3, *, start_ns: int | None = None, bad_ids: int = 0) -> bytes:
    start = start_ns or time.time_ns()
    request = ExportTraceServiceRequest()
    scope_spans = request.resource_spans.add().scope_spans.add()
    request.resource_spans[0].resource.attributes.add(key="service.name").value.string_value = "api"
    for index in range(spans):
        span = scope_spans.spans.add()
        span.trace_id = os.urandom(15) if index < bad_ids else os.urandom(16)
        span.span_id = os.urandom(8)
        span.name = "GET /"
        span.kind = 2
        span.start_time_unix_nano = start
        span.end_time_unix_nano = start + 1_000_000
    return request.SerializeToString()


def stored_spans(tenant: Tenant) -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM tracing_span WHERE organization_id = %s", [tenant.organization.pk])
        return int(cursor.fetchone()[0])


def status_message(body: bytes) -> str:
    """google.rpc.Status: field 2 is the message (a length-delimited string after the varint code)."""
    assert body[0] == 0x08
    index = 2 if body[1] < 0x80 else 3
    assert body[index] == 0x12
    return body[index + 2 : index + 2 + body[index + 1]].decode()


def headers(key: str, content_type: str = PROTOBUF, **extra: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}", "Content-Type": content_type, **extra}
