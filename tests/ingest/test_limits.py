"""Attribute limits as the OTel SDK defines them: excess dropped and counted, long strings truncated."""

from __future__ import annotations

from apps.ingest.limits import AttributeLimits, limit_decoded
from apps.otlp.types import Decoded, Resource, Scope, Span, SpanEvent


def _span(attributes: dict[str, object]) -> Span:
    resource = Resource({"service.name": "api", **{f"r{i}": i for i in range(5)}})
    return Span(
        resource=resource,
        scope=Scope("lib", "1", {"s\x00": "v"}),
        trace_id=b"\x01" * 16,
        span_id=b"\x02" * 8,
        parent_span_id=None,
        name="GET\x00/",
        kind=2,
        start_ns=1,
        end_ns=2,
        attributes=attributes,
        events=[SpanEvent(1, "e", {f"e{i}": i for i in range(6)})],
        dropped_attributes_count=2,
    )


def test_excess_attributes_are_dropped_and_counted_not_rejected() -> None:
    decoded = Decoded(spans=[_span({f"a{i}": i for i in range(10)})])
    limit_decoded(decoded, AttributeLimits(count=4, value_length=None))
    span = decoded.spans[0]
    assert list(span.attributes) == ["a0", "a1", "a2", "a3"]
    assert span.dropped_attributes_count == 2 + 6
    assert len(span.events[0].attributes) == 4
    assert span.events[0].dropped_attributes_count == 2
    assert len(span.resource.attributes) == 4
    assert span.resource.dropped_attributes_count == 2


def test_long_strings_are_truncated_also_inside_arrays_and_kvlists() -> None:
    long = "x" * 50
    decoded = Decoded(spans=[_span({"s": long, "arr": [long, 1], "kv": {"inner": long}, "n": 12345678901})])
    limit_decoded(decoded, AttributeLimits(count=128, value_length=10))
    attributes = decoded.spans[0].attributes
    assert attributes == {"s": "x" * 10, "arr": ["x" * 10, 1], "kv": {"inner": "x" * 10}, "n": 12345678901}
    assert decoded.spans[0].dropped_attributes_count == 2  # truncation is not dropping


def test_nul_characters_become_replacement_characters_everywhere() -> None:
    decoded = Decoded(spans=[_span({"k\x00": "v\x00", "ok": "fine"})])
    limit_decoded(decoded, AttributeLimits())
    span = decoded.spans[0]
    assert span.name == "GET\ufffd/"
    assert span.attributes == {"k\ufffd": "v\ufffd", "ok": "fine"}
    assert span.scope.attributes == {"s\ufffd": "v"}


def test_clean_maps_are_passed_through_untouched() -> None:
    attributes = {"a": "b", "c": 1}
    decoded = Decoded(spans=[_span(attributes)])
    limit_decoded(decoded, AttributeLimits())
    assert decoded.spans[0].attributes is attributes  # no copy when nothing changes
