"""The real OpenTelemetry Python SDK sends logs (correlated with spans) and metrics of every kind over
OTLP/HTTP and OTLP/gRPC; the logs and metrics APIs return them field by field as sent. Summaries,
which the Python SDK cannot produce, go in a protobuf request of our own."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from opentelemetry._logs import SeverityNumber
from opentelemetry.exporter.otlp.proto.grpc._log_exporter import OTLPLogExporter as GrpcLogExporter
from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter as GrpcMetricExporter
from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter as HttpLogExporter
from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter as HttpMetricExporter
from opentelemetry.metrics import CallbackOptions, Observation
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
    ExportMetricsServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.metrics.v1 import metrics_pb2
from opentelemetry.sdk._logs import LoggerProvider, ReadableLogRecord
from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter, SimpleLogRecordProcessor
from opentelemetry.sdk.metrics import (
    Counter,
    Histogram,
    MeterProvider,
    ObservableCounter,
    ObservableGauge,
    ObservableUpDownCounter,
    UpDownCounter,
)
from opentelemetry.sdk.metrics.export import AggregationTemporality, InMemoryMetricReader, MetricsData
from opentelemetry.sdk.metrics.view import ExponentialBucketHistogramAggregation, View
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider

from tests.conftest import Tenant, session_client

_shutdown: list[Any] = []


@pytest.fixture(autouse=True)
def _shutdown_providers() -> Iterator[None]:
    yield
    while _shutdown:  # now, not at interpreter exit when pytest has closed the log streams
        _shutdown.pop().shutdown()


def _value(value: Any) -> Any:
    if isinstance(value, tuple | list):
        return [_value(v) for v in value]
    if isinstance(value, dict):
        return {k: _value(v) for k, v in value.items()}
    return value


def _api(tenant: Tenant, path: str, **params: Any) -> Any:
    url = f"/api/v1/orgs/{tenant.slug}/projects/{tenant.project.slug}/{path}"
    response = session_client(tenant.owner).get(url, params)
    assert response.status_code == 200, response.content
    return response.json()


# --- logs -------------------------------------------------------------------------------------------------------


def produce_logs(exporter: Any) -> tuple[list[ReadableLogRecord], int]:
    """Logs through the SDK's logger, two of them inside a span; returns what was sent and the trace id."""
    sent = InMemoryLogRecordExporter()
    provider = LoggerProvider(resource=Resource.create({"service.name": "checkout", "service.version": "2.0.0"}))
    provider.add_log_record_processor(SimpleLogRecordProcessor(exporter))
    provider.add_log_record_processor(SimpleLogRecordProcessor(sent))
    tracing = TracerProvider(resource=Resource.create({"service.name": "checkout"}))
    _shutdown.extend([provider, tracing])
    logger = provider.get_logger("shop.checkout", "2.0")
    if True:
        with tracing.get_tracer("shop").start_as_current_span("POST /pay") as span:
            logger.emit(
                body="payment declined",
                severity_number=SeverityNumber.ERROR,
                severity_text="ERROR",
                attributes={"card.brand": "visa", "amount": 99.5, "attempt": 2, "ok": False, "tags": ("a", "b")},
            )
            logger.emit(body="cart 3 loaded", severity_number=SeverityNumber.WARN, severity_text="WARN")
            trace_id = span.get_span_context().trace_id
        logger.emit(
            body={"event": "login", "user": {"id": 42, "roles": ["admin"]}},
            severity_number=SeverityNumber.INFO,
            event_name="user.login",
        )
        logger.emit(body="cache warm", severity_number=SeverityNumber.DEBUG2, severity_text="DEBUG")
    provider.force_flush()
    return list(sent.get_finished_logs()), trace_id


def assert_same_log(sent: ReadableLogRecord, stored: dict[str, Any]) -> None:
    record = sent.log_record
    assert stored["time_unix_nano"] == (record.timestamp or 0)
    assert stored["observed_time_unix_nano"] == record.observed_timestamp
    assert stored["severity_number"] == record.severity_number.value
    assert stored["severity_text"] == (record.severity_text or "")
    assert stored["body"] == _value(record.body)
    assert stored["attributes"] == {k: _value(v) for k, v in (record.attributes or {}).items()}
    assert stored["trace_id"] == (format(record.trace_id, "032x") if record.trace_id else None)
    assert stored["span_id"] == (format(record.span_id, "016x") if record.span_id else None)
    assert stored["flags"] == int(record.trace_flags or 0)
    assert stored["event_name"] == (record.event_name or "")
    assert stored["resource"] == dict(sent.resource.attributes)
    assert stored["service"] == "checkout"
    assert sent.instrumentation_scope is not None
    assert stored["scope"]["name"] == sent.instrumentation_scope.name
    assert stored["scope"]["version"] == (sent.instrumentation_scope.version or "")
    assert stored["dropped_attributes_count"] == sent.dropped_attributes


