"""Log-scale latency histograms: the bucket layout shared by the SQL rollups and the Python readers.

Bucket 0 holds durations up to 1 µs; bucket i ≥ 1 holds (1 µs·γ^(i-1), 1 µs·γ^i] with
γ = (1+α)/(1-α). Estimating each bucket by 2·1µs·γ^i/(γ+1) is within α = 2 % of any value in
it, so a percentile read from the histogram is within 2 % of the exact nearest-rank
percentile (the issue asks for 5 %). 540 buckets reach ~38 minutes; longer spans land in the
last bucket.

Stored sparse and packed: a ``bigint[]`` with one element per non-empty bucket,
``(index << 32) | count``, in index order; in Python a ``dict[index, count]``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence

import numpy as np

RELATIVE_ACCURACY = 0.02
GAMMA = (1 + RELATIVE_ACCURACY) / (1 - RELATIVE_ACCURACY)
MIN_NS = 1000
SIZE = 540
_LOG_GAMMA = math.log(GAMMA)
_COUNT_MASK = (1 << 32) - 1

Histogram = dict[int, int]


def bucket_index(duration_ns: int) -> int:
    """The same formula as ``HIST_INDEX_SQL``; tests check they agree."""
    if duration_ns <= MIN_NS:
        return 0
    return min(max(math.ceil(math.log(duration_ns / MIN_NS) / _LOG_GAMMA), 0), SIZE - 1)


def _bucket_upper_bounds() -> list[int]:
    """The largest integer duration of each bucket but the last, by the formula itself (so the two never
    disagree, even where floating point puts a boundary a hair off ``MIN_NS·γ^i``)."""
    bounds = []
    for index in range(SIZE - 1):
        d = max(math.floor(MIN_NS * GAMMA**index), MIN_NS)
        while bucket_index(d) > index:
            d -= 1
        while bucket_index(d + 1) <= index:
            d += 1
        bounds.append(d)
    return bounds


# The ingest hot path finds a bucket by a binary search over these (apps/tracing/span_batch.pyx).
UPPER_BOUNDS = tuple(_bucket_upper_bounds())


# SQL expression of bucket_index over a column named duration_ns.
HIST_INDEX_SQL = (
    f"least(greatest(ceil(ln(greatest(duration_ns, 1)::float8 / {MIN_NS}) / ln({GAMMA!r})), 0), {SIZE - 1})::integer"
)


def unpack(packed: Iterable[int]) -> Histogram:
    return {value >> 32: value & _COUNT_MASK for value in packed}


def add_packed(into: Histogram, packed: Iterable[int]) -> Histogram:
    """Add a stored histogram to ``into`` (in place) and return it."""
    for value in packed:
        index = value >> 32
        into[index] = into.get(index, 0) + (value & _COUNT_MASK)
    return into


def bucket_value_ns(index: int) -> float:
    """The representative duration of a bucket (its relative-error midpoint)."""
    if index <= 0:
        return float(MIN_NS)
    return 2 * MIN_NS * GAMMA**index / (GAMMA + 1)


def percentile_ns(histogram: Mapping[int, int], q: float) -> float | None:
    """Nearest-rank percentile (``q`` in 0..1) estimated from a histogram; None when it is empty."""
    total = sum(histogram.values())
    if total == 0:
        return None
    rank = max(math.ceil(q * total), 1)
    seen = 0
    for index in sorted(histogram):
        seen += histogram[index]
        if seen >= rank:
            return bucket_value_ns(index)
    return bucket_value_ns(max(histogram))


def apdex(histogram: Mapping[int, int], threshold_ns: float) -> float | None:
    """Apdex = (satisfied + tolerating / 2) / total: satisfied at most ``threshold_ns``, tolerating at most
    four times that, judged by each bucket's representative value (so within the buckets' 2 %)."""
    total = sum(histogram.values())
    if total == 0:
        return None
    satisfied = tolerating = 0
    for index, count in histogram.items():
        value = bucket_value_ns(index)
        if value <= threshold_ns:
            satisfied += count
        elif value <= 4 * threshold_ns:
            tolerating += count
    return (satisfied + tolerating / 2) / total


def merge_packed_by_group(group_ids: Sequence[int], packed: Sequence[Sequence[int]], groups: int) -> list[Histogram]:
    """Sum many packed histograms into one per group (``group_ids[i]`` names the group of ``packed[i]``).

    Vectorised: dashboards sum thousands of minute rows (a service over an hour, the map over a day), and a
    Python loop over every bucket of every row was most of those pages' time (bench/queries.py)."""
    lengths = np.fromiter((len(p) for p in packed), dtype=np.int64, count=len(packed))
    if not lengths.sum():
        return [{} for _ in range(groups)]
    values = np.fromiter((v for p in packed for v in p), dtype=np.int64, count=int(lengths.sum()))
    owner = np.repeat(np.asarray(group_ids, dtype=np.int64), lengths)
    sums = np.bincount(owner * SIZE + (values >> 32), weights=values & _COUNT_MASK, minlength=groups * SIZE)
    table = sums.reshape(groups, SIZE)
    merged = []
    for row in table:
        (nonzero,) = np.nonzero(row)
        merged.append({int(i): int(row[i]) for i in nonzero})
    return merged
