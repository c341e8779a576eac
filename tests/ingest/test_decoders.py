"""The OTLP decoders (apps.ingest.decode_protobuf / decode_json): pure functions, no database.

1. Requests encoded by the real OpenTelemetry Python SDK decode to what the SDK recorded.
2. The same rich request as protobuf and as OTLP/JSON decodes to equal Decoded objects.
3. Hand-written fixtures in the style of the opentelemetry-proto examples decode to exact values.
4. Validation: bad items are rejected one by one, bad requests raise DecodeError.
"""

from __future__ import annotations

import base64
import json
import math
import time
from pathlib import Path
from typing import Any

import pytest
from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message
from opentelemetry._logs import SeverityNumber
from opentelemetry.exporter.otlp.proto.common._internal._log_encoder import encode_logs
from opentelemetry.exporter.otlp.proto.common._internal.metrics_encoder import encode_metrics
from opentelemetry.exporter.otlp.proto.common._internal.trace_encoder import encode_spans
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter, SimpleLogRecordProcessor
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics._internal.exemplar import AlwaysOnExemplarFilter
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.metrics.view import ExponentialBucketHistogramAggregation, View
from opentelemetry.sdk.resources import Resource as SdkResource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import Link, SpanKind, Status, StatusCode

from apps.ingest import decode_json, decode_protobuf
from apps.otlp.types import DecodeError, MetricKind

FIXTURES = Path(__file__).parent / "fixtures"
NOW = time.time_ns()

# --- a small protobuf → OTLP/JSON converter (our own; never protobuf's json_format) -----------------

_HEX_FIELDS = {"trace_id", "span_id", "parent_span_id"}
_INT64 = {
    FieldDescriptor.TYPE_INT64,
    FieldDescriptor.TYPE_UINT64,
    FieldDescriptor.TYPE_FIXED64,
    FieldDescriptor.TYPE_SFIXED64,
    FieldDescriptor.TYPE_SINT64,
}


def _json_scalar(fd: FieldDescriptor, value: Any) -> Any:
    if fd.type == FieldDescriptor.TYPE_BYTES:
        return value.hex() if fd.name in _HEX_FIELDS else base64.b64encode(value).decode()
    if fd.type in _INT64:
        return str(value)
    if fd.type in (FieldDescriptor.TYPE_DOUBLE, FieldDescriptor.TYPE_FLOAT) and not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    return value


def to_otlp_json(msg: Message, snake: bool = False) -> dict[str, Any]:
    """OTLP/JSON for a message: camelCase names (or snake_case), hex ids, 64-bit ints as strings, enums as ints."""
    out: dict[str, Any] = {}
    for fd, value in msg.ListFields():
        name = fd.name if snake else fd.json_name
        if fd.type == FieldDescriptor.TYPE_MESSAGE:
            if fd.is_repeated:
                out[name] = [to_otlp_json(v, snake) for v in value]
            else:
                out[name] = to_otlp_json(value, snake)
        elif fd.is_repeated:
            out[name] = [_json_scalar(fd, v) for v in value]
        else:
            out[name] = _json_scalar(fd, value)
    return out


def json_body(msg: Message, snake: bool = False) -> bytes:
    return json.dumps(to_otlp_json(msg, snake)).encode()


# --- 1. the real SDK's encoder ---------------------------------------------------------------------


def _sdk_spans() -> list[Any]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider(resource=SdkResource.create({"service.name": "shop", "deployment.environment": "test"}))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("tests.ingest", "9.9.9", schema_url="https://opentelemetry.io/schemas/1.21.0")
    with tracer.start_as_current_span("parent", kind=SpanKind.SERVER) as parent:
        parent.set_attributes({"http.method": "GET", "http.status_code": 500, "ratio": 0.5, "ok": False})
        parent.set_attribute("tags", ["a", "b"])
        parent.set_attribute("codes", [1, 2, 3])
        parent.add_event("exception", {"exception.message": "boom", "attempt": 2})
        parent.set_status(Status(StatusCode.ERROR, "it failed"))
        with tracer.start_as_current_span(
            "child", kind=SpanKind.CLIENT, links=[Link(parent.get_span_context(), {"link.why": "retry"})]
        ) as child:
            child.set_attribute("db.system", "postgresql")
    provider.shutdown()
    return list(exporter.get_finished_spans())


