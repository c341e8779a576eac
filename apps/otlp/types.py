"""Decoded OTLP telemetry: what the ingest decoders produce and the store writers consume.

Both decoders (protobuf and JSON) produce exactly these types, so every later
step (limits, scrubbing, sampling, writing) has one input shape. Attribute
values are JSON-ready: str, bool, int, float, list, dict (a kvlist), or
``{"$bytes": "<base64>"}`` for OTLP bytes values (see ``values.py``).
Ids are raw bytes (16-byte trace ids, 8-byte span ids).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from apps.otlp.span import Span

Attributes = dict[str, Any]


class SpanKind:
    UNSPECIFIED = 0
    INTERNAL = 1
    SERVER = 2
    CLIENT = 3
    PRODUCER = 4
    CONSUMER = 5


class StatusCode:
    UNSET = 0
    OK = 1
    ERROR = 2


class MetricKind:
    GAUGE = 1
    SUM = 2
    HISTOGRAM = 3
    EXPONENTIAL_HISTOGRAM = 4
    SUMMARY = 5


@dataclass(frozen=True, slots=True)
class Resource:
    attributes: Attributes
    dropped_attributes_count: int = 0
    schema_url: str = ""

    @property
    def service_name(self) -> str:
        name = self.attributes.get("service.name")
        return name if isinstance(name, str) and name else "unknown_service"


@dataclass(frozen=True, slots=True)
class Scope:
    name: str = ""
    version: str = ""
    attributes: Attributes = field(default_factory=dict)
    dropped_attributes_count: int = 0
    schema_url: str = ""


@dataclass(slots=True)
class SpanEvent:
    time_ns: int
    name: str
    attributes: Attributes
    dropped_attributes_count: int = 0


@dataclass(slots=True)
class SpanLink:
    trace_id: bytes
    span_id: bytes
    trace_state: str
    attributes: Attributes
    dropped_attributes_count: int = 0
    flags: int = 0


# ``Span`` (imported above) is a compiled type, apps/otlp/span.pyx says why; its fields, order and defaults are
# those of a dataclass, listed in apps/otlp/span.pyi.


@dataclass(slots=True)
class LogRecord:
    resource: Resource
    scope: Scope
    time_ns: int
    observed_time_ns: int
    severity_number: int
    severity_text: str
    body: Any  # any attribute value, or None when the record has no body
    attributes: Attributes
    trace_id: bytes | None = None
    span_id: bytes | None = None
    flags: int = 0
    event_name: str = ""
    dropped_attributes_count: int = 0


@dataclass(slots=True)
class Exemplar:
    time_ns: int
    value: int | float
    attributes: Attributes  # OTLP's filtered_attributes
    trace_id: bytes | None = None
    span_id: bytes | None = None


@dataclass(slots=True)
class MetricPoint:
    """One data point of any of the five OTLP metric kinds; fields not used by a kind stay at their defaults."""

    resource: Resource
    scope: Scope
    name: str
    description: str
    unit: str
    kind: int
    attributes: Attributes
    start_ns: int
    time_ns: int
    flags: int = 0
    # sum only
    temporality: int = 0  # 0 unspecified, 1 delta, 2 cumulative (also set for histograms)
    monotonic: bool = False
    # gauge and sum
    value: int | float | None = None
    # histogram, exponential histogram, summary
    count: int = 0
    sum: float | None = None
    min: float | None = None
    max: float | None = None
    bucket_counts: list[int] = field(default_factory=list)
    explicit_bounds: list[float] = field(default_factory=list)
    # exponential histogram
    scale: int = 0
    zero_count: int = 0
    zero_threshold: float = 0.0
    positive_offset: int = 0
    positive_counts: list[int] = field(default_factory=list)
    negative_offset: int = 0
    negative_counts: list[int] = field(default_factory=list)
    # summary: (quantile, value) pairs
    quantiles: list[tuple[float, float]] = field(default_factory=list)
    exemplars: list[Exemplar] = field(default_factory=list)


class DecodeError(ValueError):
    """The request is not valid OTLP; the message says what is wrong (answered 400 / INVALID_ARGUMENT)."""


@dataclass
class Decoded:
    """One export request, decoded. ``rejected`` counts items refused while decoding, with a reason."""

    spans: list[Span] = field(default_factory=list)
    logs: list[LogRecord] = field(default_factory=list)
    metrics: list[MetricPoint] = field(default_factory=list)
    rejected: int = 0
    rejection_reason: str = ""
    #: (longest string attribute value in UTF-8 bytes, most attributes in one map), set by the compiled trace
    #: decoder when no string holds NUL and every attribute value is a scalar: then ``limits.limit_decoded``
    #: can tell from these two numbers alone that it would change nothing. None: it must look.
    limits_hint: tuple[int, int] | None = field(default=None, compare=False)

    def reject(self, count: int, reason: str) -> None:
        self.rejected += count
        if not self.rejection_reason:
            self.rejection_reason = reason