def read_back_logs(tenant: Tenant, sent: list[ReadableLogRecord], trace_id: int) -> None:
    body = _api(tenant, "logs/", limit=1000)
    assert body["count"] == len(sent)
    canonical = json.JSONEncoder(sort_keys=True).encode
    stored = {(log["observed_time_unix_nano"], canonical(log["body"])): log for log in body["results"]}
    for record in sent:
        key = (record.log_record.observed_timestamp, canonical(_value(record.log_record.body)))
        assert_same_log(record, stored[key])
    correlated = _api(tenant, "logs/", trace_id=format(trace_id, "032x"))["results"]
    assert [log["body"] for log in correlated] == ["cart 3 loaded", "payment declined"]
    assert [log["body"] for log in _api(tenant, "logs/", q="DECLINED")["results"]] == ["payment declined"]
    assert [log["severity_text"] for log in _api(tenant, "logs/", severity_min="warn")["results"]] == ["WARN", "ERROR"]
    first = _api(tenant, "logs/", limit=3)
    second = session_client(tenant.owner).get(first["next"]).json()
    assert [log["cursor"] for log in first["results"] + second["results"]] == [log["cursor"] for log in body["results"]]
    assert second["next"] is None


def test_logs_over_http(alice: Tenant, asgi_url: str, ingest_key: str) -> None:
    exporter = HttpLogExporter(endpoint=f"{asgi_url}/v1/logs", headers={"Authorization": f"Bearer {ingest_key}"})
    sent, trace_id = produce_logs(exporter)
    assert len(sent) == 4
    read_back_logs(alice, sent, trace_id)
    # a retried export (as after a lost response) stores nothing twice
    assert exporter.export(sent).name == "SUCCESS"
    read_back_logs(alice, sent, trace_id)


def test_logs_over_grpc(alice: Tenant, grpc_endpoint: str, ingest_key: str) -> None:
    exporter = GrpcLogExporter(
        endpoint=grpc_endpoint, insecure=True, headers=(("authorization", f"Bearer {ingest_key}"),)
    )
    sent, trace_id = produce_logs(exporter)
    read_back_logs(alice, sent, trace_id)


# --- metrics ----------------------------------------------------------------------------------------------------

ALL_INSTRUMENTS = (Counter, UpDownCounter, Histogram, ObservableCounter, ObservableUpDownCounter, ObservableGauge)


def produce_metrics(exporter: Any, temporality: AggregationTemporality) -> list[MetricsData]:
    """Every instrument kind, collected twice with the in-memory reader and sent by the real exporter."""
    reader = InMemoryMetricReader(preferred_temporality=dict.fromkeys(ALL_INSTRUMENTS, temporality))
    provider = MeterProvider(
        metric_readers=[reader],
        resource=Resource.create({"service.name": "checkout", "host.name": "web-1"}),
        views=[View(instrument_name="payload.size", aggregation=ExponentialBucketHistogramAggregation(max_size=20))],
    )
    tracing = TracerProvider()
    _shutdown.extend([provider, tracing])
    meter = provider.get_meter("shop.metrics", "1.2")
    requests_total = meter.create_counter("http.server.requests", unit="1", description="requests served")
    in_flight = meter.create_up_down_counter("http.server.active_requests", unit="{request}")
    duration = meter.create_histogram("http.server.duration", unit="ms", description="request time")
    payload = meter.create_histogram("payload.size", unit="By")
    depth = {"high": 42.5, "low": 7}

    def gauge(options: CallbackOptions) -> list[Observation]:
        return [Observation(value, {"queue": name}) for name, value in depth.items()]

    meter.create_observable_gauge("queue.depth", callbacks=[gauge], unit="{job}")
    batches = []
    for round_ in range(2):
        with tracing.get_tracer("shop").start_as_current_span("GET /cart"):  # sampled: exemplars carry its ids
            requests_total.add(5 + round_, {"http.route": "/pay", "http.response.status_code": 200})
            duration.record(12.5, {"http.route": "/pay"})
        requests_total.add(3, {"http.route": "/cart", "http.response.status_code": 200})
        in_flight.add(4)
        in_flight.add(-1 - round_)
        for value in (7.0, 250.0, 1200.0 + round_):
            duration.record(value, {"http.route": "/pay"})
        for value in (0.5, 3.0, 100.0, 0.0):  # the SDK refuses negative histogram values
            payload.record(value * (round_ + 1))
        depth["high"] += 1
        data = reader.get_metrics_data()
        assert data is not None
        assert exporter.export(data).name == "SUCCESS"
        batches.append(data)
        time.sleep(0.01)
    return batches