def test_traces_from_the_sdk_encoder_decode_field_by_field() -> None:
    sdk_spans = _sdk_spans()
    request = encode_spans(sdk_spans)
    decoded = decode_protobuf.decode_traces(request.SerializeToString())
    assert decoded.rejected == 0
    assert decoded == decode_protobuf.decode_traces_message(request)
    assert decoded == decode_json.decode_traces(json_body(request))
    assert len(decoded.spans) == len(sdk_spans) == 2
    by_name = {s.name: s for s in decoded.spans}
    encoded_flags = {s.name: s.flags for s in request.resource_spans[0].scope_spans[0].spans}
    assert encoded_flags["parent"] == 0x100  # SPAN_FLAGS_CONTEXT_HAS_IS_REMOTE_MASK, not remote
    for sdk in sdk_spans:
        span = by_name[sdk.name]
        ctx = sdk.get_span_context()
        assert span.trace_id == ctx.trace_id.to_bytes(16, "big")
        assert span.span_id == ctx.span_id.to_bytes(8, "big")
        assert span.parent_span_id == (sdk.parent.span_id.to_bytes(8, "big") if sdk.parent else None)
        assert span.kind == sdk.kind.value + 1  # the SDK's enum is 0-based, OTLP's SPAN_KIND_INTERNAL is 1
        assert (span.start_ns, span.end_ns) == (sdk.start_time, sdk.end_time)
        assert span.attributes == {k: list(v) if isinstance(v, tuple) else v for k, v in sdk.attributes.items()}
        assert span.status_code == sdk.status.status_code.value
        assert span.status_message == (sdk.status.description or "")
        assert span.flags == encoded_flags[sdk.name]  # the encoder sends the parent-is-remote bits
        assert span.resource.attributes == dict(sdk.resource.attributes)
        assert span.resource.service_name == "shop"
        assert span.scope.name == "tests.ingest"
        assert span.scope.version == "9.9.9"
        assert span.scope.schema_url == "https://opentelemetry.io/schemas/1.21.0"
        assert [(e.name, e.time_ns, e.attributes) for e in span.events] == [
            (e.name, e.timestamp, dict(e.attributes)) for e in sdk.events
        ]
        assert [(lk.trace_id, lk.span_id, lk.attributes) for lk in span.links] == [
            (
                lk.context.trace_id.to_bytes(16, "big"),
                lk.context.span_id.to_bytes(8, "big"),
                dict(lk.attributes),
            )
            for lk in sdk.links
        ]
    assert by_name["parent"].attributes["tags"] == ["a", "b"]
    assert by_name["parent"].status_code == 2
    assert by_name["child"].parent_span_id == by_name["parent"].span_id


def test_logs_from_the_sdk_encoder_decode_field_by_field() -> None:
    exporter = InMemoryLogRecordExporter()
    provider = LoggerProvider(resource=SdkResource.create({"service.name": "shop"}))
    provider.add_log_record_processor(SimpleLogRecordProcessor(exporter))
    logger = provider.get_logger("tests.ingest.logs", "1.0")
    tracer_provider = TracerProvider()
    with tracer_provider.get_tracer("t").start_as_current_span("s") as span:
        logger.emit(
            severity_number=SeverityNumber.WARN,
            severity_text="WARN",
            body={"msg": "disk almost full", "free": [1, 2]},
            attributes={"disk": "/dev/sda", "pct": 91.5},
            event_name="disk.warning",
            timestamp=NOW - 1000,
        )
        span_ctx = span.get_span_context()
    logger.emit(severity_number=SeverityNumber.INFO, body="plain text, no span", timestamp=NOW - 500)
    logger.emit(body=b"\x00\x01 raw", timestamp=NOW - 400)
    provider.shutdown()
    records = list(exporter.get_finished_logs())
    request = encode_logs(records)
    decoded = decode_protobuf.decode_logs(request.SerializeToString())
    assert decoded.rejected == 0
    assert decoded == decode_protobuf.decode_logs_message(request)
    assert decoded == decode_json.decode_logs(json_body(request))
    logs = sorted(decoded.logs, key=lambda r: r.time_ns)
    assert len(logs) == 3
    first, second, third = logs
    assert first.time_ns == NOW - 1000
    assert first.observed_time_ns > 0
    assert (first.severity_number, first.severity_text) == (SeverityNumber.WARN.value, "WARN")
    assert first.body == {"msg": "disk almost full", "free": [1, 2]}
    assert first.attributes == {"disk": "/dev/sda", "pct": 91.5}
    assert first.event_name == "disk.warning"
    assert first.trace_id == span_ctx.trace_id.to_bytes(16, "big")
    assert first.span_id == span_ctx.span_id.to_bytes(8, "big")
    assert first.flags == int(span_ctx.trace_flags)
    assert first.resource.service_name == "shop"
    assert (first.scope.name, first.scope.version) == ("tests.ingest.logs", "1.0")
    assert (second.body, second.trace_id, second.span_id) == ("plain text, no span", None, None)
    assert second.severity_number == SeverityNumber.INFO.value
    assert third.body == {"$bytes": base64.b64encode(b"\x00\x01 raw").decode()}


def _sdk_metrics() -> Any:
    reader = InMemoryMetricReader()
    provider = MeterProvider(
        metric_readers=[reader],
        resource=SdkResource.create({"service.name": "shop"}),
        views=[View(instrument_name="latency.exp", aggregation=ExponentialBucketHistogramAggregation(max_size=20))],
        exemplar_filter=AlwaysOnExemplarFilter(),
    )
    meter = provider.get_meter("tests.ingest.metrics", "2.0")
    tracer = TracerProvider().get_tracer("t")
    counter = meter.create_counter("requests", unit="1", description="requests served")
    updown = meter.create_up_down_counter("in.flight")
    histogram = meter.create_histogram("latency", unit="ms", explicit_bucket_boundaries_advisory=[10.0, 100.0])
    exp_histogram = meter.create_histogram("latency.exp", unit="ms")
    meter.create_observable_gauge("temperature", callbacks=[lambda _options: [_observation(21.5)]])
    with tracer.start_as_current_span("work") as span:
        counter.add(3, {"route": "/a"})
        counter.add(2, {"route": "/a"})
        updown.add(-4)
        for v in (5.0, 50.0, 500.0):
            histogram.record(v, {"route": "/a"})
        for v in (0.0, 1.0, 3.0, 7.5, -2.0):  # the SDK drops the negative value (histograms take v >= 0)
            exp_histogram.record(v)
        span_ctx = span.get_span_context()
    data = reader.get_metrics_data()
    provider.shutdown()
    return data, span_ctx


