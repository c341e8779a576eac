"""Property tests: whatever the body, the decoders either decode it or raise DecodeError — nothing else.

Also: the fast raw-KeyValue path of the protobuf decoder agrees with the message path on random values,
and random OTLP requests decode to equal results through protobuf and through OTLP/JSON.
"""

from __future__ import annotations

import json
import math
import time
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2
from opentelemetry.proto.common.v1 import common_pb2

from apps.ingest import decode_json, decode_protobuf
from apps.otlp.types import Decoded, DecodeError
from tests.ingest.test_decoders import _add_attrs, _set_any, json_body, rich_logs_request, rich_metrics_request
from tests.ingest.test_decoders import rich_trace_request as _rich_trace_request

FUZZ = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
NOW = time.time_ns()

PROTOBUF_DECODERS = (decode_protobuf.decode_traces, decode_protobuf.decode_logs, decode_protobuf.decode_metrics)
JSON_DECODERS = (decode_json.decode_traces, decode_json.decode_logs, decode_json.decode_metrics)
VALID_BODIES = [
    _rich_trace_request().SerializeToString(),
    rich_logs_request().SerializeToString(),
    rich_metrics_request().SerializeToString(),
]


def decodes_or_raises_decode_error(decoder: Any, body: Any) -> Decoded | None:
    try:
        result = decoder(body)
    except DecodeError:
        return None
    assert isinstance(result, Decoded)
    return result


@FUZZ
@given(st.binary(max_size=2048))
def test_random_bytes(body: bytes) -> None:
    for decoder in PROTOBUF_DECODERS + JSON_DECODERS:
        decodes_or_raises_decode_error(decoder, body)


@FUZZ
@given(st.integers(0, 2), st.data())
def test_truncated_and_corrupted_protobuf(which: int, data: st.DataObject) -> None:
    body = bytearray(VALID_BODIES[which])
    cut = data.draw(st.integers(0, len(body)))
    flips = data.draw(st.lists(st.tuples(st.integers(0, len(body) - 1), st.integers(0, 255)), max_size=8))
    for pos, byte in flips:
        body[pos] = byte
    for decoder in PROTOBUF_DECODERS:
        decodes_or_raises_decode_error(decoder, bytes(body[:cut]))
        decodes_or_raises_decode_error(decoder, bytes(body))


json_scalars = st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats() | st.text(max_size=20)
json_values = st.recursive(
    json_scalars,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4),
    max_leaves=30,
)
OTLP_KEYS = [
    "resourceSpans",
    "scopeSpans",
    "spans",
    "traceId",
    "spanId",
    "attributes",
    "key",
    "value",
    "stringValue",
    "intValue",
    "arrayValue",
    "kvlistValue",
    "values",
    "bytesValue",
    "doubleValue",
    "resourceLogs",
    "scopeLogs",
    "logRecords",
    "body",
    "resourceMetrics",
    "scopeMetrics",
    "metrics",
    "name",
    "gauge",
    "sum",
    "dataPoints",
    "asInt",
    "startTimeUnixNano",
    "endTimeUnixNano",
    "kind",
    "status",
    "code",
    "events",
    "links",
    "exponentialHistogram",
    "positive",
    "bucketCounts",
]
otlp_shaped = st.recursive(
    json_scalars,
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.sampled_from(OTLP_KEYS), children, max_size=4),
    max_leaves=40,
)


@FUZZ
@given(json_values | otlp_shaped)
def test_random_json(value: Any) -> None:
    body = json.dumps(value).encode()
    for decoder in JSON_DECODERS:
        decodes_or_raises_decode_error(decoder, body)


ids = st.one_of(
    st.text(alphabet="0123456789abcdefABCDEF", max_size=40),
    st.text(max_size=34),
    st.sampled_from(["", "0" * 32, "0" * 16, "5b8efff798038103d269b633813fc60c", "eee19b7ec3c1b174"]),
)
times = st.one_of(
    st.integers(-(2**64), 2**65),
    st.just(NOW),
    st.integers(NOW - 10**12, NOW + 3 * 86_400 * 10**9),
).map(lambda t: t if t % 2 else str(t))


