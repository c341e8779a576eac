"""The real OpenTelemetry SDK for each simulated service: tracer, meter and logger providers, OTLP/HTTP exporters.

One set of providers per running service version, each with its own Resource, as separate processes would
have. The exporters are shared per signal and send few requests at a time: Vigil admits only a few concurrent
OTLP requests per process (VIGIL_INGEST_MAX_CONCURRENCY) and answers more with 503, which would make the
SDK back off for seconds. The SDK's own retry on 429/502/503/504 (with Retry-After) still applies.

Metrics are collected by hand (``collect``) at simulated times: the SDK stamps data points with the wall
clock, so the reader rewrites the timestamps to the simulated interval before export. This is how the
backfill writes history through the same OTLP path as live traffic.
"""

from __future__ import annotations

import dataclasses
import socket
import threading
from collections.abc import Callable, Sequence
from typing import Any

import requests
from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import BatchLogRecordProcessor, LogRecordExporter, LogRecordExportResult
from opentelemetry.sdk.metrics import (
    AlwaysOffExemplarFilter,
    Counter,
    Histogram,
    MeterProvider,
    ObservableGauge,
    UpDownCounter,
)
from opentelemetry.sdk.metrics.export import (
    AggregationTemporality,
    MetricExportResult,
    MetricReader,
    MetricsData,
    ResourceMetrics,
    ScopeMetrics,
)
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.sdk.util.instrumentation import InstrumentationScope

NS_PER_SECOND = 1_000_000_000
# Large queues, and the runner waits when too many spans are in flight: the batch processors drop spans when
# their queue is full, and a backfill produces spans faster than a server stores them.
MAX_QUEUE = 50_000
EXPORT_BATCH = 2_000
EXPORT_TIMEOUT_SECONDS = 15.0
# Span requests in flight at once (logs and metrics: one each); 4 in all stays below Vigil's default
# VIGIL_INGEST_MAX_CONCURRENCY of 8, and two let the server store one batch while it reads the next.
SPAN_EXPORTS_AT_ONCE = 2
# Semantic-convention bucket boundaries of http.server.request.duration (seconds).
DURATION_BUCKETS_S = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0)
# Counters and histograms are sent as deltas per simulated interval; up-down counters as running totals.
TEMPORALITY = {
    Counter: AggregationTemporality.DELTA,
    Histogram: AggregationTemporality.DELTA,
    UpDownCounter: AggregationTemporality.CUMULATIVE,
    ObservableGauge: AggregationTemporality.CUMULATIVE,
}