def _observation(value: float) -> Any:
    from opentelemetry.metrics import Observation

    return Observation(value, {"room": "lab"})


def test_metrics_from_the_sdk_encoder_decode_field_by_field() -> None:
    data, span_ctx = _sdk_metrics()
    request = encode_metrics(data)
    decoded = decode_protobuf.decode_metrics(request.SerializeToString())
    assert decoded.rejected == 0
    assert decoded == decode_protobuf.decode_metrics_message(request)
    assert decoded == decode_json.decode_metrics(json_body(request))
    sdk_points = {}
    for rm in data.resource_metrics:
        for sm in rm.scope_metrics:
            for metric in sm.metrics:
                for dp in metric.data.data_points:
                    sdk_points[metric.name] = (metric, dp)
    points = {p.name: p for p in decoded.metrics}
    assert set(points) == {"requests", "in.flight", "latency", "latency.exp", "temperature"}
    for name, point in points.items():
        metric, dp = sdk_points[name]
        assert (point.description, point.unit) == (metric.description or "", metric.unit or "")
        assert point.attributes == dict(dp.attributes or {})
        assert point.time_ns == dp.time_unix_nano
        assert point.start_ns == (getattr(dp, "start_time_unix_nano", 0) or 0)
        assert point.resource.service_name == "shop"
        assert (point.scope.name, point.scope.version) == ("tests.ingest.metrics", "2.0")

    requests = points["requests"]
    assert requests.kind == MetricKind.SUM
    assert (requests.value, requests.monotonic, requests.temporality) == (5, True, 2)
    assert isinstance(requests.value, int)
    assert len(requests.exemplars) >= 1
    exemplar = requests.exemplars[-1]
    assert exemplar.trace_id == span_ctx.trace_id.to_bytes(16, "big")
    assert exemplar.span_id == span_ctx.span_id.to_bytes(8, "big")
    assert exemplar.value in (2, 3)
    assert exemplar.time_ns > 0

    assert (points["in.flight"].kind, points["in.flight"].value, points["in.flight"].monotonic) == (
        MetricKind.SUM,
        -4,
        False,
    )
    temperature = points["temperature"]
    assert (temperature.kind, temperature.value, temperature.attributes) == (MetricKind.GAUGE, 21.5, {"room": "lab"})
    assert isinstance(temperature.value, float)

    latency = points["latency"]
    _, sdk_latency = sdk_points["latency"]
    assert latency.kind == MetricKind.HISTOGRAM
    assert (latency.count, latency.sum, latency.min, latency.max) == (3, 555.0, 5.0, 500.0)
    assert latency.bucket_counts == list(sdk_latency.bucket_counts) == [1, 1, 1]
    assert latency.explicit_bounds == [10.0, 100.0]
    assert latency.temporality == 2
    assert len(latency.exemplars) == 3

    exp = points["latency.exp"]
    _, sdk_exp = sdk_points["latency.exp"]
    assert exp.kind == MetricKind.EXPONENTIAL_HISTOGRAM
    assert (exp.count, exp.sum, exp.min, exp.max) == (4, 11.5, 0.0, 7.5)
    assert (exp.scale, exp.zero_count) == (sdk_exp.scale, sdk_exp.zero_count) == (sdk_exp.scale, 1)
    assert (exp.positive_offset, exp.positive_counts) == (sdk_exp.positive.offset, list(sdk_exp.positive.bucket_counts))
    assert (exp.negative_offset, exp.negative_counts) == (sdk_exp.negative.offset, list(sdk_exp.negative.bucket_counts))
    assert sum(exp.positive_counts) == 3
    assert exp.temporality == 2


# --- 2. protobuf ↔ JSON equivalence on a rich request ------------------------------------------------


def _set_any(v: Any, value: Any) -> None:
    if isinstance(value, bool):
        v.bool_value = value
    elif isinstance(value, int):
        v.int_value = value
    elif isinstance(value, float):
        v.double_value = value
    elif isinstance(value, str):
        v.string_value = value
    elif isinstance(value, bytes):
        v.bytes_value = value
    elif isinstance(value, list):
        v.array_value.SetInParent()
        for item in value:
            _set_any(v.array_value.values.add(), item)
    elif isinstance(value, dict):
        v.kvlist_value.SetInParent()
        for key, item in value.items():
            kv = v.kvlist_value.values.add()
            kv.key = key
            _set_any(kv.value, item)


def _add_attrs(repeated: Any, attrs: list[tuple[str, Any]]) -> None:
    for key, value in attrs:
        kv = repeated.add()
        kv.key = key
        if value is not None:
            _set_any(kv.value, value)


RICH_ATTRS: list[tuple[str, Any]] = [
    ("s", "text ü"),
    ("long", "x" * 300),
    ("i", -(2**63)),
    ("big", 2**63 - 1),
    ("small", 7),
    ("d", -1.25e-300),
    ("inf", math.inf),
    ("b", True),
    ("f", False),
    ("raw", b"\x00\xffbytes"),
    ("arr", [1, "two", 3.0, [True, {"k": "v"}], b"\x01"]),
    ("kv", {"a": {"b": [None, 1]}, "c": ""}),
    ("empty", None),
    ("s", "duplicate key: last wins"),
]


