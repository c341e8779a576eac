"""Decode OTLP/protobuf export requests (traces, logs, metrics) into ``apps.otlp.types``.

Pure functions: no Django, no database. ``decode_traces(body)`` takes the HTTP body of an
``ExportTraceServiceRequest``; ``decode_traces_message(msg)`` takes an already-parsed request (the gRPC receiver
hands over raw bytes instead, so this decoder validates them).
Logs and metrics have the same pair.

Speed. Parsing with upb is cheap; what costs is touching every ``KeyValue``/``AnyValue`` through
Python wrapper objects (about 0.9 µs per attribute on a 2-core EPYC VM). So the requests are parsed
with a private copy of the OTLP descriptors in which every ``repeated KeyValue`` field is declared
``repeated bytes`` instead. The wire format is identical (both are length-delimited), so upb hands us
each attribute's raw encoding. ``_kv`` decodes the canonical one-scalar encoding (key, then a value
holding one string/bool/int/double) directly and falls back to the real ``KeyValue`` parser for
anything else (arrays, kvlists, bytes, unusual field order, unknown fields), so results never differ
from the standard decoder. Decoded scalar attributes are memoised per request, keyed by their exact
raw bytes (immutable results only, never shared across requests): spans of one batch repeat most
attributes (method, route, host, status code...).

Validation policy (shared with ``decode_json``, which imports the helpers below): an item that is
invalid on its own (a span with a bad id or absurd timestamp, a log with a bad id, a metric without a
name) is dropped and counted with ``Decoded.reject`` (OTLP partial success); a body that cannot be
parsed, AnyValue nesting deeper than ``MAX_ANY_DEPTH`` or more than ``MAX_ITEMS`` items raise
``DecodeError`` for the whole request.
"""

from __future__ import annotations

import struct
import time
from collections.abc import Iterable
from typing import Any

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
from google.protobuf.descriptor import FileDescriptor
from google.protobuf.message import DecodeError as ProtobufDecodeError
from google.protobuf.message import Message
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2
from opentelemetry.proto.common.v1 import common_pb2

from apps.otlp.types import (
    Decoded,
    DecodeError,
    Exemplar,
    LogRecord,
    MetricKind,
    MetricPoint,
    Resource,
    Scope,
    Span,
    SpanEvent,
    SpanLink,
)
from apps.otlp.values import bytes_value, double_value

try:
    from . import fast_traces  # see decode_traces
except ImportError as exc:  # pragma: no cover (make builds it before anything runs)
    raise ImportError(
        "apps/ingest/fast_traces.pyx is not compiled: run `make` (or `python setup.py build_ext --inplace`)"
    ) from exc

__all__ = [
    "MAX_ANY_DEPTH",
    "MAX_FUTURE_NS",
    "MAX_ITEMS",
    "MIN_TIME_NS",
    "decode_logs",
    "decode_logs_message",
    "decode_metrics",
    "decode_metrics_message",
    "decode_traces",
    "decode_traces_message",
    "decode_traces_reference",
]

# --- policy (shared with decode_json) ------------------------------------------------------------

#: Absurd-timestamp policy. A span's start and end, a log record's time and observed time (when not
#: 0, which OTLP allows for "unknown") and a metric point's time (and start time, when not 0) must lie
#: in [MIN_TIME_NS, now + MAX_FUTURE_NS]. 2000-01-01 catches clocks at the epoch, seconds or
#: milliseconds sent as nanoseconds and garbage; one day ahead tolerates clock skew. Items outside
#: are rejected one by one (partial success), not the whole request.
MIN_TIME_NS = 946_684_800 * 1_000_000_000  # 2000-01-01T00:00:00Z
MAX_FUTURE_NS = 86_400 * 1_000_000_000  # one day

#: AnyValue nesting (arrays / kvlists inside attribute values or log bodies) deeper than this
#: rejects the request. A scalar attribute value has depth 1.
MAX_ANY_DEPTH = 32

#: Spans, log records or metric data points in one request; more rejects the request.
MAX_ITEMS = 1_000_000

ZERO_TRACE_ID = bytes(16)
ZERO_SPAN_ID = bytes(8)


def time_window() -> tuple[int, int]:
    """The accepted [low, high] nanosecond range for this request (see MIN_TIME_NS)."""
    return MIN_TIME_NS, time.time_ns() + MAX_FUTURE_NS