@FUZZ
@given(
    st.lists(st.fixed_dictionaries({}, optional={"traceId": ids, "spanId": ids, "parentSpanId": ids}), max_size=4),
    times,
    times,
)
def test_invalid_ids_and_absurd_timestamps_in_json(spans: list[dict[str, Any]], start: Any, end: Any) -> None:
    for span in spans:
        span["startTimeUnixNano"] = start
        span["endTimeUnixNano"] = end
    body = json.dumps({"resourceSpans": [{"scopeSpans": [{"spans": spans}]}]})
    result = decodes_or_raises_decode_error(decode_json.decode_traces, body)
    assert result is not None
    assert len(result.spans) + result.rejected == len(spans)
    logs = [{"traceId": s.get("traceId", ""), "spanId": s.get("spanId", ""), "timeUnixNano": start} for s in spans]
    result = decodes_or_raises_decode_error(
        decode_json.decode_logs, json.dumps({"resourceLogs": [{"scopeLogs": [{"logRecords": logs}]}]})
    )
    assert result is not None
    assert len(result.logs) + result.rejected == len(logs)


@FUZZ
@given(
    st.lists(
        st.tuples(st.binary(max_size=18), st.binary(max_size=10), st.binary(max_size=10)),
        min_size=1,
        max_size=4,
    ),
    st.integers(0, 2**64 - 1),
    st.integers(0, 2**64 - 1),
)
def test_invalid_ids_and_absurd_timestamps_agree(
    triples: list[tuple[bytes, bytes, bytes]], start: int, end: int
) -> None:
    req = trace_service_pb2.ExportTraceServiceRequest()
    ss = req.resource_spans.add().scope_spans.add()
    for trace_id, span_id, parent in triples:
        ss.spans.add(
            trace_id=trace_id,
            span_id=span_id,
            parent_span_id=parent,
            start_time_unix_nano=start,
            end_time_unix_nano=end,
        )
    from_pb = decode_protobuf.decode_traces(req.SerializeToString())
    assert len(from_pb.spans) + from_pb.rejected == len(triples)
    from_json = decode_json.decode_traces(json_body(req))
    assert (from_json.spans, from_json.rejected) == (from_pb.spans, from_pb.rejected)


any_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**63 - 1)
    | st.floats(allow_nan=False)
    | st.text(max_size=200)
    | st.binary(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=20,
)


def _reference_attributes(kvs: Any) -> dict[str, Any]:
    return {kv.key: decode_protobuf.any_value(kv.value, 1, "x") for kv in kvs}


@FUZZ
@given(st.lists(st.tuples(st.text(max_size=150), any_values), max_size=12))
def test_fast_attribute_path_matches_the_message_path(attrs: list[tuple[str, Any]]) -> None:
    holder = common_pb2.KeyValueList()
    _add_attrs(holder.values, attrs)
    raws = [kv.SerializeToString() for kv in holder.values]
    cache: dict[bytes, Any] = {}
    fast = decode_protobuf.attributes(raws, cache, "x")
    assert fast == _reference_attributes(holder.values)
    assert decode_protobuf.attributes(raws, cache, "x") == fast  # second pass: from the memo


@FUZZ
@given(st.lists(st.tuples(st.text(max_size=20), any_values), max_size=8), any_values)
def test_random_attributes_agree_between_protobuf_and_json(attrs: list[tuple[str, Any]], body: Any) -> None:
    req = trace_service_pb2.ExportTraceServiceRequest()
    span = (
        req.resource_spans.add()
        .scope_spans.add()
        .spans.add(trace_id=b"\x01" * 16, span_id=b"\x02" * 8, start_time_unix_nano=NOW - 5, end_time_unix_nano=NOW)
    )
    _add_attrs(span.attributes, attrs)
    from_pb = decode_protobuf.decode_traces(req.SerializeToString())
    assert from_pb == decode_json.decode_traces(json_body(req))
    value = common_pb2.AnyValue()
    _set_any(value, body)
    converted = decode_protobuf.any_value(value, 1, "x")
    assert converted == decode_json.any_value(json.loads(json.dumps(_any_json(value))), 1, "x")