def rich_trace_request() -> trace_service_pb2.ExportTraceServiceRequest:
    req = trace_service_pb2.ExportTraceServiceRequest()
    for r in range(2):
        rs = req.resource_spans.add()
        rs.schema_url = f"https://schema/{r}"
        _add_attrs(rs.resource.attributes, [("service.name", f"svc{r}"), ("n", r)])
        rs.resource.dropped_attributes_count = r
        for s_index in range(2):
            ss = rs.scope_spans.add()
            ss.scope.name = f"scope{s_index}"
            ss.scope.version = "1"
            ss.schema_url = "https://scope/schema"
            _add_attrs(ss.scope.attributes, [("scope.attr", s_index)])
            ss.scope.dropped_attributes_count = 2
            for i in range(3):
                span = ss.spans.add()
                span.trace_id = bytes([r + 1, s_index + 1, i + 1]) + bytes(range(13))
                span.span_id = bytes([9, i + 1]) + bytes(6)
                if i:
                    span.parent_span_id = bytes([9, i]) + bytes(6)
                span.trace_state = "a=1"
                span.flags = 0x301
                span.name = f"span {i}"
                span.kind = i + 1
                span.start_time_unix_nano = NOW - 10_000 + i
                span.end_time_unix_nano = NOW - 5_000
                _add_attrs(span.attributes, RICH_ATTRS)
                span.dropped_attributes_count = 1
                span.dropped_events_count = 2
                span.dropped_links_count = 3
                span.status.code = i
                span.status.message = "msg" if i else ""
                event = span.events.add()
                event.time_unix_nano = NOW - 7_000
                event.name = "ev"
                event.dropped_attributes_count = 4
                _add_attrs(event.attributes, [("e", [1, 2]), ("x", 1.5)])
                link = span.links.add()
                link.trace_id = bytes(range(1, 17))
                link.span_id = bytes(range(1, 9))
                link.trace_state = "b=2"
                link.flags = 1
                link.dropped_attributes_count = 5
                _add_attrs(link.attributes, [("l", "link")])
    return req


def rich_logs_request() -> logs_service_pb2.ExportLogsServiceRequest:
    req = logs_service_pb2.ExportLogsServiceRequest()
    rl = req.resource_logs.add()
    _add_attrs(rl.resource.attributes, [("service.name", "logsvc")])
    sl = rl.scope_logs.add()
    sl.scope.name = "logger"
    for i, body in enumerate(["text", 42, 1.5, True, b"\x00", [1, "a"], {"k": {"n": [1]}}, None]):
        lr = sl.log_records.add()
        lr.time_unix_nano = NOW - 1000 + i
        lr.observed_time_unix_nano = NOW - 900 + i
        lr.severity_number = 9 + i
        lr.severity_text = "INFO"
        if body is not None:
            _set_any(lr.body, body)
        _add_attrs(lr.attributes, RICH_ATTRS)
        lr.dropped_attributes_count = i
        lr.flags = 1
        lr.event_name = f"event{i}" if i % 2 else ""
        if i % 3 == 0:
            lr.trace_id = bytes(range(1, 17))
            lr.span_id = bytes(range(1, 9))
    return req


def rich_metrics_request() -> metrics_service_pb2.ExportMetricsServiceRequest:
    req = metrics_service_pb2.ExportMetricsServiceRequest()
    rm = req.resource_metrics.add()
    _add_attrs(rm.resource.attributes, [("service.name", "metricsvc")])
    sm = rm.scope_metrics.add()
    sm.scope.name = "meter"
    t = NOW - 1000

    gauge = sm.metrics.add(name="g", description="gauge", unit="1")
    p = gauge.gauge.data_points.add(time_unix_nano=t, as_double=1.5, flags=1)
    _add_attrs(p.attributes, RICH_ATTRS)
    gauge.gauge.data_points.add(time_unix_nano=t, start_time_unix_nano=t - 10, as_int=-3)
    gauge.gauge.data_points.add(time_unix_nano=t)  # no value

    total = sm.metrics.add(name="c", unit="By")
    total.sum.aggregation_temporality = 1
    total.sum.is_monotonic = True
    p = total.sum.data_points.add(time_unix_nano=t, start_time_unix_nano=t - 100, as_int=2**40)
    ex = p.exemplars.add(time_unix_nano=t - 5, as_double=0.5, trace_id=bytes(range(16)), span_id=bytes(range(8)))
    _add_attrs(ex.filtered_attributes, [("user", "u")])
    p.exemplars.add(time_unix_nano=t - 4, as_int=7)

    hist = sm.metrics.add(name="h", unit="ms")
    hist.histogram.aggregation_temporality = 2
    hist.histogram.data_points.add(
        time_unix_nano=t, count=3, sum=6.0, min=1.0, max=3.0, bucket_counts=[1, 1, 1], explicit_bounds=[1.5, 2.5]
    )
    hist.histogram.data_points.add(time_unix_nano=t, count=0)  # no sum / min / max

    exp = sm.metrics.add(name="e")
    exp.exponential_histogram.aggregation_temporality = 1
    ep = exp.exponential_histogram.data_points.add(
        time_unix_nano=t, count=4, sum=3.0, scale=-2, zero_count=1, zero_threshold=1e-9, min=-1.0, max=2.0
    )
    ep.positive.offset = -3
    ep.positive.bucket_counts.extend([1, 0, 1])
    ep.negative.offset = 5
    ep.negative.bucket_counts.extend([1])

    summary = sm.metrics.add(name="s")
    sp = summary.summary.data_points.add(time_unix_nano=t, count=10, sum=55.0)
    sp.quantile_values.add(quantile=0.0, value=1.0)
    sp.quantile_values.add(quantile=0.99, value=10.0)
    return req


