"""The compiled trace decoder (apps/ingest/fast_traces.pyx) returns exactly what the reference decoder returns.

Its contract: for any body, ``fast_traces.decode`` gives the reference's result or None (the reference then takes
the body). These tests hold it to that on generated requests, on corrupted and unusual encodings, and check that
it does take the common shape (None there would be a silent loss of the speed-up).
"""

from __future__ import annotations

import math
import time
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2

from apps.ingest import decode_protobuf, fast_traces
from apps.ingest.limits import AttributeLimits, limit_decoded
from apps.otlp.types import Decoded, DecodeError
from tests.ingest.test_decoders import RICH_ATTRS, _add_attrs, rich_trace_request

FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
NOW = time.time_ns()


def reference(body: bytes) -> Decoded | None:
    try:
        return decode_protobuf.decode_traces_reference(body)
    except DecodeError:
        return None


def agrees(body: bytes) -> Decoded | None:
    """Assert the contract on ``body``; returns the fast path's result."""
    expected = reference(body)
    fast = fast_traces.decode(body)
    if expected is None:
        assert fast is None, "the fast path accepted a body the reference refuses"
    elif fast is not None:
        assert fast == expected
    return fast


scalars = (
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**63 - 1)
    | st.floats()
    | st.text(max_size=300)
    | st.binary(max_size=20)
)
values = st.recursive(
    scalars,
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3),
    max_leaves=12,
)
ids16 = st.sampled_from([bytes(range(1, 17)), bytes(16), b"\x01" * 15, b""]) | st.binary(min_size=16, max_size=16)
ids8 = st.sampled_from([bytes(range(1, 9)), bytes(8), b"\x01" * 9, b""]) | st.binary(min_size=8, max_size=8)
times = st.sampled_from([NOW - 10**9, NOW, NOW + 10**15, 0, 2**64 - 1, 946_684_800 * 10**9 - 1]) | st.integers(
    0, 2**64 - 1
)


def _request_strategy(
    attribute_values: st.SearchStrategy[Any],
    ids16: Any = ids16,
    ids8: Any = ids8,
    times: Any = times,
    text: Any = st.text,
) -> st.SearchStrategy[Any]:
    attribute_lists = st.lists(
        st.tuples(st.sampled_from(["k", "http.route", "ü", ""]) | text(max_size=140), attribute_values), max_size=6
    )
    spans = st.fixed_dictionaries(
        {
            "trace_id": ids16,
            "span_id": ids8,
            "parent_span_id": st.sampled_from([b"", bytes(8), bytes(range(2, 10)), b"\x01"]),
            "name": text(max_size=200),
            "kind": st.integers(-(2**31), 2**31 - 1),
            "start": times,
            "end": times,
            "trace_state": text(max_size=10),
            "flags": st.integers(0, 2**32 - 1),
            "attributes": attribute_lists,
            "dropped": st.integers(0, 2**32 - 1),
            "status": st.none() | st.tuples(st.integers(-(2**31), 2**31 - 1), text(max_size=20)),
            "events": st.lists(st.tuples(times, text(max_size=10), attribute_lists), max_size=2),
            "links": st.lists(st.tuples(ids16, ids8, attribute_lists), max_size=2),
        }
    )
    return st.lists(
        st.tuples(
            attribute_lists,
            text(max_size=10),
            st.lists(st.tuples(text(max_size=10), attribute_lists, st.lists(spans, max_size=4)), max_size=2),
        ),
        max_size=2,
    ).map(build)


