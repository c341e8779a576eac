"""The real OpenTelemetry Python SDK sends traces over OTLP/HTTP and OTLP/gRPC; the API returns them identical."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest
from opentelemetry import context
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcSpanExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import Link, SpanKind, Status, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from apps.ingest.auth import KEY_CACHE
from apps.ingest.grpc_server import build_server
from apps.tenants.services import create_ingest_key
from tests.asgi_server import free_port
from tests.conftest import Tenant, session_client


@pytest.fixture
def ingest_key(alice: Tenant) -> str:
    KEY_CACHE.clear()
    return create_ingest_key(alice.project, alice.owner, name="sdk").plaintext


@pytest.fixture
def grpc_endpoint(transactional_db: Any) -> Iterator[str]:
    port = free_port()
    server = build_server(f"127.0.0.1:{port}")
    server.start()
    try:
        yield f"127.0.0.1:{port}"
    finally:
        server.stop(grace=1).wait()


_made: list[TracerProvider] = []


@pytest.fixture(autouse=True)
def _shutdown_providers() -> Iterator[None]:
    yield
    while _made:  # now, not at interpreter exit when pytest has closed the log streams
        _made.pop().shutdown()


def providers(exporter: Any) -> tuple[dict[str, TracerProvider], InMemorySpanExporter]:
    """Two services sharing one trace, each with the real exporter and an in-memory copy of what was sent."""
    sent = InMemorySpanExporter()
    made = {}
    for service, version in (("frontend", "1.4.2"), ("checkout", "2.0.0")):
        provider = TracerProvider(
            resource=Resource.create({"service.name": service, "service.version": version, "host.name": "web-1"})
        )
        provider.add_span_processor(SimpleSpanProcessor(exporter))
        provider.add_span_processor(SimpleSpanProcessor(sent))
        made[service] = provider
        _made.append(provider)
    return made, sent


def produce_trace(made: dict[str, TracerProvider]) -> None:
    """A request through two services: nested spans, attributes of each type, an event, a link, an error."""
    frontend = made["frontend"].get_tracer("shop.frontend", "0.9")
    checkout = made["checkout"].get_tracer("shop.checkout")
    with frontend.start_as_current_span("warmup") as earlier:
        earlier.set_attribute("cache.hit", True)
    link = Link(earlier.get_span_context(), {"link.reason": "follows warmup"})
    with frontend.start_as_current_span("GET /checkout", kind=SpanKind.SERVER, links=[link]) as root:
        root.set_attributes(
            {
                "http.route": "/checkout",
                "http.response.status_code": 500,
                "enduser.id": "u-42",
                "cart.items": 3,
                "cart.total": 99.5,
                "feature.flags": ("new-ui", "fast-pay"),
                "retry.counts": (1, 2, 3),
            }
        )
        root.add_event("cart.loaded", {"items": 3, "ok": True})
        carrier: dict[str, str] = {}
        with frontend.start_as_current_span("POST checkout", kind=SpanKind.CLIENT) as call:
            call.set_attribute("server.address", "checkout.internal")
            TraceContextTextMapPropagator().inject(carrier)
        token = context.attach(TraceContextTextMapPropagator().extract(carrier))
        try:
            with checkout.start_as_current_span("POST /pay", kind=SpanKind.SERVER) as pay:
                with checkout.start_as_current_span("SELECT orders", kind=SpanKind.CLIENT) as query:
                    query.set_attributes(
                        {"db.system": "postgresql", "db.statement": "SELECT * FROM orders WHERE id = $1"}
                    )
                try:
                    raise ValueError("card declined")
                except ValueError as exc:
                    pay.record_exception(exc)
                    pay.set_status(Status(StatusCode.ERROR, "card declined"))
        finally:
            context.detach(token)
        root.set_status(Status(StatusCode.ERROR))
    for provider in made.values():
        provider.force_flush()


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