@pytest.mark.parametrize("snake", [False, True], ids=["camelCase", "snake_case"])
def test_protobuf_and_json_decoders_agree_on_a_rich_trace_request(snake: bool) -> None:
    req = rich_trace_request()
    from_pb = decode_protobuf.decode_traces(req.SerializeToString())
    from_json = decode_json.decode_traces(json_body(req, snake))
    assert from_pb.rejected == 0
    assert len(from_pb.spans) == 12
    assert from_pb == from_json
    span = from_pb.spans[1]
    assert span.attributes["s"] == "duplicate key: last wins"
    assert span.attributes["i"] == -(2**63)
    assert span.attributes["big"] == 2**63 - 1
    assert span.attributes["raw"] == {"$bytes": base64.b64encode(b"\x00\xffbytes").decode()}
    assert span.attributes["arr"] == [1, "two", 3.0, [True, {"k": "v"}], {"$bytes": "AQ=="}]
    assert span.attributes["kv"] == {"a": {"b": [None, 1]}, "c": ""}
    assert span.attributes["empty"] is None
    assert span.attributes["inf"] == {"$double": "Infinity"}  # JSON (and jsonb) cannot hold infinities
    assert (span.flags, span.trace_state, span.kind, span.status_code, span.status_message) == (
        0x301,
        "a=1",
        2,
        1,
        "msg",
    )
    assert (span.dropped_attributes_count, span.dropped_events_count, span.dropped_links_count) == (1, 2, 3)
    assert span.events[0].attributes == {"e": [1, 2], "x": 1.5}
    assert span.events[0].dropped_attributes_count == 4
    link = span.links[0]
    assert (link.trace_id, link.span_id, link.trace_state, link.flags) == (
        bytes(range(1, 17)),
        bytes(range(1, 9)),
        "b=2",
        1,
    )
    assert (link.attributes, link.dropped_attributes_count) == ({"l": "link"}, 5)
    assert from_pb.spans[0].parent_span_id is None
    assert from_pb.spans[1].parent_span_id == bytes([9, 1]) + bytes(6)
    assert from_pb.spans[0].resource.dropped_attributes_count == 0
    assert from_pb.spans[-1].resource == from_json.spans[-1].resource
    assert from_pb.spans[-1].resource.schema_url == "https://schema/1"
    assert from_pb.spans[-1].scope.attributes == {"scope.attr": 1}
    assert decode_protobuf.decode_traces_message(req) == from_pb


@pytest.mark.parametrize("snake", [False, True], ids=["camelCase", "snake_case"])
def test_protobuf_and_json_decoders_agree_on_rich_logs(snake: bool) -> None:
    req = rich_logs_request()
    from_pb = decode_protobuf.decode_logs(req.SerializeToString())
    assert from_pb == decode_json.decode_logs(json_body(req, snake))
    bodies = [r.body for r in from_pb.logs]
    assert bodies == ["text", 42, 1.5, True, {"$bytes": "AA=="}, [1, "a"], {"k": {"n": [1]}}, None]
    assert from_pb.logs[0].trace_id == bytes(range(1, 17))
    assert from_pb.logs[1].trace_id is None
    assert [r.event_name for r in from_pb.logs[:2]] == ["", "event1"]
    assert from_pb.logs[3].severity_number == 12
    assert decode_protobuf.decode_logs_message(req) == from_pb


@pytest.mark.parametrize("snake", [False, True], ids=["camelCase", "snake_case"])
def test_protobuf_and_json_decoders_agree_on_rich_metrics(snake: bool) -> None:
    req = rich_metrics_request()
    from_pb = decode_protobuf.decode_metrics(req.SerializeToString())
    assert from_pb.rejected == 0
    assert from_pb == decode_json.decode_metrics(json_body(req, snake))
    g1, g2, g3, c, h1, h2, e, s = from_pb.metrics
    assert (g1.value, g2.value, g3.value) == (1.5, -3, None)
    assert type(g2.value) is int
    assert g1.attributes["s"] == "duplicate key: last wins"
    assert (c.value, c.temporality, c.monotonic) == (2**40, 1, True)
    assert [(x.value, x.trace_id, x.span_id, x.attributes) for x in c.exemplars] == [
        (0.5, bytes(range(16)), bytes(range(8)), {"user": "u"}),
        (7, None, None, {}),
    ]
    assert (h1.count, h1.sum, h1.min, h1.max, h1.bucket_counts, h1.explicit_bounds) == (
        3,
        6.0,
        1.0,
        3.0,
        [1, 1, 1],
        [1.5, 2.5],
    )
    assert (h2.sum, h2.min, h2.max, h2.temporality) == (None, None, None, 2)
    assert (e.scale, e.zero_count, e.zero_threshold, e.positive_offset, e.positive_counts) == (
        -2,
        1,
        1e-9,
        -3,
        [1, 0, 1],
    )
    assert (e.negative_offset, e.negative_counts, e.min, e.max, e.temporality) == (5, [1], -1.0, 2.0, 1)
    assert (s.kind, s.count, s.sum, s.quantiles) == (MetricKind.SUMMARY, 10, 55.0, [(0.0, 1.0), (0.99, 10.0)])
    assert decode_protobuf.decode_metrics_message(req) == from_pb