def build(resources: list[Any]) -> trace_service_pb2.ExportTraceServiceRequest:
    req = trace_service_pb2.ExportTraceServiceRequest()
    for resource_attrs, schema_url, scopes in resources:
        rs = req.resource_spans.add(schema_url=schema_url)
        _add_attrs(rs.resource.attributes, resource_attrs)
        for scope_name, scope_attrs, scope_spans in scopes:
            ss = rs.scope_spans.add()
            ss.scope.name = scope_name
            _add_attrs(ss.scope.attributes, scope_attrs)
            for s in scope_spans:
                span = ss.spans.add(
                    trace_id=s["trace_id"], span_id=s["span_id"], parent_span_id=s["parent_span_id"], name=s["name"],
                    kind=s["kind"], start_time_unix_nano=s["start"], end_time_unix_nano=s["end"],
                    trace_state=s["trace_state"], flags=s["flags"], dropped_attributes_count=s["dropped"],
                )  # fmt: skip
                _add_attrs(span.attributes, s["attributes"])
                if s["status"] is not None:
                    span.status.code, span.status.message = s["status"]
                for time_ns, name, attrs in s["events"]:
                    _add_attrs(span.events.add(time_unix_nano=time_ns, name=name).attributes, attrs)
                for trace_id, span_id, attrs in s["links"]:
                    _add_attrs(span.links.add(trace_id=trace_id, span_id=span_id).attributes, attrs)
    return req


requests = _request_strategy(values)
# scalar attributes only: what the limits hint covers (strings long enough to be truncated, NUL sometimes)
# with valid spans: the limits have work only in spans that are kept
_no_nul = st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00")
plain_requests = _request_strategy(
    st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.floats() | st.text(_no_nul, max_size=60),
    ids16=st.just(bytes(range(1, 17))),
    ids8=st.just(bytes(range(1, 9))),
    times=st.just(NOW - 1000),
    text=lambda max_size: st.text(_no_nul, max_size=max_size),
)


@FUZZ
@given(requests)
def test_generated_requests_decode_alike_and_take_the_fast_path(req: Any) -> None:
    body = req.SerializeToString()
    fast = agrees(body)
    if reference(body) is not None:
        assert fast is not None, "a well-formed request left the fast path"


@FUZZ
@given(requests, st.data())
def test_corrupted_requests_decode_alike_or_are_left_to_the_reference(req: Any, data: st.DataObject) -> None:
    body = bytearray(req.SerializeToString() or b"\x0a\x00")
    flips = data.draw(st.lists(st.tuples(st.integers(0, len(body) - 1), st.integers(0, 255)), max_size=6))
    for pos, byte in flips:
        body[pos] = byte
    agrees(bytes(body))
    agrees(bytes(body[: data.draw(st.integers(0, len(body)))]))


@FUZZ
@given(plain_requests, st.integers(0, 10), st.none() | st.integers(0, 20))
def test_the_limits_hint_never_skips_a_change(req: Any, count: int, value_length: int | None) -> None:
    """Limits applied with the fast path's hint give what they give without it (it may only skip no-ops)."""
    body = req.SerializeToString()
    expected = reference(body)
    fast = fast_traces.decode(body)
    if expected is None or fast is None:
        return
    assert expected.limits_hint is None
    limits = AttributeLimits(count=count, value_length=value_length)
    limit_decoded(expected, limits)
    limit_decoded(fast, limits)
    assert fast == expected


def _plain_request() -> trace_service_pb2.ExportTraceServiceRequest:
    """The rich request with scalar attributes only."""
    req = rich_trace_request()
    for rs in req.resource_spans:
        for ss in rs.scope_spans:
            for span in ss.spans:
                del span.attributes[:]
                _add_attrs(span.attributes, [("k", "v" * 300), ("n", 1), ("b", True), ("d", 1.5)])
                for holder in (*span.events, *span.links):
                    del holder.attributes[:]
    return req


def test_the_limits_hint_is_given_for_plain_requests_only() -> None:
    decoded = fast_traces.decode(_plain_request().SerializeToString())
    assert decoded is not None
    assert decoded.limits_hint == (300, 4)
    for value in ([1, 2], {"a": 1}, b"raw", "nul\x00inside"):
        req = _plain_request()
        _add_attrs(req.resource_spans[0].scope_spans[0].spans[0].attributes, [("x", value)])
        decoded = fast_traces.decode(req.SerializeToString())
        assert decoded is not None
        assert decoded.limits_hint is None, value
    req = _plain_request()
    req.resource_spans[0].scope_spans[0].spans[0].name = "name\x00with NUL"
    decoded = fast_traces.decode(req.SerializeToString())
    assert decoded is not None
    assert decoded.limits_hint is None