class ExportHealth:
    """What the endpoint answered, shared by all exporters: the runner stops on a refused key or a dead endpoint."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.last_status: int | None = None
        self.refused: int | None = None  # 401/403: the key is wrong, revoked or of another Vigil
        self.consecutive_failures = 0
        self.exports = 0

    def session(self) -> requests.Session:
        """A requests session that notes every HTTP status (the SDK only reports success or failure)."""
        session = requests.Session()
        session.hooks["response"].append(self._on_response)
        return session

    def _on_response(self, response: requests.Response, *args: Any, **kwargs: Any) -> None:
        with self._lock:
            self.last_status = response.status_code
            if response.status_code in (401, 403):
                self.refused = response.status_code

    def record(self, ok: bool) -> None:
        with self._lock:
            self.exports += 1
            self.consecutive_failures = 0 if ok else self.consecutive_failures + 1


class _Gate:
    """Bounds the concurrent exports of every provider through one exporter; gives up at once after a refusal."""

    def __init__(self, inner: Any, health: ExportHealth, failure: Any, success: Any, concurrent: int = 1) -> None:
        self._inner = inner
        self._health = health
        self._failure = failure
        self._success = success
        self._lock = threading.BoundedSemaphore(concurrent)
        self._closed = False

    def send(self, batch: Any, **kwargs: Any) -> Any:
        if self._closed or self._health.refused is not None:
            return self._failure
        with self._lock:
            result = self._inner.export(batch, **kwargs)
        self._health.record(result == self._success)
        return result

    def close(self) -> None:
        """Shut the real exporter (this also aborts a retry that is waiting); later exports fail at once."""
        if not self._closed:
            self._closed = True
            self._inner.shutdown()


class SharedSpanExporter(SpanExporter):
    def __init__(self, inner: OTLPSpanExporter, health: ExportHealth) -> None:
        self.gate = _Gate(inner, health, SpanExportResult.FAILURE, SpanExportResult.SUCCESS, SPAN_EXPORTS_AT_ONCE)
        self.handled = 0  # spans sent (or given up on): the runner keeps the spans in flight bounded

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        result: SpanExportResult = self.gate.send(spans)
        self.handled += len(spans)
        return result

    def shutdown(self) -> None:
        """Per-provider shutdowns must not close the exporter the other providers share (``Exporters.close``)."""


class SharedLogExporter(LogRecordExporter):
    def __init__(self, inner: OTLPLogExporter, health: ExportHealth) -> None:
        self.gate = _Gate(inner, health, LogRecordExportResult.FAILURE, LogRecordExportResult.SUCCESS)

    def export(self, batch: Sequence[Any]) -> LogRecordExportResult:
        result: LogRecordExportResult = self.gate.send(batch)
        return result

    def shutdown(self) -> None:
        """See SharedSpanExporter.shutdown."""

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        return True  # nothing is buffered here


class Exporters:
    """One OTLP/HTTP (protobuf) exporter per signal for the whole shop."""

    def __init__(self, endpoint: str, key: str) -> None:
        self.health = ExportHealth()
        headers = {"Authorization": f"Bearer {key}"}
        base = endpoint.rstrip("/")

        def options() -> dict[str, Any]:
            return {"headers": headers, "timeout": EXPORT_TIMEOUT_SECONDS, "session": self.health.session()}

        self.spans = SharedSpanExporter(OTLPSpanExporter(endpoint=f"{base}/v1/traces", **options()), self.health)
        self.logs = SharedLogExporter(OTLPLogExporter(endpoint=f"{base}/v1/logs", **options()), self.health)
        self._metrics = _Gate(
            OTLPMetricExporter(endpoint=f"{base}/v1/metrics", preferred_temporality=TEMPORALITY, **options()),
            self.health,
            MetricExportResult.FAILURE,
            MetricExportResult.SUCCESS,
        )
        self._pending_metrics: list[Any] = []

    def add_metrics(self, resource_metrics: Sequence[Any]) -> None:
        self._pending_metrics.extend(resource_metrics)

    def flush_metrics(self) -> None:
        """Send the collected intervals of every service in one request (a backfill collects thousands)."""
        if self._pending_metrics:
            batch, self._pending_metrics = self._pending_metrics, []
            self._metrics.send(MetricsData(resource_metrics=merged_by_resource(batch)))

    def close(self) -> None:
        for gate in (self.spans.gate, self.logs.gate, self._metrics):
            gate.close()


def merged_by_resource(resource_metrics: Sequence[ResourceMetrics]) -> list[ResourceMetrics]:
    """One entry per resource, scope and metric, holding the points of every interval collected.

    The SDK's OTLP encoder takes each entry of ``MetricsData.resource_metrics`` to be a distinct resource: of
    several entries with the same resource it sends only the last one. A reader collects once per interval, so
    a batch of intervals must be merged first, or all but the last interval of each service would be lost.
    """
    # resource → (its first entry, scope → (its first entry, metric name → (first metric, every point)))
    merged: dict[Resource, tuple[ResourceMetrics, dict[InstrumentationScope, tuple[ScopeMetrics, dict[str, Any]]]]]
    merged = {}
    for entry in resource_metrics:
        scopes = merged.setdefault(entry.resource, (entry, {}))[1]
        for scope in entry.scope_metrics:
            metrics = scopes.setdefault(scope.scope, (scope, {}))[1]
            for metric in scope.metrics:
                metrics.setdefault(metric.name, (metric, []))[1].extend(metric.data.data_points)
    return [
        dataclasses.replace(
            first,
            scope_metrics=[
                dataclasses.replace(
                    first_scope,
                    metrics=[
                        dataclasses.replace(metric, data=dataclasses.replace(metric.data, data_points=data_points))
                        for metric, data_points in metrics.values()
                    ],
                )
                for first_scope, metrics in scopes.values()
            ],
        )
        for first, scopes in merged.values()
    ]


class SimulatedTimeReader(MetricReader):
    """Collects on demand and stamps the points with the simulated interval instead of the wall clock."""

    def __init__(self, sink: Callable[[Sequence[Any]], None], started_ns: int) -> None:
        super().__init__(preferred_temporality=TEMPORALITY)
        self._sink = sink
        self._started_ns = started_ns
        self._interval = (started_ns, started_ns)

    def collect_interval(self, start_ns: int, end_ns: int) -> None:
        self._interval = (start_ns, end_ns)
        self.collect()

    def _receive_metrics(self, metrics_data: MetricsData, timeout_millis: float = 10_000, **kwargs: Any) -> None:
        self._sink([_restamp(rm, *self._interval, self._started_ns) for rm in metrics_data.resource_metrics])

    def shutdown(self, timeout_millis: float = 30_000, **kwargs: Any) -> None:
        pass


def _restamp(resource_metrics: Any, start_ns: int, end_ns: int, started_ns: int) -> Any:
    scopes = []
    for scope in resource_metrics.scope_metrics:
        metrics = []
        for metric in scope.metrics:
            temporality = getattr(metric.data, "aggregation_temporality", None)
            first = start_ns if temporality == AggregationTemporality.DELTA else started_ns
            points = [
                dataclasses.replace(
                    point, time_unix_nano=end_ns, start_time_unix_nano=first if point.start_time_unix_nano else None
                )
                for point in metric.data.data_points
            ]
            metrics.append(dataclasses.replace(metric, data=dataclasses.replace(metric.data, data_points=points)))
        scopes.append(dataclasses.replace(scope, metrics=metrics))
    return dataclasses.replace(resource_metrics, scope_metrics=scopes)


class _SpanCounter(SpanProcessor):
    """Counts ended spans: the runner flushes every few thousand, and reports the total."""

    def __init__(self, counts: list[int]) -> None:
        self._counts = counts

    def on_end(self, span: ReadableSpan) -> None:
        self._counts[0] += 1


@dataclasses.dataclass
class ServiceTelemetry:
    """One running version of one service: its providers and the instruments every service has."""

    name: str
    version: str
    tracer_provider: TracerProvider
    meter_provider: MeterProvider
    logger_provider: LoggerProvider
    reader: SimulatedTimeReader

    def __post_init__(self) -> None:
        scope = f"shop.{self.name}"
        self.tracer = self.tracer_provider.get_tracer(scope, self.version)
        self.meter = self.meter_provider.get_meter(scope, self.version)
        self.logger = self.logger_provider.get_logger(scope, self.version)
        self.request_duration = self.meter.create_histogram(
            "http.server.request.duration",
            unit="s",
            description="Duration of HTTP server requests.",
            explicit_bucket_boundaries_advisory=DURATION_BUCKETS_S,
        )

    def flush(self) -> None:
        self.tracer_provider.force_flush()
        self.logger_provider.force_flush()

    def shutdown(self) -> None:
        self.tracer_provider.shutdown()
        self.logger_provider.shutdown()
        self.meter_provider.shutdown()


def start_service(
    name: str, version: str, *, host: str, exporters: Exporters, started_ns: int, span_counts: list[int]
) -> ServiceTelemetry:
    """Providers for one service version, as its process would create them at start."""
    resource = Resource.create(
        {
            "service.name": name,
            "service.version": version,
            "service.namespace": "shop",
            "service.instance.id": host,
            "deployment.environment": "demo",
            "deployment.environment.name": "demo",
            "host.name": host,
        }
    )
    tracer_provider = TracerProvider(resource=resource)
    tracer_provider.add_span_processor(_SpanCounter(span_counts))
    tracer_provider.add_span_processor(
        BatchSpanProcessor(
            exporters.spans,
            max_queue_size=MAX_QUEUE,
            max_export_batch_size=EXPORT_BATCH,
            schedule_delay_millis=1_000,
        )
    )
    logger_provider = LoggerProvider(resource=resource)
    logger_provider.add_log_record_processor(
        BatchLogRecordProcessor(
            exporters.logs, max_queue_size=MAX_QUEUE, max_export_batch_size=EXPORT_BATCH, schedule_delay_millis=1_000
        )
    )
    reader = SimulatedTimeReader(exporters.add_metrics, started_ns)
    # Exemplars would carry wall-clock times next to simulated ones; the demo does without them.
    meter_provider = MeterProvider(
        metric_readers=[reader], resource=resource, exemplar_filter=AlwaysOffExemplarFilter()
    )
    return ServiceTelemetry(name, version, tracer_provider, meter_provider, logger_provider, reader)


def local_host_suffix() -> str:
    """Part of the simulated host names, so two machines' demos are told apart."""
    return socket.gethostname().split(".")[0][:12] or "local"