def _exemplars(dp: Any) -> list[dict[str, Any]]:
    return [
        {
            "time_unix_nano": e.time_unix_nano,
            "value": e.value,
            "filtered_attributes": dict(e.filtered_attributes or {}),
            "trace_id": format(e.trace_id, "032x") if e.trace_id else None,
            "span_id": format(e.span_id, "016x") if e.span_id else None,
        }
        for e in dp.exemplars or []
    ]


def expected_point(kind: str, dp: Any) -> dict[str, Any]:
    point: dict[str, Any] = {
        "time_unix_nano": dp.time_unix_nano,
        "start_time_unix_nano": dp.start_time_unix_nano or 0,
        "flags": getattr(dp, "flags", 0) or 0,
        "exemplars": _exemplars(dp),
    }
    if kind in ("gauge", "sum"):
        point["value"] = dp.value
    elif kind == "histogram":
        point.update(count=dp.count, sum=dp.sum, min=dp.min, max=dp.max, bucket_counts=list(dp.bucket_counts),
                     explicit_bounds=list(dp.explicit_bounds))  # fmt: skip
    else:
        point.update(
            count=dp.count, sum=dp.sum, min=dp.min, max=dp.max, scale=dp.scale, zero_count=dp.zero_count,
            zero_threshold=getattr(dp, "zero_threshold", 0.0),
            positive={"offset": dp.positive.offset, "bucket_counts": list(dp.positive.bucket_counts)},
            negative={"offset": dp.negative.offset, "bucket_counts": list(dp.negative.bucket_counts)},
        )  # fmt: skip
    return point


_KINDS = {"Gauge": "gauge", "Sum": "sum", "Histogram": "histogram", "ExponentialHistogram": "exponential_histogram"}


def read_back_metrics(tenant: Tenant, batches: list[MetricsData]) -> set[str]:
    seen_kinds = set()
    window = {"from": str(time.time_ns() - 3600 * 10**9), "to": str(time.time_ns() + 60 * 10**9)}
    expected: dict[tuple[str, str], list[dict[str, Any]]] = {}
    meta: dict[str, dict[str, Any]] = {}
    for data in batches:
        for rm in data.resource_metrics:
            for sm in rm.scope_metrics:
                for metric in sm.metrics:
                    kind = _KINDS[type(metric.data).__name__]
                    seen_kinds.add(kind)
                    temporality = getattr(metric.data, "aggregation_temporality", None)
                    meta[metric.name] = {
                        "kind": kind,
                        "unit": metric.unit or "",
                        "description": metric.description or "",
                        "temporality": temporality.value if temporality is not None else 0,
                        "monotonic": bool(getattr(metric.data, "is_monotonic", False)),
                        "resource": dict(rm.resource.attributes),
                        "scope": {"name": sm.scope.name, "version": sm.scope.version or ""},
                    }
                    for dp in metric.data.data_points:
                        key = (metric.name, repr(sorted((dp.attributes or {}).items())))
                        expected.setdefault(key, []).append(expected_point(kind, dp))
    for name, info in meta.items():
        stored = _api(tenant, "metrics/series/", name=name, **window)["series"]
        assert stored, name
        for series in stored:
            for field, value in info.items():
                assert series[field] == value, (name, field)
            key = (name, repr(sorted((k, v) for k, v in series["attributes"].items())))
            points = expected.pop(key)
            assert series["points"] == sorted(points, key=lambda p: p["time_unix_nano"]), name
            values = [p.get("value") for p in series["points"]]
            assert [type(v) for v in values] == [type(p.get("value")) for p in points]  # ints stay ints
    assert not expected, list(expected)
    return seen_kinds