# --- 3. fixtures in the style of opentelemetry-proto's examples --------------------------------------


def _fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def test_trace_fixture_decodes_to_exact_values() -> None:
    decoded = decode_json.decode_traces(_fixture("trace.json"))
    assert decoded.rejected == 1
    assert decoded.rejection_reason == (
        "resourceSpans[0].scopeSpans[0].spans[2].traceId: must be 32 hex characters (16 bytes), got 31"
    )
    first, second = decoded.spans
    assert first.resource.attributes == {"service.name": "my.service", "host.cpus": 8}
    assert (first.scope.name, first.scope.version, first.scope.attributes) == (
        "my.library",
        "1.0.0",
        {"my.scope.attribute": "some scope attribute"},
    )
    assert first.scope.schema_url == "https://opentelemetry.io/schemas/1.24.0"
    assert first.trace_id == bytes.fromhex("5b8efff798038103d269b633813fc60c")
    assert first.span_id == bytes.fromhex("eee19b7ec3c1b174")
    assert first.parent_span_id == bytes.fromhex("eee19b7ec3c1b173")
    assert (first.name, first.kind, first.flags, first.trace_state) == ("I'm a server span", 2, 257, "vendor=1")
    assert (first.start_ns, first.end_ns) == (1544712660000000000, 1544712661000000000)
    assert first.attributes == {
        "my.span.attr": "last one wins",
        "http.response.status_code": 200,
        "ratio": 0.25,
        "retried": True,
        "tags": ["a", 2, None],
        "nested": {"inner": "x", "deeper": {"n": {"$double": "Infinity"}}},
        "raw": {"$bytes": "aGVsbG8="},
    }
    assert (first.dropped_attributes_count, first.dropped_events_count, first.dropped_links_count) == (1, 3, 5)
    assert [(e.time_ns, e.name, e.attributes, e.dropped_attributes_count) for e in first.events] == [
        (1544712660500000000, "exception", {"exception.message": "boom"}, 2)
    ]
    (link,) = first.links
    assert (link.trace_id, link.span_id) == (bytes(range(1, 17)), bytes(range(1, 9)))
    assert (link.trace_state, link.attributes, link.dropped_attributes_count, link.flags) == (
        "k=v",
        {"link.kind": "follows"},
        4,
        1,
    )
    assert (first.status_code, first.status_message) == (2, "it broke")
    assert second.span_id == bytes.fromhex("eee19b7ec3c1b175")
    assert (second.kind, second.status_code, second.parent_span_id) == (3, 1, None)
    assert (second.start_ns, second.end_ns) == (1544712660100000000, 1544712660200000000)


def test_logs_fixture_decodes_to_exact_values() -> None:
    decoded = decode_json.decode_logs(_fixture("logs.json"))
    assert decoded.rejected == 1
    assert decoded.rejection_reason == (
        "resourceLogs[0].scopeLogs[0].logRecords[5].spanId: must be empty or 16 hex characters (8 bytes), got 14"
    )
    first, second, third, fourth, fifth = decoded.logs
    assert (first.time_ns, first.observed_time_ns) == (1544712660300000000, 1544712660300000001)
    assert (first.severity_number, first.severity_text, first.flags, first.event_name) == (
        10,
        "Information",
        1,
        "user.login",
    )
    assert first.trace_id == bytes.fromhex("5b8efff798038103d269b633813fc60c")
    assert first.span_id == bytes.fromhex("eee19b7ec3c1b174")
    assert first.body == "Example log record"
    assert first.attributes == {
        "string.attribute": "some string",
        "boolean.attribute": True,
        "int.attribute": 10,
        "double.attribute": 637.704,
        "array.attribute": ["many", "values"],
        "map.attribute": {"some.map.key": "some value"},
    }
    assert first.dropped_attributes_count == 1
    assert first.resource.service_name == "my.service"
    assert (second.severity_number, second.body) == (17, {"error": "disk full", "free": 0})
    assert (third.time_ns, third.observed_time_ns, third.body) == (0, 1544712660500000000, [-1, False])
    assert (fourth.body, fourth.trace_id, fourth.span_id) == ({"$bytes": "AAEC"}, None, None)
    assert (fifth.body, fifth.trace_id) == (None, None)