def _field(number: int, wire: int, payload: bytes) -> bytes:
    tag = bytes([number << 3 | wire]) if number < 16 else bytes([(number << 3 | wire) & 0x7F | 0x80, number >> 4])
    if wire == 2:
        return tag + _varint(len(payload)) + payload
    return tag + payload


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def _one_span(extra: bytes = b"", attributes: list[bytes] = ()) -> bytes:  # type: ignore[assignment]
    span = (
        _field(1, 2, bytes(range(1, 17)))
        + _field(2, 2, bytes(range(1, 9)))
        + _field(7, 1, (NOW - 1000).to_bytes(8, "little"))
        + _field(8, 1, NOW.to_bytes(8, "little"))
        + b"".join(_field(9, 2, kv) for kv in attributes)
        + extra
    )
    return _field(1, 2, _field(2, 2, _field(2, 2, span)))


KV = _field(1, 2, b"key") + _field(2, 2, _field(1, 2, b"value"))


@pytest.mark.parametrize(
    ("body", "taken"),
    [
        (_one_span(attributes=[KV]), True),
        (_one_span(b"\x50\x05", [KV]), True),  # dropped_attributes_count = 5
        (_one_span(_field(99, 2, b"junk") + _field(98, 0, b"\x01") + _field(97, 5, b"abcd")), True),  # unknown fields
        (_one_span(_field(15, 2, b"\x18\x02") + _field(15, 2, b"\x12\x01m")), False),  # status twice: merged
        (_one_span(_field(5, 0, b"\x01")), False),  # name with the wrong wire type
        (_one_span(_field(5, 2, b"\xff\xfe")), False),  # name not UTF-8: the reference refuses it
        (_one_span(_field(3, 3, b"")), False),  # a group
        (_one_span(attributes=[_field(1, 2, b"\xff") + _field(2, 2, b"")]), False),  # key not UTF-8
        (_one_span(attributes=[_field(2, 2, _field(1, 2, b"v")) + _field(1, 2, b"k")]), True),  # value first
        # two values in one AnyValue: the last wins
        (_one_span(attributes=[_field(1, 2, b"k") + _field(2, 2, _field(1, 2, b"v") + _field(3, 0, b"\x01"))]), True),
        (_one_span(attributes=[_field(1, 2, b"k") + _field(2, 2, _field(3, 0, b"\xff" * 9 + b"\x01"))]), True),
        (_one_span(attributes=[_field(1, 2, b"k") + _field(2, 2, _field(3, 0, b"\xff" * 9 + b"\x7f"))]), None),
        (_field(1, 2, _field(1, 2, _field(3, 2, b"x"))), False),  # Resource.entity_refs
        (b"", True),
        (b"\x0a", False),  # truncated
    ],
)
def test_unusual_encodings(body: bytes, taken: bool | None) -> None:
    fast = agrees(body)
    if taken is not None:
        assert (fast is not None) is taken


def test_the_rich_request_and_its_nan_and_infinities() -> None:
    req = rich_trace_request()
    span = req.resource_spans[0].scope_spans[0].spans[0]
    _add_attrs(span.attributes, [("nan", math.nan), ("-inf", -math.inf)])
    fast = agrees(req.SerializeToString())
    assert fast is not None
    assert fast.spans[0].attributes["nan"] == {"$double": "NaN"}
    assert dict(RICH_ATTRS)["s"] == "duplicate key: last wins" == fast.spans[0].attributes["s"]


