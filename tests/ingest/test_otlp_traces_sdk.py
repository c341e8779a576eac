"""The real OpenTelemetry Python SDK sends traces over OTLP/HTTP and OTLP/gRPC; the API returns them identical."""

from __future__ import annotations

import threading
from typing import Any

from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcSpanExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpSpanExporter
from opentelemetry.sdk.trace import ReadableSpan

from tests.conftest import Tenant, session_client
from tests.otel_traffic import produce_trace, providers


def _value(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value


def assert_same(sent: ReadableSpan, stored: dict[str, Any]) -> None:
    context_ = sent.get_span_context()
    assert stored["span_id"] == format(context_.span_id, "016x")
    assert stored["trace_id"] == format(context_.trace_id, "032x")
    assert stored["parent_span_id"] == (format(sent.parent.span_id, "016x") if sent.parent else None)
    assert stored["name"] == sent.name
    assert stored["kind"] == sent.kind.value + 1  # the SDK's enum starts at INTERNAL = 0, OTLP's at 1
    assert stored["start_time_unix_nano"] == sent.start_time
    assert stored["end_time_unix_nano"] == sent.end_time
    assert stored["duration_ns"] == sent.end_time - sent.start_time
    assert stored["status"] == {"code": sent.status.status_code.value, "message": sent.status.description or ""}
    assert stored["attributes"] == {k: _value(v) for k, v in sent.attributes.items()}
    assert stored["resource"] == dict(sent.resource.attributes)
    assert stored["service"] == sent.resource.attributes["service.name"]
    assert stored["scope"]["name"] == sent.instrumentation_scope.name
    assert stored["scope"]["version"] == (sent.instrumentation_scope.version or "")
    assert [(e["name"], e["time_unix_nano"]) for e in stored["events"]] == [(e.name, e.timestamp) for e in sent.events]
    for stored_event, event in zip(stored["events"], sent.events, strict=True):
        assert stored_event["attributes"] == {k: _value(v) for k, v in event.attributes.items()}
    assert [(link["trace_id"], link["span_id"], link["attributes"]) for link in stored["links"]] == [
        (format(link.context.trace_id, "032x"), format(link.context.span_id, "016x"), dict(link.attributes))
        for link in sent.links
    ]


def read_back(tenant: Tenant, sent: list[ReadableSpan]) -> None:
    client = session_client(tenant.owner)
    by_trace: dict[int, list[ReadableSpan]] = {}
    for span in sent:
        by_trace.setdefault(span.get_span_context().trace_id, []).append(span)
    for trace_id, spans in by_trace.items():
        url = f"/api/v1/orgs/{tenant.slug}/projects/{tenant.project.slug}/traces/{trace_id:032x}/"
        response = client.get(url)
        assert response.status_code == 200, response.content
        stored = {span["span_id"]: span for span in response.json()["spans"]}
        assert len(stored) == len(spans)
        for span in spans:
            assert_same(span, stored[format(span.get_span_context().span_id, "016x")])


def test_http_exporter_round_trip(alice: Tenant, asgi_url: str, ingest_key: str) -> None:
    exporter = HttpSpanExporter(endpoint=f"{asgi_url}/v1/traces", headers={"Authorization": f"Bearer {ingest_key}"})
    made, sent = providers(exporter)
    produce_trace(made)
    assert len(sent.get_finished_spans()) == 5
    read_back(alice, list(sent.get_finished_spans()))


def test_http_exporter_with_gzip(alice: Tenant, asgi_url: str, ingest_key: str) -> None:
    from opentelemetry.exporter.otlp.proto.http import Compression

    exporter = HttpSpanExporter(
        endpoint=f"{asgi_url}/v1/traces", headers={"x-vigil-key": ingest_key}, compression=Compression.Gzip
    )
    made, sent = providers(exporter)
    produce_trace(made)
    read_back(alice, list(sent.get_finished_spans()))


def test_grpc_exporter_round_trip(alice: Tenant, grpc_endpoint: str, ingest_key: str) -> None:
    exporter = GrpcSpanExporter(
        endpoint=grpc_endpoint, insecure=True, headers=(("authorization", f"Bearer {ingest_key}"),)
    )
    made, sent = providers(exporter)
    produce_trace(made)
    read_back(alice, list(sent.get_finished_spans()))


def test_a_retried_export_stores_nothing_twice(alice: Tenant, asgi_url: str, ingest_key: str) -> None:
    exporter = HttpSpanExporter(endpoint=f"{asgi_url}/v1/traces", headers={"Authorization": f"Bearer {ingest_key}"})
    made, sent = providers(exporter)
    produce_trace(made)
    spans = list(sent.get_finished_spans())
    assert exporter.export(spans).name == "SUCCESS"  # the same spans again, as after a lost response
    read_back(alice, spans)


def test_parallel_exports_from_threads(alice: Tenant, asgi_url: str, ingest_key: str) -> None:
    exporter = HttpSpanExporter(endpoint=f"{asgi_url}/v1/traces", headers={"Authorization": f"Bearer {ingest_key}"})
    made, sent = providers(exporter)
    threads = [threading.Thread(target=produce_trace, args=(made,)) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(sent.get_finished_spans()) == 20
    read_back(alice, list(sent.get_finished_spans()))