def id_problem(raw: bytes, size: int) -> str | None:
    """Why ``raw`` is not a valid id of ``size`` bytes (all zero is invalid too), or None."""
    if len(raw) != size:
        return f"must be {size} bytes, got {len(raw)}"
    if raw == bytes(size):
        return "must not be all zero"
    return None


def span_problem(
    path: str, trace_id: bytes, span_id: bytes, parent: bytes, *, start: int, end: int, lo: int, hi: int
) -> str | None:
    """The first reason a span must be rejected, with its path, or None when it is valid."""
    problem = id_problem(trace_id, 16)
    if problem:
        return f"{path}.traceId: {problem}"
    problem = id_problem(span_id, 8)
    if problem:
        return f"{path}.spanId: {problem}"
    if parent and len(parent) != 8:
        return f"{path}.parentSpanId: must be empty or 8 bytes, got {len(parent)}"
    for name, value in (("startTimeUnixNano", start), ("endTimeUnixNano", end)):
        if not lo <= value <= hi:
            return f"{path}.{name}: {value} is outside the accepted range {time_range_text()}"
    if end < start:
        return f"{path}.endTimeUnixNano: {end} is before startTimeUnixNano {start}"
    return None


def time_range_text() -> str:
    return f"[2000-01-01, now + {MAX_FUTURE_NS // 3_600_000_000_000} h] (nanoseconds since the Unix epoch)"


def optional_id(raw: bytes, size: int, path: str) -> tuple[bytes | None, str | None]:
    """A log's or exemplar's optional id: empty or all zero → None; wrong length → a problem."""
    if not raw:
        return None, None
    if len(raw) != size:
        return None, f"{path}: must be empty or {size} bytes, got {len(raw)}"
    if raw == bytes(size):
        return None, None
    return raw, None


def log_time_problem(path: str, time_ns: int, observed_ns: int, lo: int, hi: int) -> str | None:
    if time_ns and not lo <= time_ns <= hi:
        return f"{path}.timeUnixNano: {time_ns} is outside the accepted range {time_range_text()}"
    if observed_ns and not lo <= observed_ns <= hi:
        return f"{path}.observedTimeUnixNano: {observed_ns} is outside the accepted range {time_range_text()}"
    return None


def point_time_problem(path: str, start_ns: int, time_ns: int, lo: int, hi: int) -> str | None:
    if not lo <= time_ns <= hi:
        return f"{path}.timeUnixNano: {time_ns} is outside the accepted range {time_range_text()}"
    if start_ns and not lo <= start_ns <= hi:
        return f"{path}.startTimeUnixNano: {start_ns} is outside the accepted range {time_range_text()}"
    return None


def too_many_items(count: int, what: str) -> DecodeError:
    return DecodeError(f"the request holds {count} {what}; at most {MAX_ITEMS} are accepted per request")


def too_deep(where: str) -> DecodeError:
    return DecodeError(f"{where}: attribute value nested deeper than {MAX_ANY_DEPTH} levels")


# --- private descriptors: repeated KeyValue fields as raw bytes -----------------------------------

_KEY_VALUE = ".opentelemetry.proto.common.v1.KeyValue"
_KEY_VALUE_LIST = "KeyValueList"


def _build_fast_pool() -> descriptor_pool.DescriptorPool:
    pool = descriptor_pool.DescriptorPool()
    added: set[str] = set()

    def add(fd: FileDescriptor) -> None:
        if fd.name in added:
            return
        for dep in fd.dependencies:
            add(dep)
        proto = descriptor_pb2.FileDescriptorProto()
        fd.CopyToProto(proto)
        del proto.service[:]
        stack = list(proto.message_type)
        while stack:
            message = stack.pop()
            stack.extend(message.nested_type)
            if message.name == _KEY_VALUE_LIST:
                continue  # AnyValue internals stay messages; the fallback parser handles them
            for f in message.field:
                if f.type_name == _KEY_VALUE and f.label == descriptor_pb2.FieldDescriptorProto.LABEL_REPEATED:
                    f.type = descriptor_pb2.FieldDescriptorProto.TYPE_BYTES
                    f.ClearField("type_name")
        pool.Add(proto)
        added.add(fd.name)

    for module in (trace_service_pb2, logs_service_pb2, metrics_service_pb2):
        add(module.DESCRIPTOR)
    return pool


