"""The demo's small parts without a server: durations, the daily curve, the deploy time, the progress bar, the
metric batches."""

from __future__ import annotations

import io
import time

import pytest
from opentelemetry.exporter.otlp.proto.common.metrics_encoder import encode_metrics
from opentelemetry.sdk.metrics import Counter, MeterProvider
from opentelemetry.sdk.metrics.export import AggregationTemporality, InMemoryMetricReader, MetricsData
from opentelemetry.sdk.resources import Resource

from apps.demo.progress import Progress
from apps.demo.telemetry import merged_by_resource
from apps.demo.traffic import NS_PER_SECOND, day_factor, deploy_time, parse_duration


@pytest.mark.parametrize(("text", "seconds"), [("24h", 86_400), ("30m", 1_800), ("90s", 90), ("1d", 86_400),
                                               ("0", 0), ("1.5h", 5_400)])  # fmt: skip
def test_durations(text: str, seconds: int) -> None:
    assert parse_duration(text) == seconds


def test_a_bad_duration_is_refused() -> None:
    with pytest.raises(ValueError, match="not a duration"):
        parse_duration("soon")


def _local(hour: int) -> int:
    moment = time.localtime()
    return int(time.mktime((moment.tm_year, moment.tm_mon, moment.tm_mday, hour, 0, 0, 0, 0, -1))) * NS_PER_SECOND


def test_traffic_is_low_at_night_and_peaks_midday() -> None:
    factors = {hour: day_factor(_local(hour)) for hour in range(24)}
    assert min(factors, key=factors.__getitem__) == 1
    assert max(factors, key=factors.__getitem__) == 13
    assert factors[13] > 5 * factors[1]
    assert sum(factors.values()) / 24 == pytest.approx(1.0, rel=0.02)  # the day's mean is the configured average


def test_the_deploy_lands_inside_the_backfill() -> None:
    now = 10**18
    hour = 3600 * NS_PER_SECOND
    assert deploy_time(now, 86_400, None) == now - 2 * hour
    assert deploy_time(now, 1_200, None) == now - 600 * NS_PER_SECOND  # half of a 20-minute backfill
    assert deploy_time(now, 0, None) == now - 2 * hour
    assert deploy_time(now, 86_400, 3600) == now - hour


def test_progress_without_a_terminal_prints_a_line_every_tenth() -> None:
    stream = io.StringIO()
    progress = Progress(1440, "backfill", stream, unit="min")
    for _ in range(1440):
        progress.advance()
    progress.finish("done")
    lines = stream.getvalue().splitlines()
    assert len(lines) == 10
    assert lines[0].startswith("backfill  10% 144/1440 min  elapsed")
    assert "ETA" in lines[0]
    assert lines[-1].startswith("backfill 100% 1440/1440 min")
    assert lines[-1].endswith("done")


def test_a_batch_of_intervals_is_sent_whole() -> None:
    reader = InMemoryMetricReader(preferred_temporality={Counter: AggregationTemporality.DELTA})
    meter = MeterProvider(metric_readers=[reader], resource=Resource.create({"service.name": "checkout"})).get_meter(
        "shop"
    )
    orders, carts = meter.create_counter("orders.placed"), meter.create_counter("carts.opened")
    intervals = []
    for placed in (3, 0, 5):  # three collections, as the demo makes one per simulated interval
        if placed:
            orders.add(placed, {"payment.method": "card"})
        carts.add(1)
        collected = reader.get_metrics_data()
        assert collected is not None
        intervals.extend(collected.resource_metrics)

    def sent(resource_metrics: list) -> dict[str, list[int]]:
        [resource] = encode_metrics(MetricsData(resource_metrics=resource_metrics)).resource_metrics
        return {m.name: [p.as_int for p in m.sum.data_points] for s in resource.scope_metrics for m in s.metrics}

    # The SDK's encoder keeps only the last entry of a resource: unmerged, two intervals would be lost.
    assert sent(intervals) == {"orders.placed": [5], "carts.opened": [1]}
    assert sent(merged_by_resource(intervals)) == {"orders.placed": [3, 5], "carts.opened": [1, 1, 1]}
