"""Real OpenTelemetry SDK traffic for the tests: two services, one trace with every kind of span data."""

from __future__ import annotations

from typing import Any

from opentelemetry import context
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import Link, SpanKind, Status, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

_made: list[TracerProvider] = []


def shutdown_providers() -> None:
    while _made:
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