_POOL = _build_fast_pool()


def _fast_class(full_name: str) -> Any:
    return message_factory.GetMessageClass(_POOL.FindMessageTypeByName(full_name))


_FastTraceRequest = _fast_class("opentelemetry.proto.collector.trace.v1.ExportTraceServiceRequest")
_FastLogsRequest = _fast_class("opentelemetry.proto.collector.logs.v1.ExportLogsServiceRequest")
_FastMetricsRequest = _fast_class("opentelemetry.proto.collector.metrics.v1.ExportMetricsServiceRequest")

# --- attribute values ------------------------------------------------------------------------------

_KeyValue = common_pb2.KeyValue
_unpack_double = struct.Struct("<d").unpack_from
_SCALARS = (str, int, float, bool, type(None))
_NO_FAST_PATH: Any = object()


def any_value(v: Any, depth: int, where: str) -> Any:  # noqa: PLR0911 (one flat dispatch is fastest)
    """A parsed ``AnyValue`` message as JSON-ready Python (empty → None)."""
    which = v.WhichOneof("value")
    if which == "string_value":
        return v.string_value
    if which == "int_value":
        return v.int_value
    if which == "bool_value":
        return v.bool_value
    if which == "double_value":
        return double_value(v.double_value)
    if which == "array_value":
        if depth >= MAX_ANY_DEPTH:
            raise too_deep(where)
        return [any_value(x, depth + 1, where) for x in v.array_value.values]
    if which == "kvlist_value":
        if depth >= MAX_ANY_DEPTH:
            raise too_deep(where)
        return {kv.key: any_value(kv.value, depth + 1, where) for kv in v.kvlist_value.values}
    if which == "bytes_value":
        return bytes_value(v.bytes_value)
    return None  # unset, or string_value_strindex (a profiles-only dictionary reference)


def _kv(raw: bytes, cache: dict[bytes, tuple[str, Any]], where: str) -> tuple[str, Any]:  # noqa: PLR0912
    """One raw ``KeyValue`` encoding → (key, value); memoised in ``cache`` when the value is a scalar."""
    n = len(raw)
    try:
        if n >= 4 and raw[0] == 0x0A and raw[1] < 0x80:  # field 1 (key), short length
            p = raw[1] + 2
            if p + 2 <= n and raw[p] == 0x12 and raw[p + 1] < 0x80 and p + 2 + raw[p + 1] == n:  # field 2 (value)
                key = raw[2:p].decode()
                q = p + 2
                value: Any = _NO_FAST_PATH
                if q == n:
                    value = None
                else:
                    tag = raw[q]
                    q += 1
                    if tag == 0x0A:  # string_value
                        if q < n and raw[q] < 0x80 and q + 1 + raw[q] == n:
                            value = raw[q + 1 :].decode()
                    elif tag == 0x18:  # int_value (varint, two's complement)
                        acc = 0
                        shift = 0
                        while q < n and shift < 64:
                            b = raw[q]
                            q += 1
                            acc |= (b & 0x7F) << shift
                            if b < 0x80:
                                if q == n:
                                    acc &= 0xFFFF_FFFF_FFFF_FFFF
                                    value = acc - (1 << 64) if acc >= 1 << 63 else acc
                                break
                            shift += 7
                    elif tag == 0x10:  # bool_value
                        if q + 1 == n and raw[q] < 0x80:
                            value = raw[q] != 0
                    elif tag == 0x21 and q + 8 == n:  # double_value
                        value = double_value(_unpack_double(raw, q)[0])
                if value is not _NO_FAST_PATH:
                    result = (key, value)
                    cache[raw] = result
                    return result
        kv = _KeyValue.FromString(raw)
    except (UnicodeDecodeError, ProtobufDecodeError) as exc:
        raise DecodeError(f"{where}: an attribute is not a valid KeyValue: {exc}") from None
    result = (kv.key, any_value(kv.value, 1, where))
    if type(result[1]) in _SCALARS:
        cache[raw] = result
    return result


def attributes(raws: Iterable[bytes], cache: dict[bytes, tuple[str, Any]], where: str) -> dict[str, Any]:
    """Raw ``KeyValue`` encodings → an attribute dict (duplicate keys: the last one wins)."""
    out: dict[str, Any] = {}
    get = cache.get
    for raw in raws:
        r = get(raw)
        if r is None:
            r = _kv(raw, cache, where)
        out[r[0]] = r[1]
    return out


