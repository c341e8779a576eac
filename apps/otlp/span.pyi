# The fields of the compiled span (apps/otlp/span.pyx), for type checkers and readers.
from typing import Any

from apps.otlp.types import Resource, Scope, SpanEvent, SpanLink

class Span:
    resource: Resource
    scope: Scope
    trace_id: bytes
    span_id: bytes
    parent_span_id: bytes | None
    name: str
    kind: int
    start_ns: int
    end_ns: int
    attributes: dict[str, Any]
    status_code: int
    status_message: str
    trace_state: str
    flags: int
    events: list[SpanEvent]
    links: list[SpanLink]
    dropped_attributes_count: int
    dropped_events_count: int
    dropped_links_count: int
    def __init__(
        self,
        resource: Resource,
        scope: Scope,
        trace_id: bytes,
        span_id: bytes,
        parent_span_id: bytes | None,
        name: str,
        kind: int,
        start_ns: int,
        end_ns: int,
        attributes: dict[str, Any],
        status_code: int = 0,
        status_message: str = "",
        trace_state: str = "",
        flags: int = 0,
        events: list[SpanEvent] | None = None,
        links: list[SpanLink] | None = None,
        dropped_attributes_count: int = 0,
        dropped_events_count: int = 0,
        dropped_links_count: int = 0,
    ) -> None: ...