def _any_json(value: common_pb2.AnyValue) -> dict[str, Any]:
    from tests.ingest.test_decoders import to_otlp_json

    return to_otlp_json(value)


@FUZZ
@given(st.integers(1, 80))
def test_deep_nesting(depth: int) -> None:
    value: Any = {"stringValue": "leaf"}
    for i in range(depth - 1):
        value = (
            {"arrayValue": {"values": [value]}}
            if i % 2
            else {"kvlistValue": {"values": [{"key": "k", "value": value}]}}
        )
    span = {
        "traceId": "01" * 16,
        "spanId": "02" * 8,
        "startTimeUnixNano": NOW - 5,
        "endTimeUnixNano": NOW,
        "attributes": [{"key": "deep", "value": value}],
    }
    body = json.dumps({"resourceSpans": [{"scopeSpans": [{"spans": [span]}]}]})
    result = decodes_or_raises_decode_error(decode_json.decode_traces, body)
    assert (result is not None) == (depth <= 32)
    any_value = common_pb2.AnyValue()
    # the same nesting in protobuf
    current = any_value
    for i in range(depth - 1):
        if i % 2:
            current = current.array_value.values.add()
        else:
            kv = current.kvlist_value.values.add()
            kv.key = "k"
            current = kv.value
    current.string_value = "leaf"
    req = trace_service_pb2.ExportTraceServiceRequest()
    pspan = (
        req.resource_spans.add()
        .scope_spans.add()
        .spans.add(trace_id=b"\x01" * 16, span_id=b"\x02" * 8, start_time_unix_nano=NOW - 5, end_time_unix_nano=NOW)
    )
    kv = pspan.attributes.add()
    kv.key = "deep"
    kv.value.CopyFrom(any_value)
    result = decodes_or_raises_decode_error(decode_protobuf.decode_traces, req.SerializeToString())
    assert (result is not None) == (depth <= 32)


def test_very_deep_json_and_protobuf_raise_decode_error() -> None:
    deep_json = '{"resourceSpans": [' * 1 + "[" * 100_000 + "]" * 100_000 + "]}"
    for decoder in JSON_DECODERS:
        decodes_or_raises_decode_error(decoder, deep_json)
    deep_pb = b"\x0a\x02\x0a\x00"
    for _ in range(200):
        deep_pb = b"\x0a" + bytes([len(deep_pb)]) + deep_pb if len(deep_pb) < 128 else deep_pb
    for decoder in PROTOBUF_DECODERS:
        decodes_or_raises_decode_error(decoder, deep_pb)


@FUZZ
@given(st.integers(0, 5000), st.integers(1, 3))
def test_huge_attribute_counts(count: int, distinct: int) -> None:
    req = trace_service_pb2.ExportTraceServiceRequest()
    span = (
        req.resource_spans.add()
        .scope_spans.add()
        .spans.add(trace_id=b"\x01" * 16, span_id=b"\x02" * 8, start_time_unix_nano=NOW - 5, end_time_unix_nano=NOW)
    )
    for i in range(count):
        kv = span.attributes.add()
        kv.key = f"k{i % (count // distinct + 1)}"
        kv.value.double_value = i * 0.5
    from_pb = decode_protobuf.decode_traces(req.SerializeToString())
    assert from_pb == decode_json.decode_traces(json_body(req))
    attrs = from_pb.spans[0].attributes
    assert len(attrs) == min(count, count // distinct + 1)
    assert all(isinstance(v, float) and not math.isnan(v) for v in attrs.values())