def _resource(rs: Any, cache: dict[bytes, tuple[str, Any]], where: str) -> Resource:
    r = rs.resource
    return Resource(attributes(r.attributes, cache, where), r.dropped_attributes_count, rs.schema_url)


def _scope(ss: Any, cache: dict[bytes, tuple[str, Any]], where: str) -> Scope:
    s = ss.scope
    return Scope(s.name, s.version, attributes(s.attributes, cache, where), s.dropped_attributes_count, ss.schema_url)


def _parse(cls: Any, body: bytes, what: str) -> Any:
    try:
        return cls.FromString(body)
    except ProtobufDecodeError as exc:
        raise DecodeError(f"the body is not a valid {what} protobuf: {exc}") from None


# --- traces ----------------------------------------------------------------------------------------


def decode_traces(body: bytes) -> Decoded:
    """Decode the body of an OTLP/HTTP protobuf ``ExportTraceServiceRequest``.

    The compiled fast path (``fast_traces.pyx``, ~5x faster) takes the common shape and returns exactly what
    the code below returns; anything else (errors included) is left to the code below, the reference.
    """
    decoded = fast_traces.decode(body)
    if decoded is not None:
        return decoded
    return decode_traces_reference(body)


def decode_traces_reference(body: bytes) -> Decoded:
    """``decode_traces`` without the compiled fast path: the reference it is tested against."""
    return _traces(_parse(_FastTraceRequest, body, "ExportTraceServiceRequest"))


def decode_traces_message(msg: Message) -> Decoded:
    """Decode an already-parsed ``ExportTraceServiceRequest`` (re-encoded once: cheaper than walking it)."""
    if isinstance(msg, _FastTraceRequest):
        return _traces(msg)
    return decode_traces(msg.SerializeToString())


def _traces(req: Any) -> Decoded:
    out = Decoded()
    total = sum(len(ss.spans) for rs in req.resource_spans for ss in rs.scope_spans)
    if total > MAX_ITEMS:
        raise too_many_items(total, "spans")
    lo, hi = time_window()
    cache: dict[bytes, tuple[str, Any]] = {}
    spans = out.spans
    append = spans.append
    z16 = ZERO_TRACE_ID
    z8 = ZERO_SPAN_ID
    for ri, rs in enumerate(req.resource_spans):
        rpath = f"resourceSpans[{ri}]"
        resource = _resource(rs, cache, rpath + ".resource")
        for si, ss in enumerate(rs.scope_spans):
            spath = f"{rpath}.scopeSpans[{si}]"
            scope = _scope(ss, cache, spath + ".scope")
            for i, s in enumerate(ss.spans):
                trace_id = s.trace_id
                span_id = s.span_id
                parent = s.parent_span_id
                start = s.start_time_unix_nano
                end = s.end_time_unix_nano
                if not (
                    len(trace_id) == 16
                    and trace_id != z16
                    and len(span_id) == 8
                    and span_id != z8
                    and (not parent or len(parent) == 8)
                    and lo <= start <= end <= hi
                ):
                    out.reject(
                        1,
                        span_problem(
                            f"{spath}.spans[{i}]", trace_id, span_id, parent, start=start, end=end, lo=lo, hi=hi
                        )
                        or "",
                    )
                    continue
                # attributes(), inlined: this is the hot loop
                attrs: dict[str, Any] = {}
                for raw in s.attributes:
                    r = cache.get(raw)
                    if r is None:
                        r = _kv(raw, cache, f"{spath}.spans[{i}].attributes")
                    attrs[r[0]] = r[1]
                status = s.status
                events = s.events
                links = s.links
                dropped_links = s.dropped_links_count
                link_list: list[SpanLink] = []
                if links:
                    link_list, bad = _links(links, cache, f"{spath}.spans[{i}].links")
                    dropped_links += bad
                append(
                    Span(
                        resource,
                        scope,
                        trace_id,
                        span_id,
                        parent if parent and parent != z8 else None,
                        s.name,
                        s.kind,
                        start,
                        end,
                        attrs,
                        status.code,
                        status.message,
                        s.trace_state,
                        s.flags,
                        _events(events, cache, f"{spath}.spans[{i}].events") if events else [],
                        link_list,
                        s.dropped_attributes_count,
                        s.dropped_events_count,
                        dropped_links,
                    )
                )
    return out