@pytest.mark.parametrize("temporality", [AggregationTemporality.CUMULATIVE, AggregationTemporality.DELTA])
def test_metrics_over_http(alice: Tenant, asgi_url: str, ingest_key: str, temporality: AggregationTemporality) -> None:
    exporter = HttpMetricExporter(endpoint=f"{asgi_url}/v1/metrics", headers={"Authorization": f"Bearer {ingest_key}"})
    batches = produce_metrics(exporter, temporality)
    kinds = read_back_metrics(alice, batches)
    assert kinds == {"gauge", "sum", "histogram", "exponential_histogram"}
    assert exporter.export(batches[0]).name == "SUCCESS"  # a retry stores nothing twice
    read_back_metrics(alice, batches)
    names = _api(alice, "metrics/names/", prefix="http.server.")["names"]
    assert [n["name"] for n in names] == ["http.server.active_requests", "http.server.duration",
                                          "http.server.requests"]  # fmt: skip
    rate = _api(alice, "metrics/series/", name="http.server.requests", agg="rate", **{"attr.http.route": "/pay"})
    increase = sum(p["value"] * 60 for p in rate["series"][0]["points"])
    assert increase == pytest.approx(11)  # 5 + 6 requests, whatever the temporality
    p99 = _api(alice, "metrics/series/", name="http.server.duration", agg="p99", step=3600)["series"][0]["points"]
    assert 1000 < p99[0]["value"] <= 1201


def test_metrics_over_grpc(alice: Tenant, grpc_endpoint: str, ingest_key: str) -> None:
    exporter = GrpcMetricExporter(
        endpoint=grpc_endpoint, insecure=True, headers=(("authorization", f"Bearer {ingest_key}"),)
    )
    batches = produce_metrics(exporter, AggregationTemporality.CUMULATIVE)
    assert read_back_metrics(alice, batches) == {"gauge", "sum", "histogram", "exponential_histogram"}


def _summary_request(name: str, now: int, attributes: dict[str, str]) -> ExportMetricsServiceRequest:
    request = ExportMetricsServiceRequest()
    rm = request.resource_metrics.add()
    rm.resource.attributes.append(KeyValue(key="service.name", value=AnyValue(string_value="legacy")))
    sm = rm.scope_metrics.add()
    sm.scope.name = "prometheus.bridge"
    metric = sm.metrics.add()
    metric.name, metric.unit, metric.description = name, "s", "request latency"
    dp = metric.summary.data_points.add()
    dp.start_time_unix_nano, dp.time_unix_nano = now - 60 * 10**9, now
    dp.count, dp.sum = 120, 33.5
    for key, value in attributes.items():
        dp.attributes.append(KeyValue(key=key, value=AnyValue(string_value=value)))
    for quantile, value in ((0.5, 0.21), (0.9, 0.48), (0.99, 1.7)):
        dp.quantile_values.append(metrics_pb2.SummaryDataPoint.ValueAtQuantile(quantile=quantile, value=value))
    return request


def _post(url: str, key: str, request: ExportMetricsServiceRequest) -> ExportMetricsServiceResponse:
    response = requests.post(
        f"{url}/v1/metrics",
        data=request.SerializeToString(),
        headers={"Content-Type": "application/x-protobuf", "Authorization": f"Bearer {key}"},
        timeout=10,
    )
    assert response.status_code == 200, response.content
    return ExportMetricsServiceResponse.FromString(response.content)


def test_summary_from_a_request_of_our_own(alice: Tenant, asgi_url: str, ingest_key: str) -> None:
    now = time.time_ns()
    reply = _post(asgi_url, ingest_key, _summary_request("rpc.latency", now, {"method": "Get"}))
    assert not reply.HasField("partial_success")
    stored = _api(alice, "metrics/series/", name="rpc.latency", **{"attr.method": "Get"})["series"]
    assert len(stored) == 1
    series = stored[0]
    assert (series["kind"], series["unit"], series["description"]) == ("summary", "s", "request latency")
    assert series["resource"] == {"service.name": "legacy"}
    assert series["scope"] == {"name": "prometheus.bridge", "version": ""}
    assert series["points"] == [
        {
            "time_unix_nano": now,
            "start_time_unix_nano": now - 60 * 10**9,
            "flags": 0,
            "count": 120,
            "sum": 33.5,
            "quantile_values": [
                {"quantile": 0.5, "value": 0.21},
                {"quantile": 0.9, "value": 0.48},
                {"quantile": 0.99, "value": 1.7},
            ],
            "exemplars": [],
        }
    ]


def test_series_cap_answers_partial_success_naming_the_metric(
    alice: Tenant, asgi_url: str, ingest_key: str, settings: Any
) -> None:
    now = time.time_ns()
    _post(asgi_url, ingest_key, _summary_request("rpc.latency", now, {"method": "Get"}))
    settings.VIGIL_METRICS_MAX_SERIES_PER_PROJECT = 1
    reply = _post(asgi_url, ingest_key, _summary_request("rpc.latency", now, {"method": "Put"}))
    assert reply.partial_success.rejected_data_points == 1
    assert reply.partial_success.error_message == (
        "series limit 1 reached for this project; rejected 1 points of new series of rpc.latency"
    )
    assert len(_api(alice, "metrics/series/", name="rpc.latency")["series"]) == 1
