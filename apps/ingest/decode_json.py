"""Decode OTLP/JSON export requests (traces, logs, metrics) into ``apps.otlp.types``.

Pure functions: no Django, no database. Follows the OTLP JSON mapping: lowerCamelCase field names
(the original snake_case names are accepted too, as protobuf's JSON parser does), trace and span ids
as hex strings (not base64), enums as integers or their names, 64-bit integers as strings or
numbers, ``bytesValue`` as base64, unknown fields ignored, missing fields (and a missing or null
AnyValue) take their defaults.

The body is decoded by msgspec straight into the typed structs below (strict=False lets "123" fill
an int field and "NaN"/"Infinity" a float field); AnyValues are left as plain dicts and converted by
``any_value``, which is faster than a 14-field struct per value. Protobuf's ``json_format`` is never
used: it reads the hex ids as base64 and is ~30× slower.

Validation and rejection rules are the protobuf decoder's (imported from ``decode_protobuf``), so
both decoders give equal ``Decoded`` objects for the same request.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

import msgspec
from opentelemetry.proto.logs.v1 import logs_pb2
from opentelemetry.proto.metrics.v1 import metrics_pb2
from opentelemetry.proto.trace.v1 import trace_pb2

from apps.ingest.decode_protobuf import (
    MAX_ANY_DEPTH,
    MAX_ITEMS,
    ZERO_SPAN_ID,
    ZERO_TRACE_ID,
    id_problem,
    log_time_problem,
    point_time_problem,
    span_problem,
    time_window,
    too_deep,
    too_many_items,
)
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

__all__ = ["decode_logs", "decode_metrics", "decode_traces"]

# --- structs (both spellings of every multi-word field; the camelCase one wins when both are set) ---

AnyValueJson = dict[str, Any]


class _S(msgspec.Struct, gc=False, omit_defaults=True):
    pass


class _KeyValue(_S):
    key: str = ""
    value: AnyValueJson | None = None


class _Resource(_S):
    attributes: list[_KeyValue] = []
    droppedAttributesCount: int = 0
    dropped_attributes_count: int = 0


class _Scope(_S):
    name: str = ""
    version: str = ""
    attributes: list[_KeyValue] = []
    droppedAttributesCount: int = 0
    dropped_attributes_count: int = 0


class _Status(_S):
    message: str = ""
    code: int | str = 0


class _Event(_S):
    timeUnixNano: int = 0
    time_unix_nano: int = 0
    name: str = ""
    attributes: list[_KeyValue] = []
    droppedAttributesCount: int = 0
    dropped_attributes_count: int = 0


class _Link(_S):
    traceId: str = ""
    trace_id: str = ""
    spanId: str = ""
    span_id: str = ""
    traceState: str = ""
    trace_state: str = ""
    attributes: list[_KeyValue] = []
    droppedAttributesCount: int = 0
    dropped_attributes_count: int = 0
    flags: int = 0


class _Span(_S):
    traceId: str = ""
    trace_id: str = ""
    spanId: str = ""
    span_id: str = ""
    traceState: str = ""
    trace_state: str = ""
    parentSpanId: str = ""
    parent_span_id: str = ""
    flags: int = 0
    name: str = ""
    kind: int | str = 0
    startTimeUnixNano: int = 0
    start_time_unix_nano: int = 0
    endTimeUnixNano: int = 0
    end_time_unix_nano: int = 0
    attributes: list[_KeyValue] = []
    droppedAttributesCount: int = 0
    dropped_attributes_count: int = 0
    events: list[_Event] = []
    droppedEventsCount: int = 0
    dropped_events_count: int = 0
    links: list[_Link] = []
    droppedLinksCount: int = 0
    dropped_links_count: int = 0
    status: _Status | None = None


class _ScopeSpans(_S):
    scope: _Scope | None = None
    spans: list[_Span] = []
    schemaUrl: str = ""
    schema_url: str = ""


class _ResourceSpans(_S):
    resource: _Resource | None = None
    scopeSpans: list[_ScopeSpans] = []
    scope_spans: list[_ScopeSpans] = []
    schemaUrl: str = ""
    schema_url: str = ""


class _TraceRequest(_S):
    resourceSpans: list[_ResourceSpans] = []
    resource_spans: list[_ResourceSpans] = []


class _LogRecord(_S):
    timeUnixNano: int = 0
    time_unix_nano: int = 0
    observedTimeUnixNano: int = 0
    observed_time_unix_nano: int = 0
    severityNumber: int | str = 0
    severity_number: int | str = 0
    severityText: str = ""
    severity_text: str = ""
    body: AnyValueJson | None = None
    attributes: list[_KeyValue] = []
    droppedAttributesCount: int = 0
    dropped_attributes_count: int = 0
    flags: int = 0
    traceId: str = ""
    trace_id: str = ""
    spanId: str = ""
    span_id: str = ""
    eventName: str = ""
    event_name: str = ""


class _ScopeLogs(_S):
    scope: _Scope | None = None
    logRecords: list[_LogRecord] = []
    log_records: list[_LogRecord] = []
    schemaUrl: str = ""
    schema_url: str = ""


class _ResourceLogs(_S):
    resource: _Resource | None = None
    scopeLogs: list[_ScopeLogs] = []
    scope_logs: list[_ScopeLogs] = []
    schemaUrl: str = ""
    schema_url: str = ""


class _LogsRequest(_S):
    resourceLogs: list[_ResourceLogs] = []
    resource_logs: list[_ResourceLogs] = []


class _Exemplar(_S):
    filteredAttributes: list[_KeyValue] = []
    filtered_attributes: list[_KeyValue] = []
    timeUnixNano: int = 0
    time_unix_nano: int = 0
    asDouble: float | None = None
    as_double: float | None = None
    asInt: int | None = None
    as_int: int | None = None
    spanId: str = ""
    span_id: str = ""
    traceId: str = ""
    trace_id: str = ""


class _PointBase(_S):
    attributes: list[_KeyValue] = []
    startTimeUnixNano: int = 0
    start_time_unix_nano: int = 0
    timeUnixNano: int = 0
    time_unix_nano: int = 0
    flags: int = 0
    exemplars: list[_Exemplar] = []


class _NumberPoint(_PointBase):
    asDouble: float | None = None
    as_double: float | None = None
    asInt: int | None = None
    as_int: int | None = None


class _HistogramPoint(_PointBase):
    count: int = 0
    sum: float | None = None
    bucketCounts: list[int] = []
    bucket_counts: list[int] = []
    explicitBounds: list[float] = []
    explicit_bounds: list[float] = []
    min: float | None = None
    max: float | None = None


class _Buckets(_S):
    offset: int = 0
    bucketCounts: list[int] = []
    bucket_counts: list[int] = []


class _ExponentialPoint(_PointBase):
    count: int = 0
    sum: float | None = None
    scale: int = 0
    zeroCount: int = 0
    zero_count: int = 0
    positive: _Buckets | None = None
    negative: _Buckets | None = None
    min: float | None = None
    max: float | None = None
    zeroThreshold: float = 0.0
    zero_threshold: float = 0.0


class _Quantile(_S):
    quantile: float = 0.0
    value: float = 0.0


class _SummaryPoint(_PointBase):
    count: int = 0
    sum: float = 0.0
    quantileValues: list[_Quantile] = []
    quantile_values: list[_Quantile] = []


class _Gauge(_S):
    dataPoints: list[_NumberPoint] = []
    data_points: list[_NumberPoint] = []


class _Sum(_S):
    dataPoints: list[_NumberPoint] = []
    data_points: list[_NumberPoint] = []
    aggregationTemporality: int | str = 0
    aggregation_temporality: int | str = 0
    isMonotonic: bool = False
    is_monotonic: bool = False


class _Histogram(_S):
    dataPoints: list[_HistogramPoint] = []
    data_points: list[_HistogramPoint] = []
    aggregationTemporality: int | str = 0
    aggregation_temporality: int | str = 0


class _ExponentialHistogram(_S):
    dataPoints: list[_ExponentialPoint] = []
    data_points: list[_ExponentialPoint] = []
    aggregationTemporality: int | str = 0
    aggregation_temporality: int | str = 0


class _Summary(_S):
    dataPoints: list[_SummaryPoint] = []
    data_points: list[_SummaryPoint] = []


class _Metric(_S):
    name: str = ""
    description: str = ""
    unit: str = ""
    gauge: _Gauge | None = None
    sum: _Sum | None = None
    histogram: _Histogram | None = None
    exponentialHistogram: _ExponentialHistogram | None = None
    exponential_histogram: _ExponentialHistogram | None = None
    summary: _Summary | None = None


class _ScopeMetrics(_S):
    scope: _Scope | None = None
    metrics: list[_Metric] = []
    schemaUrl: str = ""
    schema_url: str = ""


class _ResourceMetrics(_S):
    resource: _Resource | None = None
    scopeMetrics: list[_ScopeMetrics] = []
    scope_metrics: list[_ScopeMetrics] = []
    schemaUrl: str = ""
    schema_url: str = ""


class _MetricsRequest(_S):
    resourceMetrics: list[_ResourceMetrics] = []
    resource_metrics: list[_ResourceMetrics] = []


_DECODERS = {cls: msgspec.json.Decoder(cls, strict=False) for cls in (_TraceRequest, _LogsRequest, _MetricsRequest)}


def _parse(cls: type[Any], body: bytes | str, what: str) -> Any:
    try:
        return _DECODERS[cls].decode(body)
    except (msgspec.DecodeError, RecursionError) as exc:
        # msgspec's ValidationError is a DecodeError; its message ends with "- at `$.path`"
        raise DecodeError(f"the body is not a valid OTLP/JSON {what}: {exc}") from None


# --- enums ------------------------------------------------------------------------------------------

_SPAN_KINDS = dict(trace_pb2.Span.SpanKind.items())
_STATUS_CODES = dict(trace_pb2.Status.StatusCode.items())
_SEVERITIES = dict(logs_pb2.SeverityNumber.items())
_TEMPORALITIES = dict(metrics_pb2.AggregationTemporality.items())


def _enum(value: int | str, names: dict[str, int], where: str) -> int:
    if type(value) is int:
        return value
    number = names.get(value)  # type: ignore[arg-type]
    if number is not None:
        return number
    try:
        return int(value)
    except ValueError:
        raise DecodeError(
            f"{where}: unknown value {value!r} (expected a number or one of {', '.join(names)})"
        ) from None


# --- ids --------------------------------------------------------------------------------------------


def _hex(text: str, size: int) -> bytes | None:
    """``text`` as ``size`` bytes, or None when it is not exactly 2*size hex digits."""
    if len(text) != size * 2:
        return None
    try:
        raw = bytes.fromhex(text)
    except ValueError:
        return None
    return raw if len(raw) == size else None


def _hex_problem(text: str, size: int, path: str, optional: bool = False) -> str:
    empty = "empty or " if optional else ""
    return f"{path}: must be {empty}{size * 2} hex characters ({size} bytes), got {len(text)}" + (
        "" if len(text) != size * 2 else " that are not all hex digits"
    )


def _required_id(text: str, size: int, path: str) -> tuple[bytes, str | None]:
    raw = _hex(text, size)
    if raw is None:
        return b"", _hex_problem(text, size, path)
    problem = id_problem(raw, size)
    return raw, (f"{path}: {problem}" if problem else None)


def _optional_id(text: str, size: int, path: str) -> tuple[bytes | None, str | None]:
    if not text:
        return None, None
    raw = _hex(text, size)
    if raw is None:
        return None, _hex_problem(text, size, path, optional=True)
    return (None if raw == bytes(size) else raw), None


# --- attribute values -------------------------------------------------------------------------------

_STRING, _BOOL, _INT, _DOUBLE, _ARRAY, _KVLIST, _BYTES = range(7)
_ANY_FIELDS = {
    "stringValue": _STRING,
    "string_value": _STRING,
    "boolValue": _BOOL,
    "bool_value": _BOOL,
    "intValue": _INT,
    "int_value": _INT,
    "doubleValue": _DOUBLE,
    "double_value": _DOUBLE,
    "arrayValue": _ARRAY,
    "array_value": _ARRAY,
    "kvlistValue": _KVLIST,
    "kvlist_value": _KVLIST,
    "bytesValue": _BYTES,
    "bytes_value": _BYTES,
}


def _bad(where: str, what: str, x: Any) -> DecodeError:
    return DecodeError(f"{where}: {what} must be {_EXPECTED[what]}, got {type(x).__name__} {str(x)[:40]!r}")


_EXPECTED = {
    "stringValue": "a string",
    "boolValue": "true or false",
    "intValue": "an integer (or a string holding one)",
    "doubleValue": 'a number (or "NaN", "Infinity", "-Infinity")',
    "arrayValue": 'an object {"values": [AnyValue, ...]}',
    "kvlistValue": 'an object {"values": [{"key": ..., "value": AnyValue}, ...]}',
    "bytesValue": "a base64 string",
    "AnyValue": "an object",
    "KeyValue": 'an object {"key": ..., "value": AnyValue}',
}


def any_value(v: Any, depth: int, where: str) -> Any:  # noqa: PLR0912 (one flat dispatch is fastest)
    """One OTLP/JSON AnyValue (a dict) as JSON-ready Python; empty or null → None."""
    if v is None:
        return None
    if type(v) is not dict:
        raise _bad(where, "AnyValue", v)
    result: Any = None
    for name, x in v.items():
        kind = _ANY_FIELDS.get(name)
        if kind is None or x is None:
            continue  # unknown field, or null (= unset)
        if kind == _STRING:
            if type(x) is not str:
                raise _bad(where, "stringValue", x)
            result = x
        elif kind == _INT:
            result = _int(x, where)
        elif kind == _BOOL:
            if type(x) is not bool:
                raise _bad(where, "boolValue", x)
            result = x
        elif kind == _DOUBLE:
            result = double_value(_double(x, where))
        elif kind in (_ARRAY, _KVLIST):
            if depth >= MAX_ANY_DEPTH:
                raise too_deep(where)
            values = x.get("values") if type(x) is dict else ()
            if values is None:
                values = []
            if type(values) is not list:
                raise _bad(where, "arrayValue" if kind == _ARRAY else "kvlistValue", x)
            if kind == _ARRAY:
                result = [any_value(item, depth + 1, where) for item in values]
            else:
                result = _kvlist(values, depth + 1, where)
        else:
            if type(x) is not str:
                raise _bad(where, "bytesValue", x)
            result = bytes_value(_base64(x, where))
    return result


def _int(x: Any, where: str) -> int:
    t = type(x)
    if t is int:
        return x  # type: ignore[no-any-return]
    if t is str:
        try:
            return int(x)
        except ValueError:
            pass
    elif t is float and x.is_integer():
        return int(x)
    raise _bad(where, "intValue", x)


def _double(x: Any, where: str) -> float:
    t = type(x)
    if t is float:
        return x  # type: ignore[no-any-return]
    if t is int or t is str:
        try:
            return float(x)
        except (ValueError, OverflowError):
            pass
    raise _bad(where, "doubleValue", x)


def _base64(text: str, where: str) -> bytes:
    padded = text + "=" * (-len(text) % 4)
    try:
        if "-" in text or "_" in text:
            return base64.urlsafe_b64decode(padded)
        return base64.b64decode(padded, validate=True)
    except (binascii.Error, ValueError):
        raise _bad(where, "bytesValue", text) from None


def _kvlist(items: list[Any], depth: int, where: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for item in items:
        if type(item) is not dict:
            raise _bad(where, "KeyValue", item)
        key = item.get("key", "")
        if type(key) is not str:
            raise _bad(where, "KeyValue", item)
        out[key] = any_value(item.get("value"), depth, where)
    return out


def attributes(kvs: list[_KeyValue], where: str) -> dict[str, Any]:
    """A list of KeyValue structs as a dict (duplicate keys: the last one wins)."""
    out: dict[str, Any] = {}
    for kv in kvs:
        v = kv.value
        if v is not None and len(v) == 1:
            # the usual case: one scalar field
            if "stringValue" in v:
                x = v["stringValue"]
                if type(x) is str:
                    out[kv.key] = x
                    continue
            elif "intValue" in v:
                x = v["intValue"]
                if type(x) is str and x.isdigit() and x.isascii():
                    out[kv.key] = int(x)
                    continue
        out[kv.key] = any_value(v, 1, where)
    return out


def _resource(rs: Any, where: str) -> Resource:
    r = rs.resource
    if r is None:
        return Resource({}, 0, rs.schemaUrl or rs.schema_url)
    return Resource(
        attributes(r.attributes, where),
        r.droppedAttributesCount or r.dropped_attributes_count,
        rs.schemaUrl or rs.schema_url,
    )


def _scope(ss: Any, where: str) -> Scope:
    s = ss.scope
    if s is None:
        return Scope("", "", {}, 0, ss.schemaUrl or ss.schema_url)
    return Scope(
        s.name,
        s.version,
        attributes(s.attributes, where),
        s.droppedAttributesCount or s.dropped_attributes_count,
        ss.schemaUrl or ss.schema_url,
    )


# --- traces -----------------------------------------------------------------------------------------


def decode_traces(body: bytes | str) -> Decoded:  # noqa: PLR0912 (the hot loop is inlined)
    """Decode an OTLP/JSON ``ExportTraceServiceRequest`` body."""
    req: _TraceRequest = _parse(_TraceRequest, body, "ExportTraceServiceRequest")
    out = Decoded()
    resource_spans = req.resourceSpans or req.resource_spans
    total = sum(len(ss.spans) for rs in resource_spans for ss in (rs.scopeSpans or rs.scope_spans))
    if total > MAX_ITEMS:
        raise too_many_items(total, "spans")
    lo, hi = time_window()
    append = out.spans.append
    z16 = ZERO_TRACE_ID
    z8 = ZERO_SPAN_ID
    for ri, rs in enumerate(resource_spans):
        rpath = f"resourceSpans[{ri}]"
        resource = _resource(rs, rpath + ".resource")
        for si, ss in enumerate(rs.scopeSpans or rs.scope_spans):
            spath = f"{rpath}.scopeSpans[{si}]"
            scope = _scope(ss, spath + ".scope")
            for i, s in enumerate(ss.spans):
                trace_hex = s.traceId or s.trace_id
                span_hex = s.spanId or s.span_id
                parent_hex = s.parentSpanId or s.parent_span_id
                trace_id = _hex(trace_hex, 16)
                span_id = _hex(span_hex, 8)
                parent = _hex(parent_hex, 8) if parent_hex else b""
                start = s.startTimeUnixNano or s.start_time_unix_nano
                end = s.endTimeUnixNano or s.end_time_unix_nano
                if (
                    trace_id is None
                    or span_id is None
                    or parent is None
                    or trace_id == z16
                    or span_id == z8
                    or not lo <= start <= end <= hi
                ):
                    path = f"{spath}.spans[{i}]"
                    if trace_id is None:
                        problem = _hex_problem(trace_hex, 16, path + ".traceId")
                    elif span_id is None:
                        problem = _hex_problem(span_hex, 8, path + ".spanId")
                    elif parent is None:
                        problem = _hex_problem(parent_hex, 8, path + ".parentSpanId", optional=True)
                    else:
                        problem = (
                            span_problem(path, trace_id, span_id, parent, start=start, end=end, lo=lo, hi=hi) or ""
                        )
                    out.reject(1, problem)
                    continue
                kind = s.kind
                status = s.status
                if status is None:
                    code, message = 0, ""
                else:
                    code, message = status.code, status.message
                    if type(code) is not int:
                        code = _enum(code, _STATUS_CODES, f"{spath}.spans[{i}].status.code")
                links = s.links
                dropped_links = s.droppedLinksCount or s.dropped_links_count
                link_list: list[SpanLink] = []
                if links:
                    link_list, bad = _links(links, f"{spath}.spans[{i}].links")
                    dropped_links += bad
                append(
                    Span(
                        resource,
                        scope,
                        trace_id,
                        span_id,
                        parent if parent and parent != z8 else None,
                        s.name,
                        kind if type(kind) is int else _enum(kind, _SPAN_KINDS, f"{spath}.spans[{i}].kind"),
                        start,
                        end,
                        attributes(s.attributes, f"{spath}.spans[{i}].attributes"),
                        code,
                        message,
                        s.traceState or s.trace_state,
                        s.flags,
                        _events(s.events, f"{spath}.spans[{i}].events") if s.events else [],
                        link_list,
                        s.droppedAttributesCount or s.dropped_attributes_count,
                        s.droppedEventsCount or s.dropped_events_count,
                        dropped_links,
                    )
                )
    return out


def _events(events: list[_Event], where: str) -> list[SpanEvent]:
    return [
        SpanEvent(
            e.timeUnixNano or e.time_unix_nano,
            e.name,
            attributes(e.attributes, where),
            e.droppedAttributesCount or e.dropped_attributes_count,
        )
        for e in events
    ]


def _links(links: list[_Link], where: str) -> tuple[list[SpanLink], int]:
    out: list[SpanLink] = []
    bad = 0
    for link in links:
        trace_id = _hex(link.traceId or link.trace_id, 16)
        span_id = _hex(link.spanId or link.span_id, 8)
        if trace_id is None or span_id is None or id_problem(trace_id, 16) or id_problem(span_id, 8):
            bad += 1
            continue
        out.append(
            SpanLink(
                trace_id,
                span_id,
                link.traceState or link.trace_state,
                attributes(link.attributes, where),
                link.droppedAttributesCount or link.dropped_attributes_count,
                link.flags,
            )
        )
    return out, bad


# --- logs -------------------------------------------------------------------------------------------


def decode_logs(body: bytes | str) -> Decoded:
    """Decode an OTLP/JSON ``ExportLogsServiceRequest`` body."""
    req: _LogsRequest = _parse(_LogsRequest, body, "ExportLogsServiceRequest")
    out = Decoded()
    resource_logs = req.resourceLogs or req.resource_logs
    total = sum(len(sl.logRecords or sl.log_records) for rl in resource_logs for sl in (rl.scopeLogs or rl.scope_logs))
    if total > MAX_ITEMS:
        raise too_many_items(total, "log records")
    lo, hi = time_window()
    append = out.logs.append
    for ri, rl in enumerate(resource_logs):
        rpath = f"resourceLogs[{ri}]"
        resource = _resource(rl, rpath + ".resource")
        for si, sl in enumerate(rl.scopeLogs or rl.scope_logs):
            spath = f"{rpath}.scopeLogs[{si}]"
            scope = _scope(sl, spath + ".scope")
            for i, lr in enumerate(sl.logRecords or sl.log_records):
                path = f"{spath}.logRecords[{i}]"
                trace_id, problem = _optional_id(lr.traceId or lr.trace_id, 16, path + ".traceId")
                span_id: bytes | None = None
                if problem is None:
                    span_id, problem = _optional_id(lr.spanId or lr.span_id, 8, path + ".spanId")
                time_ns = lr.timeUnixNano or lr.time_unix_nano
                observed = lr.observedTimeUnixNano or lr.observed_time_unix_nano
                if problem is None:
                    problem = log_time_problem(path, time_ns, observed, lo, hi)
                if problem is not None:
                    out.reject(1, problem)
                    continue
                severity = lr.severityNumber or lr.severity_number
                append(
                    LogRecord(
                        resource,
                        scope,
                        time_ns,
                        observed,
                        severity if type(severity) is int else _enum(severity, _SEVERITIES, path + ".severityNumber"),
                        lr.severityText or lr.severity_text,
                        any_value(lr.body, 1, path + ".body"),
                        attributes(lr.attributes, path + ".attributes"),
                        trace_id,
                        span_id,
                        lr.flags,
                        lr.eventName or lr.event_name,
                        lr.droppedAttributesCount or lr.dropped_attributes_count,
                    )
                )
    return out


# --- metrics ----------------------------------------------------------------------------------------


def decode_metrics(body: bytes | str) -> Decoded:  # noqa: PLR0912, PLR0915 (five kinds, one loop)
    """Decode an OTLP/JSON ``ExportMetricsServiceRequest`` body."""
    req: _MetricsRequest = _parse(_MetricsRequest, body, "ExportMetricsServiceRequest")
    out = Decoded()
    lo, hi = time_window()
    append = out.metrics.append
    total = 0
    for ri, rm in enumerate(req.resourceMetrics or req.resource_metrics):
        rpath = f"resourceMetrics[{ri}]"
        resource = _resource(rm, rpath + ".resource")
        for si, sm in enumerate(rm.scopeMetrics or rm.scope_metrics):
            spath = f"{rpath}.scopeMetrics[{si}]"
            scope = _scope(sm, spath + ".scope")
            for mi, m in enumerate(sm.metrics):
                mpath = f"{spath}.metrics[{mi}]"
                temporality: int | str = 0
                monotonic = False
                data: Any
                if m.gauge is not None:
                    kind, data, field = MetricKind.GAUGE, m.gauge, "gauge"
                elif m.sum is not None:
                    kind, data, field = MetricKind.SUM, m.sum, "sum"
                    temporality = data.aggregationTemporality or data.aggregation_temporality
                    monotonic = data.isMonotonic or data.is_monotonic
                elif m.histogram is not None:
                    kind, data, field = MetricKind.HISTOGRAM, m.histogram, "histogram"
                    temporality = data.aggregationTemporality or data.aggregation_temporality
                elif (m.exponentialHistogram or m.exponential_histogram) is not None:
                    data = m.exponentialHistogram or m.exponential_histogram
                    kind, field = MetricKind.EXPONENTIAL_HISTOGRAM, "exponentialHistogram"
                    temporality = data.aggregationTemporality or data.aggregation_temporality
                elif m.summary is not None:
                    kind, data, field = MetricKind.SUMMARY, m.summary, "summary"
                else:
                    continue  # a metric without data has no points
                points = data.dataPoints or data.data_points
                total += len(points)
                if total > MAX_ITEMS:
                    raise too_many_items(total, "metric data points")
                if not m.name:
                    out.reject(len(points), f"{mpath}.name: a metric must have a name")
                    continue
                if type(temporality) is not int:
                    temporality = _enum(temporality, _TEMPORALITIES, f"{mpath}.{field}.aggregationTemporality")
                ppath = f"{mpath}.{field}.dataPoints"
                for pi, dp in enumerate(points):
                    path = f"{ppath}[{pi}]"
                    start_ns = dp.startTimeUnixNano or dp.start_time_unix_nano
                    time_ns = dp.timeUnixNano or dp.time_unix_nano
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
                        attributes(dp.attributes, path + ".attributes"),
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
                        point.exemplars = _exemplars(dp.exemplars, path + ".exemplars")
                    append(point)
    return out


def _number(dp: Any) -> int | float | None:
    if dp.asInt is not None:
        return int(dp.asInt)
    if dp.as_int is not None:
        return int(dp.as_int)
    if dp.asDouble is not None:
        return float(dp.asDouble)
    if dp.as_double is not None:
        return float(dp.as_double)
    return None


def _fill_distribution(point: MetricPoint, dp: Any, kind: int) -> None:
    point.count = dp.count
    point.sum = dp.sum
    if kind == MetricKind.SUMMARY:
        point.quantiles = [(q.quantile, q.value) for q in (dp.quantileValues or dp.quantile_values)]
        return
    point.min = dp.min
    point.max = dp.max
    if kind == MetricKind.HISTOGRAM:
        point.bucket_counts = list(dp.bucketCounts or dp.bucket_counts)
        point.explicit_bounds = list(dp.explicitBounds or dp.explicit_bounds)
        return
    point.scale = dp.scale
    point.zero_count = dp.zeroCount or dp.zero_count
    point.zero_threshold = dp.zeroThreshold or dp.zero_threshold
    positive = dp.positive
    negative = dp.negative
    if positive is not None:
        point.positive_offset = positive.offset
        point.positive_counts = list(positive.bucketCounts or positive.bucket_counts)
    if negative is not None:
        point.negative_offset = negative.offset
        point.negative_counts = list(negative.bucketCounts or negative.bucket_counts)


def _exemplars(exemplars: list[_Exemplar], where: str) -> list[Exemplar]:
    """Exemplars; one with an invalid trace or span id is dropped (it is only a sample)."""
    out: list[Exemplar] = []
    for i, e in enumerate(exemplars):
        trace_id, problem = _optional_id(e.traceId or e.trace_id, 16, "")
        span_id, problem2 = _optional_id(e.spanId or e.span_id, 8, "")
        if problem or problem2:
            continue
        value = _number(e)
        out.append(
            Exemplar(
                e.timeUnixNano or e.time_unix_nano,
                0 if value is None else value,
                attributes(e.filteredAttributes or e.filtered_attributes, f"{where}[{i}].filteredAttributes"),
                trace_id,
                span_id,
            )
        )
    return out