def _events(events: Any, cache: dict[bytes, tuple[str, Any]], where: str) -> list[SpanEvent]:
    return [
        SpanEvent(e.time_unix_nano, e.name, attributes(e.attributes, cache, where), e.dropped_attributes_count)
        for e in events
    ]


def _links(links: Any, cache: dict[bytes, tuple[str, Any]], where: str) -> tuple[list[SpanLink], int]:
    """Valid links, and how many were dropped for an invalid trace or span id."""
    out: list[SpanLink] = []
    bad = 0
    for link in links:
        trace_id = link.trace_id
        span_id = link.span_id
        if id_problem(trace_id, 16) or id_problem(span_id, 8):
            bad += 1
            continue
        out.append(
            SpanLink(
                trace_id,
                span_id,
                link.trace_state,
                attributes(link.attributes, cache, where),
                link.dropped_attributes_count,
                link.flags,
            )
        )
    return out, bad


# --- logs ------------------------------------------------------------------------------------------


def decode_logs(body: bytes) -> Decoded:
    """Decode the body of an OTLP/HTTP protobuf ``ExportLogsServiceRequest``."""
    return _logs(_parse(_FastLogsRequest, body, "ExportLogsServiceRequest"))


def decode_logs_message(msg: Message) -> Decoded:
    """Decode an already-parsed ``ExportLogsServiceRequest``."""
    if isinstance(msg, _FastLogsRequest):
        return _logs(msg)
    return decode_logs(msg.SerializeToString())


def _logs(req: Any) -> Decoded:
    out = Decoded()
    total = sum(len(sl.log_records) for rl in req.resource_logs for sl in rl.scope_logs)
    if total > MAX_ITEMS:
        raise too_many_items(total, "log records")
    lo, hi = time_window()
    cache: dict[bytes, tuple[str, Any]] = {}
    append = out.logs.append
    for ri, rl in enumerate(req.resource_logs):
        rpath = f"resourceLogs[{ri}]"
        resource = _resource(rl, cache, rpath + ".resource")
        for si, sl in enumerate(rl.scope_logs):
            spath = f"{rpath}.scopeLogs[{si}]"
            scope = _scope(sl, cache, spath + ".scope")
            for i, lr in enumerate(sl.log_records):
                path = f"{spath}.logRecords[{i}]"
                trace_id, problem = optional_id(lr.trace_id, 16, path + ".traceId")
                if problem is None:
                    span_id, problem = optional_id(lr.span_id, 8, path + ".spanId")
                time_ns = lr.time_unix_nano
                observed = lr.observed_time_unix_nano
                if problem is None:
                    problem = log_time_problem(path, time_ns, observed, lo, hi)
                if problem is not None:
                    out.reject(1, problem)
                    continue
                append(
                    LogRecord(
                        resource,
                        scope,
                        time_ns,
                        observed,
                        lr.severity_number,
                        lr.severity_text,
                        any_value(lr.body, 1, path + ".body"),
                        attributes(lr.attributes, cache, path + ".attributes"),
                        trace_id,
                        span_id,
                        lr.flags,
                        lr.event_name,
                        lr.dropped_attributes_count,
                    )
                )
    return out


# --- metrics ---------------------------------------------------------------------------------------

_DATA_KINDS = {
    "gauge": MetricKind.GAUGE,
    "sum": MetricKind.SUM,
    "histogram": MetricKind.HISTOGRAM,
    "exponential_histogram": MetricKind.EXPONENTIAL_HISTOGRAM,
    "summary": MetricKind.SUMMARY,
}
_DATA_JSON_NAMES = {
    "gauge": "gauge",
    "sum": "sum",
    "histogram": "histogram",
    "exponential_histogram": "exponentialHistogram",
    "summary": "summary",
}


def decode_metrics(body: bytes) -> Decoded:
    """Decode the body of an OTLP/HTTP protobuf ``ExportMetricsServiceRequest``."""
    return _metrics(_parse(_FastMetricsRequest, body, "ExportMetricsServiceRequest"))


def decode_metrics_message(msg: Message) -> Decoded:
    """Decode an already-parsed ``ExportMetricsServiceRequest``."""
    if isinstance(msg, _FastMetricsRequest):
        return _metrics(msg)
    return decode_metrics(msg.SerializeToString())