def test_metrics_fixture_decodes_to_exact_values() -> None:
    decoded = decode_json.decode_metrics(_fixture("metrics.json"))
    assert decoded.rejected == 2
    assert decoded.rejection_reason == "resourceMetrics[0].scopeMetrics[0].metrics[5].name: a metric must have a name"
    counter, gauge, h1, h2, exp, summary = decoded.metrics
    t = 1544712660300000000
    assert (counter.name, counter.unit, counter.description, counter.kind) == ("my.counter", "1", "I am a Counter", 2)
    assert (counter.value, counter.temporality, counter.monotonic, counter.start_ns, counter.time_ns) == (
        5.0,
        1,
        True,
        t,
        t,
    )
    assert type(counter.value) is float
    assert counter.attributes == {"my.counter.attr": "some value"}
    (ex,) = counter.exemplars
    assert (ex.time_ns, ex.value, ex.attributes) == (1544712660250000000, 3, {"user": "u1"})
    assert (ex.trace_id, ex.span_id) == (
        bytes.fromhex("5b8efff798038103d269b633813fc60c"),
        bytes.fromhex("eee19b7ec3c1b174"),
    )
    assert (gauge.kind, gauge.value, gauge.flags, gauge.start_ns) == (MetricKind.GAUGE, -10, 1, 0)
    assert (h1.kind, h1.temporality, h1.count, h1.sum, h1.min, h1.max) == (3, 2, 2, 2.0, 0.0, 2.0)
    assert (h1.bucket_counts, h1.explicit_bounds, h1.attributes) == ([1, 1], [1.0], {"my.histogram.attr": "some value"})
    assert (h2.count, h2.sum, h2.min, h2.max, h2.bucket_counts) == (0, None, None, None, [])
    assert (exp.kind, exp.count, exp.sum, exp.scale, exp.zero_count, exp.zero_threshold) == (4, 3, 10.0, 0, 1, 0.001)
    assert (exp.positive_offset, exp.positive_counts, exp.negative_offset, exp.negative_counts) == (1, [0, 2], -2, [1])
    assert (exp.min, exp.max, exp.temporality) == (0.0, 5.0, 1)
    assert (summary.kind, summary.count, summary.sum) == (MetricKind.SUMMARY, 2, 2.0)
    assert summary.quantiles == [(0.0, 1.0), (0.5, 1.5), (1.0, 2.0)]


def test_fixtures_round_trip_through_protobuf() -> None:
    """Each fixture, re-encoded as protobuf by the test's own builder, decodes the same with both decoders."""
    from_json = decode_json.decode_traces(_fixture("trace.json"))
    req = trace_service_pb2.ExportTraceServiceRequest()
    rs = req.resource_spans.add()
    _add_attrs(rs.resource.attributes, list(from_json.spans[0].resource.attributes.items()))
    assert decode_protobuf.decode_traces(req.SerializeToString()).spans == []


# --- 4. validation ----------------------------------------------------------------------------------


def _one_span(**fields: Any) -> trace_service_pb2.ExportTraceServiceRequest:
    req = trace_service_pb2.ExportTraceServiceRequest()
    ss = req.resource_spans.add().scope_spans.add()
    ss.spans.add(trace_id=b"\x01" * 16, span_id=b"\x02" * 8, start_time_unix_nano=NOW - 10, end_time_unix_nano=NOW)
    span = ss.spans.add(
        trace_id=b"\x01" * 16, span_id=b"\x03" * 8, start_time_unix_nano=NOW - 10, end_time_unix_nano=NOW
    )
    for key, value in fields.items():
        setattr(span, key, value)
    return req


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({"trace_id": b"\x01" * 15}, "spans[1].traceId: must be 16 bytes, got 15"),
        ({"trace_id": bytes(16)}, "spans[1].traceId: must not be all zero"),
        ({"span_id": b""}, "spans[1].spanId: must be 8 bytes, got 0"),
        ({"span_id": bytes(8)}, "spans[1].spanId: must not be all zero"),
        ({"parent_span_id": b"\x01" * 9}, "spans[1].parentSpanId: must be empty or 8 bytes, got 9"),
        ({"end_time_unix_nano": NOW - 20}, "spans[1].endTimeUnixNano"),
        ({"start_time_unix_nano": 5, "end_time_unix_nano": 6}, "spans[1].startTimeUnixNano: 5 is outside"),
        ({"end_time_unix_nano": NOW + 2 * 86_400 * 10**9}, "spans[1].endTimeUnixNano"),
    ],
)
def test_one_bad_span_is_rejected_not_the_request(fields: dict[str, Any], reason: str) -> None:
    req = _one_span(**fields)
    for decoded in (
        decode_protobuf.decode_traces(req.SerializeToString()),
        decode_json.decode_traces(json_body(req)),
    ):
        assert len(decoded.spans) == 1
        assert decoded.rejected == 1
        assert decoded.rejection_reason.startswith("resourceSpans[0].scopeSpans[0].")
        assert reason.split(":", maxsplit=1)[0] in decoded.rejection_reason
    assert reason in decode_protobuf.decode_traces(req.SerializeToString()).rejection_reason


def test_json_ids_must_be_hex() -> None:
    body = json.dumps(
        {
            "resourceSpans": [
                {
                    "scopeSpans": [
                        {
                            "spans": [
                                {
                                    "traceId": "zz" * 16,
                                    "spanId": "01" * 8,
                                    "startTimeUnixNano": str(NOW - 1),
                                    "endTimeUnixNano": NOW,
                                },
                                {"traceId": "AQIDBAUGBwgJCgsMDQ4PEA==", "spanId": "01" * 8},
                            ]
                        }
                    ]
                }
            ]
        }
    )
    decoded = decode_json.decode_traces(body)
    assert (decoded.spans, decoded.rejected) == ([], 2)
    assert decoded.rejection_reason == (
        "resourceSpans[0].scopeSpans[0].spans[0].traceId: must be 32 hex characters (16 bytes), got 32"
        " that are not all hex digits"
    )


