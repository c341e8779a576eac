"""Per-series rollups (minute and hour): what one bucket of one series holds, and how buckets merge.

The writer feeds them only the points its INSERT really added, so a retried point is counted once.
Cumulative streams are first turned into deltas against the series' previous point
(``contribution``): the increase of a monotonic sum, the bucket counts added to a histogram.
A count that goes down, or a new start time, is a reset: the point counts whole.

Explicit-bucket histograms merge element-wise while the bounds are equal. When a series changes
its bounds, a bucket keeps the bounds it started with: points with other bounds still count in
``hist_count``/``hist_sum``/min/max and in ``skipped_points``, but not in ``bucket_counts``, so a
percentile of that bucket describes the points with the bucket's bounds (and says how many it left
out). Exponential histograms merge at the smaller scale, which is exact.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

from apps.metrics.distributions import ExpHistogram, add_counts, subtract_counts
from apps.otlp.types import MetricKind

CUMULATIVE = 2


@dataclass
class Rollup:
    points: int = 0
    last_time_ns: int = 0
    value_min: float | None = None
    value_max: float | None = None
    value_sum: float | None = None
    value_last: float | None = None
    increase: float | None = None
    hist_count: int | None = None
    hist_sum: float | None = None
    hist_min: float | None = None
    hist_max: float | None = None
    explicit_bounds: list[float] | None = None
    bucket_counts: list[int] | None = None
    skipped_points: int = 0
    exp_scale: int | None = None
    exp_zero_count: int | None = None
    exp_positive_offset: int | None = None
    exp_positive_counts: list[int] | None = None
    exp_negative_offset: int | None = None
    exp_negative_counts: list[int] | None = None

    def exp(self) -> ExpHistogram | None:
        if self.exp_scale is None:
            return None
        return ExpHistogram.from_dense(
            self.exp_scale, self.exp_zero_count or 0, 0.0, self.exp_positive_offset or 0,
            self.exp_positive_counts or [], self.exp_negative_offset or 0, self.exp_negative_counts or [],
        )  # fmt: skip

    def set_exp(self, histogram: ExpHistogram) -> None:
        self.exp_scale = histogram.scale
        self.exp_zero_count = histogram.zero_count
        self.exp_positive_offset, self.exp_positive_counts = ExpHistogram.to_dense(histogram.positive)
        self.exp_negative_offset, self.exp_negative_counts = ExpHistogram.to_dense(histogram.negative)

    def merge(self, other: Rollup) -> None:
        """Add ``other`` (a later or concurrent part of the same bucket) into this one."""
        if other.points == 0:
            return
        if other.last_time_ns >= self.last_time_ns:
            self.last_time_ns = other.last_time_ns
            if other.value_last is not None:
                self.value_last = other.value_last
        self.points += other.points
        self.value_min = _pick(min, self.value_min, other.value_min)
        self.value_max = _pick(max, self.value_max, other.value_max)
        self.value_sum = _add(self.value_sum, other.value_sum)
        self.increase = _add(self.increase, other.increase)
        self.hist_count = _add(self.hist_count, other.hist_count)
        self.hist_sum = _add(self.hist_sum, other.hist_sum)
        self.hist_min = _pick(min, self.hist_min, other.hist_min)
        self.hist_max = _pick(max, self.hist_max, other.hist_max)
        if other.bucket_counts is not None:
            if self.bucket_counts is None:
                self.explicit_bounds, self.bucket_counts = other.explicit_bounds, list(other.bucket_counts)
                self.skipped_points += other.skipped_points
            elif self.explicit_bounds == other.explicit_bounds:
                self.bucket_counts = add_counts(self.bucket_counts, other.bucket_counts)
                self.skipped_points += other.skipped_points
            else:
                self.skipped_points += other.points
        other_exp = other.exp()
        if other_exp is not None:
            mine = self.exp()
            self.set_exp(other_exp if mine is None else mine.merged(other_exp))

    def row(self) -> tuple[Any, ...]:
        return tuple(getattr(self, f.name) for f in fields(self))


ROLLUP_COLUMNS = tuple(f.name for f in fields(Rollup))


def _pick(fn: Any, a: Any, b: Any) -> Any:
    if a is None:
        return b
    if b is None:
        return a
    return fn(a, b)


def _add(a: Any, b: Any) -> Any:
    if a is None:
        return b
    if b is None:
        return a
    return a + b


@dataclass(frozen=True)
class Series:
    kind: int
    temporality: int
    monotonic: bool


def contribution(series: Series, point: dict[str, Any], previous: dict[str, Any] | None) -> Rollup:
    """One stored point as a rollup of one point; ``previous`` is the series' point before it (raw)."""
    r = Rollup(points=1, last_time_ns=point["time_ns"])
    kind = series.kind
    cumulative = series.temporality == CUMULATIVE
    prev: dict[str, Any] = previous or {}
    same_stream = previous is not None and prev["start_time_ns"] == point["start_time_ns"]
    if kind in (MetricKind.GAUGE, MetricKind.SUM):
        value = point["value"]
        if value is None:
            return r
        r.value_min = r.value_max = r.value_sum = r.value_last = value
        if kind == MetricKind.SUM and series.monotonic:
            if cumulative and same_stream and prev["value"] is not None and value >= prev["value"]:
                r.increase = value - prev["value"]
            else:
                r.increase = value  # delta, first point, or a reset: counting restarted from zero
        return r
    count, total = point["count"], point["sum"]
    r.hist_min, r.hist_max = point["min"], point["max"]
    if kind == MetricKind.HISTOGRAM:
        counts = point["bucket_counts"] or []
        if cumulative and same_stream and prev["explicit_bounds"] == point["explicit_bounds"]:
            delta = subtract_counts(counts, prev["bucket_counts"] or [])
            if delta is not None and count >= prev["count"]:
                counts, count = delta, count - prev["count"]
                total = None if total is None or prev["sum"] is None else total - prev["sum"]
        r.explicit_bounds, r.bucket_counts = list(point["explicit_bounds"] or []), list(counts)
    elif kind == MetricKind.EXPONENTIAL_HISTOGRAM:
        histogram = _exp_of(point)
        if cumulative and same_stream and count >= prev["count"]:
            exp_delta = histogram.minus(_exp_of(prev))
            if exp_delta is not None:
                histogram, count = exp_delta, count - prev["count"]
                total = None if total is None or prev["sum"] is None else total - prev["sum"]
        r.set_exp(histogram)
    r.hist_count, r.hist_sum = count, total
    return r


def _exp_of(point: dict[str, Any]) -> ExpHistogram:
    return ExpHistogram.from_dense(
        point["scale"], point["zero_count"], point["zero_threshold"], point["positive_offset"],
        point["positive_counts"] or [], point["negative_offset"], point["negative_counts"] or [],
    )  # fmt: skip