def _metrics(req: Any) -> Decoded:
    out = Decoded()
    lo, hi = time_window()
    cache: dict[bytes, tuple[str, Any]] = {}
    append = out.metrics.append
    total = 0
    for ri, rm in enumerate(req.resource_metrics):
        rpath = f"resourceMetrics[{ri}]"
        resource = _resource(rm, cache, rpath + ".resource")
        for si, sm in enumerate(rm.scope_metrics):
            spath = f"{rpath}.scopeMetrics[{si}]"
            scope = _scope(sm, cache, spath + ".scope")
            for mi, m in enumerate(sm.metrics):
                which = m.WhichOneof("data")
                if which is None:
                    continue  # a metric without data has no points
                data = getattr(m, which)
                points = data.data_points
                total += len(points)
                if total > MAX_ITEMS:
                    raise too_many_items(total, "metric data points")
                mpath = f"{spath}.metrics[{mi}]"
                if not m.name:
                    out.reject(len(points), f"{mpath}.name: a metric must have a name")
                    continue
                kind = _DATA_KINDS[which]
                temporality = data.aggregation_temporality if kind not in (MetricKind.GAUGE, MetricKind.SUMMARY) else 0
                monotonic = data.is_monotonic if kind == MetricKind.SUM else False
                ppath = f"{mpath}.{_DATA_JSON_NAMES[which]}.dataPoints"
                for pi, dp in enumerate(points):
                    path = f"{ppath}[{pi}]"
                    start_ns = dp.start_time_unix_nano
                    time_ns = dp.time_unix_nano
                    problem = point_time_problem(path, start_ns, time_ns, lo, hi)
                    if problem is not None:
                        out.reject(1, problem)
                        continue
                    point = MetricPoint(
                        resource,
                        scope,
                        m.name,
                        m.description,
                        m.unit,
                        kind,
                        attributes(dp.attributes, cache, path + ".attributes"),
                        start_ns,
                        time_ns,
                        dp.flags,
                        temporality,
                        monotonic,
                    )
                    if kind in (MetricKind.GAUGE, MetricKind.SUM):
                        point.value = _number(dp)
                    else:
                        _fill_distribution(point, dp, kind)
                    if kind != MetricKind.SUMMARY and dp.exemplars:
                        point.exemplars = _exemplars(dp.exemplars, cache, path + ".exemplars")
                    append(point)
    return out


def _number(dp: Any) -> int | float | None:
    which = dp.WhichOneof("value")
    if which == "as_int":
        return int(dp.as_int)
    if which == "as_double":
        return float(dp.as_double)
    return None


def _fill_distribution(point: MetricPoint, dp: Any, kind: int) -> None:
    point.count = dp.count
    if kind == MetricKind.SUMMARY:
        point.sum = dp.sum
        point.quantiles = [(q.quantile, q.value) for q in dp.quantile_values]
        return
    point.sum = dp.sum if dp.HasField("sum") else None
    point.min = dp.min if dp.HasField("min") else None
    point.max = dp.max if dp.HasField("max") else None
    if kind == MetricKind.HISTOGRAM:
        point.bucket_counts = list(dp.bucket_counts)
        point.explicit_bounds = list(dp.explicit_bounds)
        return
    point.scale = dp.scale
    point.zero_count = dp.zero_count
    point.zero_threshold = dp.zero_threshold
    positive = dp.positive
    negative = dp.negative
    point.positive_offset = positive.offset
    point.positive_counts = list(positive.bucket_counts)
    point.negative_offset = negative.offset
    point.negative_counts = list(negative.bucket_counts)


def _exemplars(exemplars: Any, cache: dict[bytes, tuple[str, Any]], where: str) -> list[Exemplar]:
    """Exemplars; one with an invalid trace or span id length is dropped (it is only a sample)."""
    out: list[Exemplar] = []
    for i, e in enumerate(exemplars):
        trace_id, problem = optional_id(e.trace_id, 16, "")
        span_id, problem2 = optional_id(e.span_id, 8, "")
        if problem or problem2:
            continue
        value = _number(e)
        out.append(
            Exemplar(
                e.time_unix_nano,
                0 if value is None else value,
                attributes(e.filtered_attributes, cache, f"{where}[{i}].filteredAttributes"),
                trace_id,
                span_id,
            )
        )
    return out