def test_too_many_spans_are_left_to_the_reference(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(decode_protobuf, "MAX_ITEMS", 2)
    body = rich_trace_request().SerializeToString()
    assert fast_traces.decode(body) is None
    with pytest.raises(DecodeError, match="at most 2"):
        decode_protobuf.decode_traces(body)


def test_the_attribute_memo_grows_and_tells_attributes_apart() -> None:
    """Thousands of distinct attributes (the memo grows from 1,024 slots several times) among repeated ones, and
    pairs whose encodings differ in one byte or only in length: all decoded as the reference decodes them."""
    req = trace_service_pb2.ExportTraceServiceRequest()
    spans = req.resource_spans.add().scope_spans.add().spans
    for i in range(700):
        span = spans.add(trace_id=bytes(range(1, 17)), span_id=(i + 1).to_bytes(8, "big"), name="op",
                         start_time_unix_nano=NOW - 1000, end_time_unix_nano=NOW)  # fmt: skip
        _add_attrs(span.attributes, [
            ("http.request.method", "GET"), ("server.port", 8080), ("ok", True),
            ("id", f"v{i}"), ("id", f"v{i}x"), (f"key{i}", i), ("ratio", i / 7), ("long", "x" * (i % 40)),
        ])  # fmt: skip
    fast = agrees(req.SerializeToString())
    assert fast is not None
    assert [s.attributes["id"] for s in fast.spans[:3]] == ["v0x", "v1x", "v2x"]
    assert fast.spans[699].attributes["key699"] == 699
    assert fast.spans[39].attributes["long"] == "x" * 39


def test_the_memo_finds_attributes_that_differ_only_in_their_last_bytes() -> None:
    """Repeated attributes decode to one shared value: the memo found them. Ids that differ in their last
    characters only are the common case, and a hash that did not carry those bits into the table's index
    crowded them past the probe bound, so most repeats were decoded anew."""
    req = trace_service_pb2.ExportTraceServiceRequest()
    spans = req.resource_spans.add().scope_spans.add().spans
    for i in range(6000):
        span = spans.add(trace_id=bytes(range(1, 17)), span_id=(i + 1).to_bytes(8, "big"), name="op",
                         start_time_unix_nano=NOW - 1000, end_time_unix_nano=NOW)  # fmt: skip
        # 32 bytes on the wire: the digits that differ are the high bytes of the last eight-byte word
        _add_attrs(span.attributes, [("enduser.id", f"user-{i % 3000:011d}")])
    fast = fast_traces.decode(req.SerializeToString())
    assert fast is not None
    shared = sum(
        a.attributes["enduser.id"] is b.attributes["enduser.id"]
        for a, b in zip(fast.spans[:3000], fast.spans[3000:], strict=True)
    )
    assert shared >= 2990  # a few may fall past the probe bound (it bounds the work of crafted collisions)


def test_equal_scopes_without_attributes_are_one_object_and_scopes_with_attributes_their_own() -> None:
    req = trace_service_pb2.ExportTraceServiceRequest()
    for service in ("a", "b"):
        rs = req.resource_spans.add()
        _add_attrs(rs.resource.attributes, [("service.name", service)])
        for name, attributes in (("lib", []), ("lib", [("k", "v")]), ("other", [])):
            ss = rs.scope_spans.add()
            ss.scope.name, ss.scope.version = name, "1.0"
            _add_attrs(ss.scope.attributes, attributes)
            span = ss.spans.add(trace_id=bytes(range(1, 17)), span_id=bytes(range(1, 9)), name="op")
            span.start_time_unix_nano = span.end_time_unix_nano = NOW
    fast = agrees(req.SerializeToString())
    assert fast is not None
    scopes = [span.scope for span in fast.spans]
    assert [(s.name, s.attributes) for s in scopes] == [("lib", {}), ("lib", {"k": "v"}), ("other", {})] * 2
    assert scopes[0] is scopes[3]  # shared: nothing changes a scope's empty map
    assert scopes[2] is scopes[5]
    assert scopes[1] is not scopes[4]
    assert scopes[1].attributes is not scopes[4].attributes
