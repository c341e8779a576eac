"""OTLP/HTTP refusals: every bad or unlucky request gets the right status, a message, and stores nothing."""

from __future__ import annotations

import gzip
import json
import threading
import time
from typing import Any

import pytest
from django.db import connection
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

from apps.ingest.auth import KEY_CACHE
from apps.tenants.services import revoke_ingest_key
from tests.conftest import Tenant
from tests.ingest.otlp_http import PROTOBUF, headers, post, status_message, stored_spans, trace_request


def test_accepted_request_answers_an_export_response(alice: Tenant, traces_url: str, key: str) -> None:
    status, response_headers, body = post(traces_url, trace_request(), headers(key))
    assert status == 200
    assert response_headers["Content-Type"] == PROTOBUF
    assert not ExportTraceServiceResponse.FromString(body).HasField("partial_success")
    assert stored_spans(alice) == 3


@pytest.mark.parametrize(
    ("make_headers", "message"),
    [
        (lambda key: {"Content-Type": PROTOBUF}, "Send the project's ingest key"),
        (lambda key: {"Content-Type": PROTOBUF, "Authorization": "Bearer vik_nope"}, "unknown, revoked or expired"),
    ],
)
def test_missing_or_unknown_key_is_401(
    alice: Tenant, traces_url: str, key: str, make_headers: Any, message: str
) -> None:
    status, _, body = post(traces_url, trace_request(), make_headers(key))
    assert status == 401
    assert message in status_message(body)
    assert stored_spans(alice) == 0


def test_revoked_key_stops_working(alice: Tenant, traces_url: str, key: str) -> None:
    from apps.tenants.models import IngestKey

    revoke_ingest_key(IngestKey.objects.unscoped().get(prefix=key[:12]), alice.owner)
    KEY_CACHE.clear()  # the cache bounds how long a revoked key keeps working (VIGIL_INGEST_KEY_CACHE_SECONDS)
    assert post(traces_url, trace_request(), headers(key))[0] == 401


def test_wrong_content_type_is_415(alice: Tenant, traces_url: str, key: str) -> None:
    status, _, body = post(traces_url, b"hello", headers(key, "text/plain"))
    assert status == 415
    assert "Content-Type must be" in json.loads(body)["message"]


def test_json_error_bodies_for_json_requests(alice: Tenant, traces_url: str, key: str) -> None:
    status, response_headers, body = post(traces_url, b'{"resourceSpans": [', headers(key, "application/json"))
    assert status == 400
    assert response_headers["Content-Type"] == "application/json"
    error = json.loads(body)
    assert error["code"] == 3
    assert error["message"]
    assert stored_spans(alice) == 0