def test_bad_links_and_exemplar_ids_are_dropped_and_counted() -> None:
    req = _one_span()
    span = req.resource_spans[0].scope_spans[0].spans[0]
    span.links.add(trace_id=b"\x01" * 16, span_id=b"\x01" * 7)
    span.links.add(trace_id=b"\x01" * 16, span_id=b"\x01" * 8)
    span.dropped_links_count = 2
    for decoded in (decode_protobuf.decode_traces(req.SerializeToString()), decode_json.decode_traces(json_body(req))):
        assert len(decoded.spans[0].links) == 1
        assert decoded.spans[0].dropped_links_count == 3


def test_a_log_with_a_bad_id_length_is_rejected() -> None:
    req = logs_service_pb2.ExportLogsServiceRequest()
    sl = req.resource_logs.add().scope_logs.add()
    sl.log_records.add(time_unix_nano=NOW, trace_id=b"\x01" * 8)
    sl.log_records.add(time_unix_nano=NOW)
    sl.log_records.add(time_unix_nano=1)
    for decoded in (decode_protobuf.decode_logs(req.SerializeToString()), decode_json.decode_logs(json_body(req))):
        assert len(decoded.logs) == 1
        assert decoded.rejected == 2
        assert decoded.rejection_reason.startswith("resourceLogs[0].scopeLogs[0].logRecords[0].traceId: must be empty")


@pytest.mark.parametrize(
    ("decoder", "what"),
    [
        (decode_protobuf.decode_traces, "ExportTraceServiceRequest"),
        (decode_protobuf.decode_logs, "ExportLogsServiceRequest"),
        (decode_protobuf.decode_metrics, "ExportMetricsServiceRequest"),
    ],
)
def test_an_unparseable_protobuf_body_raises(decoder: Any, what: str) -> None:
    with pytest.raises(DecodeError, match=f"the body is not a valid {what} protobuf: "):
        decoder(b"\x0a\xff\xff\xff")


@pytest.mark.parametrize(
    "body", [b"{", b"[]", b'{"resourceSpans": 5}', b'{"resourceSpans": [{"scopeSpans": [{"spans": [{"name": 1}]}]}]}']
)
def test_an_unparseable_json_body_raises(body: bytes) -> None:
    with pytest.raises(DecodeError, match="the body is not a valid OTLP/JSON ExportTraceServiceRequest"):
        decode_json.decode_traces(body)


def test_json_type_errors_name_the_path() -> None:
    with pytest.raises(DecodeError, match=r"\$\.resourceSpans\[0\]\.scopeSpans\[0\]\.spans\[0\]\.name"):
        decode_json.decode_traces(b'{"resourceSpans": [{"scopeSpans": [{"spans": [{"name": 1}]}]}]}')


def _nested(depth: int) -> Any:
    value: Any = "leaf"
    for _ in range(depth - 1):
        value = [value]
    return value


def test_deep_attribute_nesting_raises_in_both_decoders() -> None:
    for depth, ok in ((32, True), (33, False)):
        req = _one_span()
        _add_attrs(req.resource_spans[0].scope_spans[0].spans[0].attributes, [("deep", _nested(depth))])
        for decode, body in (
            (decode_protobuf.decode_traces, req.SerializeToString()),
            (decode_json.decode_traces, json_body(req)),
        ):
            if ok:
                assert decode(body).spans[0].attributes["deep"] == _nested(depth)
            else:
                with pytest.raises(DecodeError, match="nested deeper than 32 levels"):
                    decode(body)


def test_too_many_items_raise(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(decode_protobuf, "MAX_ITEMS", 1)
    monkeypatch.setattr(decode_json, "MAX_ITEMS", 1)
    req = _one_span()
    with pytest.raises(DecodeError, match="holds 2 spans"):
        decode_protobuf.decode_traces(req.SerializeToString())
    with pytest.raises(DecodeError, match="holds 2 spans"):
        decode_json.decode_traces(json_body(req))
    metrics = rich_metrics_request()
    with pytest.raises(DecodeError, match="metric data points"):
        decode_protobuf.decode_metrics(metrics.SerializeToString())
    with pytest.raises(DecodeError, match="metric data points"):
        decode_json.decode_metrics(json_body(metrics))


def test_fast_attribute_path_matches_the_message_path_for_odd_encodings() -> None:
    """Non-canonical KeyValue encodings (value before key, unknown fields, long lengths) take the fallback."""
    from opentelemetry.proto.common.v1 import common_pb2

    canonical = common_pb2.KeyValue(key="k", value=common_pb2.AnyValue(int_value=5)).SerializeToString()
    value_first = b"\x12\x02\x18\x05\x0a\x01k"
    with_unknown = canonical + b"\x18\x07"  # key_strindex
    long_key = common_pb2.KeyValue(key="k" * 200, value=common_pb2.AnyValue(string_value="v" * 300))
    negative = common_pb2.KeyValue(key="n", value=common_pb2.AnyValue(int_value=-1))
    bool_two = b"\x0a\x01b\x12\x02\x10\x02"  # bool encoded as varint 2: still true
    for raws, expected in (
        ([canonical], {"k": 5}),
        ([value_first], {"k": 5}),
        ([with_unknown], {"k": 5}),
        ([long_key.SerializeToString()], {"k" * 200: "v" * 300}),
        ([negative.SerializeToString()], {"n": -1}),
        ([bool_two], {"b": True}),
    ):
        assert decode_protobuf.attributes(raws, {}, "x") == expected
    with pytest.raises(DecodeError, match="not a valid KeyValue"):
        decode_protobuf.attributes([b"\x0a\x02\xff\xfe\x12\x00"], {}, "x")
