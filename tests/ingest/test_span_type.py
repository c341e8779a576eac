"""The decoded span is a compiled type (apps/otlp/span.pyx); to Python code it is the dataclass it replaced:
the same fields and defaults, equality by value, unhashable, a repr naming every field, and copies and pickles
that are equal to it."""

from __future__ import annotations

import copy
import pickle

import pytest

from apps.otlp.types import Resource, Scope, Span, SpanEvent, SpanLink, StatusCode


def _span(**changes: object) -> Span:
    fields: dict[str, object] = {
        "resource": Resource({"service.name": "api"}), "scope": Scope("lib", "1.0"), "trace_id": bytes(range(16)),
        "span_id": bytes(range(8)), "parent_span_id": None, "name": "GET /", "kind": 2, "start_ns": 10,
        "end_ns": 20, "attributes": {"http.route": "/"},
    }  # fmt: skip
    fields.update(changes)
    return Span(**fields)  # type: ignore[arg-type]


def test_defaults_are_the_dataclasss_and_each_span_has_its_own_lists() -> None:
    first, second = _span(), _span()
    assert (first.status_code, first.status_message, first.trace_state, first.flags) == (StatusCode.UNSET, "", "", 0)
    assert (first.dropped_attributes_count, first.dropped_events_count, first.dropped_links_count) == (0, 0, 0)
    assert first.events == []
    assert first.links == []
    first.events.append(SpanEvent(1, "e", {}))
    assert second.events == []  # not a shared default


def test_equality_is_by_value_and_spans_are_unhashable() -> None:
    assert _span() == _span()
    assert _span() != _span(name="other")
    assert _span() != _span(links=[SpanLink(bytes(16), bytes(8), "", {})])
    assert _span() != object()
    with pytest.raises(TypeError):
        hash(_span())


def test_fields_are_writable_and_copies_and_pickles_are_equal() -> None:
    span = _span(events=[SpanEvent(5, "exception", {"exception.type": "E"})])
    span.attributes = {"changed": True}
    assert span.attributes == {"changed": True}
    assert copy.copy(span) == span
    assert copy.deepcopy(span) == span
    assert pickle.loads(pickle.dumps(span)) == span  # noqa: S301 (our own bytes)


def test_repr_names_every_field_in_order() -> None:
    span = _span()
    fields = ["resource", "scope", "trace_id", "span_id", "parent_span_id", "name", "kind", "start_ns", "end_ns",
              "attributes", "status_code", "status_message", "trace_state", "flags", "events", "links",
              "dropped_attributes_count", "dropped_events_count", "dropped_links_count"]  # fmt: skip
    assert repr(span) == "Span(" + ", ".join(f"{name}={getattr(span, name)!r}" for name in fields) + ")"