def test_corrupt_protobuf_is_400_and_stores_nothing(alice: Tenant, traces_url: str, key: str) -> None:
    valid = trace_request()
    status, _, body = post(traces_url, valid[: len(valid) // 2] + b"\xff\xff", headers(key))
    assert status == 400
    assert "protobuf" in status_message(body).lower() or "ExportTraceServiceRequest" in status_message(body)
    assert stored_spans(alice) == 0


def test_bad_spans_are_partial_success(alice: Tenant, traces_url: str, key: str) -> None:
    status, _, body = post(traces_url, trace_request(5, bad_ids=2), headers(key))
    assert status == 200
    partial = ExportTraceServiceResponse.FromString(body).partial_success
    assert partial.rejected_spans == 2
    assert "traceId" in partial.error_message or "trace" in partial.error_message
    assert stored_spans(alice) == 3


def test_a_value_its_column_cannot_hold_is_400_and_stores_nothing(alice: Tenant, traces_url: str, key: str) -> None:
    request = ExportTraceServiceRequest.FromString(trace_request())
    request.resource_spans[0].scope_spans[0].spans[1].kind = 40_000  # span kinds are stored as smallint
    status, _, body = post(traces_url, request.SerializeToString(), headers(key))
    assert status == 400
    assert "cannot be stored" in status_message(body)
    assert "out of range" in status_message(body)
    assert "kind: 40000" in status_message(body)  # the column, by name
    assert stored_spans(alice) == 0


def test_spans_older_than_retention_are_partial_success(alice: Tenant, traces_url: str, key: str) -> None:
    old = time.time_ns() - 40 * 86_400 * 10**9
    status, _, body = post(traces_url, trace_request(2, start_ns=old), headers(key))
    assert status == 200
    partial = ExportTraceServiceResponse.FromString(body).partial_success
    assert partial.rejected_spans == 2
    assert "days" in partial.error_message
    assert stored_spans(alice) == 0


def test_body_over_the_limit_is_413(alice: Tenant, traces_url: str, key: str, settings: Any) -> None:
    settings.VIGIL_INGEST_MAX_BODY_BYTES = 1000
    status, _, body = post(traces_url, trace_request(50), headers(key))
    assert status == 413
    assert "1000 bytes" in status_message(body)


def test_gzip_bomb_is_413_without_inflating_it(alice: Tenant, traces_url: str, key: str, settings: Any) -> None:
    settings.VIGIL_INGEST_MAX_BODY_BYTES = 1024 * 1024
    bomb = gzip.compress(b"\0" * (200 * 1024 * 1024))  # 200 MiB of zeros in ~200 KiB
    assert len(bomb) < 300 * 1024
    status, _, body = post(traces_url, bomb, headers(key, **{"Content-Encoding": "gzip"}))
    assert status == 413
    assert "after decompression" in status_message(body)
    assert stored_spans(alice) == 0


def test_rate_limit_is_429_with_retry_after(alice: Tenant, traces_url: str, key: str, settings: Any) -> None:
    settings.VIGIL_INGEST_RATE_LIMIT_PER_SECOND = 4
    statuses = [post(traces_url, trace_request(3), headers(key)) for _ in range(3)]
    limited = [s for s in statuses if s[0] == 429]
    assert limited, [s[0] for s in statuses]
    assert limited[0][1]["Retry-After"] == "1"
    assert "rate limit" in status_message(limited[0][2])


def test_overload_is_503_with_retry_after(alice: Tenant, traces_url: str, key: str, settings: Any) -> None:
    settings.VIGIL_INGEST_MAX_CONCURRENCY = 0  # every request finds the process full
    status, response_headers, body = post(traces_url, trace_request(), headers(key))
    assert status == 503
    assert response_headers["Retry-After"] == str(settings.VIGIL_INGEST_RETRY_AFTER_SECONDS)
    assert "busy" in status_message(body)


def test_slow_database_is_503_and_stores_nothing(alice: Tenant, traces_url: str, key: str, settings: Any) -> None:
    """Another session holds the span table locked: the write times out and the sender is told to retry."""
    settings.VIGIL_INGEST_STATEMENT_TIMEOUT_MS = 300
    post(traces_url, trace_request(1), headers(key))  # partitions and key cache warm
    locked, release = threading.Event(), threading.Event()

    def hold_lock() -> None:
        from django.db import connections, transaction

        with transaction.atomic(), connections["default"].cursor() as cursor:
            cursor.execute("LOCK TABLE tracing_span IN ACCESS EXCLUSIVE MODE")
            locked.set()
            release.wait(20)
        connections.close_all()

    holder = threading.Thread(target=hold_lock)
    holder.start()
    try:
        assert locked.wait(10)
        status, response_headers, body = post(traces_url, trace_request(4), headers(key))
    finally:
        release.set()
        holder.join()
    assert status == 503
    assert response_headers["Retry-After"]
    assert "Retry later" in status_message(body)
    assert stored_spans(alice) == 1


def test_nul_characters_are_stored_as_replacement_characters(alice: Tenant, traces_url: str, key: str) -> None:
    """PostgreSQL text cannot hold U+0000, which OTLP strings may carry."""
    request = ExportTraceServiceRequest.FromString(trace_request(1))
    span = request.resource_spans[0].scope_spans[0].spans[0]
    span.name = "GET /\x00x"
    span.attributes.add(key="k\x00", value={"string_value": "v\x00"})
    assert post(traces_url, request.SerializeToString(), headers(key))[0] == 200
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT name, attributes::text FROM tracing_span WHERE organization_id = %s", [alice.organization.pk]
        )
        name, attributes = cursor.fetchone()
    assert name == "GET /\ufffdx"
    assert json.loads(attributes) == {"k\ufffd": "v\ufffd"}


def test_spans_land_in_the_keys_project_only(alice: Tenant, bob: Tenant, traces_url: str, key: str) -> None:
    """The key alone decides the tenant: a header naming another organization changes nothing."""
    extra = {"X-Vigil-Organization": bob.slug, "X-Vigil-Project": bob.project.slug}
    assert post(traces_url, trace_request(2), headers(key, **extra))[0] == 200
    assert stored_spans(alice) == 2
    assert stored_spans(bob) == 0


def test_a_request_never_sees_the_tenant_scope_another_left_set(
    alice: Tenant, traces_url: str, key: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The blocking part of each request runs in a context of its own: a scope one request set and did not reset
    (a bug) is gone for the next one in the same worker thread, so nothing can act for a stale tenant."""
    from apps.core import scoping
    from apps.ingest import pipeline

    seen: list[int | None] = []
    ingest = pipeline.ingest_request

    def leaky(*args: Any) -> Any:
        seen.append(scoping._current_organization.get())
        scoping.activate_scope(alice.organization.id)  # never deactivated
        return ingest(*args)

    monkeypatch.setattr(pipeline, "ingest_request", leaky)
    for _ in range(12):  # more requests than the loop's worker threads
        assert post(traces_url, trace_request(), headers(key))[0] == 200
    assert seen == [None] * 12
