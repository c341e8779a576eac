"""The read API of the span store (raw SQL over the partitioned tables; callers pass the tenant)."""

from __future__ import annotations

from typing import Any

import msgspec
from django.db import connection

from apps.otlp.values import hex_id

_TRACE = """
SELECT s.trace_id, s.span_id, s.parent_span_id, s.name, s.service_name, s.kind, s.start_ns, s.duration_ns,
       s.status_code, s.status_message, s.trace_state, s.flags, s.attributes, s.events, s.links,
       s.scope_name, s.scope_version, s.scope_attributes, s.dropped_attributes_count, s.dropped_events_count,
       s.dropped_links_count, r.attributes
FROM tracing_span s
JOIN otlp_resource r ON r.organization_id = s.organization_id AND r.project_id = s.project_id
                    AND r.fingerprint = s.resource_fingerprint
WHERE s.organization_id = %s AND s.project_id = %s AND s.trace_id = %s
ORDER BY s.start_ns, s.span_id
"""


# Django's PostgreSQL backend hands jsonb columns of raw queries back as text.
_json = msgspec.json.Decoder()


def _loads(text: str | None) -> Any:
    return _json.decode(text) if text is not None else None


def _span(row: tuple[Any, ...]) -> dict[str, Any]:
    (trace_id, span_id, parent, name, service, kind, start_ns, duration_ns, status_code, status_message, trace_state,
     flags, attributes, events, links, scope_name, scope_version, scope_attributes, dropped_attributes,
     dropped_events, dropped_links, resource) = row  # fmt: skip
    return {
        "trace_id": hex_id(bytes(trace_id)),
        "span_id": hex_id(bytes(span_id)),
        "parent_span_id": hex_id(bytes(parent)) if parent else None,
        "name": name,
        "service": service,
        "kind": kind,
        "start_time_unix_nano": start_ns,
        "end_time_unix_nano": start_ns + duration_ns,
        "duration_ns": duration_ns,
        "status": {"code": status_code, "message": status_message},
        "trace_state": trace_state,
        "flags": flags,
        "attributes": _loads(attributes),
        "resource": _loads(resource),
        "scope": {"name": scope_name, "version": scope_version, "attributes": _loads(scope_attributes) or {}},
        "events": _loads(events) or [],
        "links": _loads(links) or [],
        "dropped_attributes_count": dropped_attributes,
        "dropped_events_count": dropped_events,
        "dropped_links_count": dropped_links,
    }


def get_trace(organization_id: int, project_id: int, trace_id: bytes) -> list[dict[str, Any]]:
    """Every stored span of one trace, oldest first; empty when the trace is unknown."""
    with connection.cursor() as cursor:
        cursor.execute(_TRACE, [organization_id, project_id, trace_id])
        return [_span(row) for row in cursor.fetchall()]
