"""Histogram arithmetic shared by the rollups (merging at ingest) and the queries (percentiles).

Explicit-bucket histograms: ``bounds`` (n) and ``counts`` (n + 1); bucket i holds (bounds[i-1], bounds[i]].
Exponential histograms: at ``scale`` s the base is 2^(2^-s); positive bucket index i holds
(base^i, base^(i+1)], negative bucket i holds [-base^(i+1), -base^i), and the zero bucket holds
values within the zero threshold. Two exponential histograms merge at the smaller scale (a bucket
index at scale s becomes ``index >> (s - m)`` at scale m, which is exact: buckets nest).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field


def add_counts(a: Sequence[int], b: Sequence[int]) -> list[int]:
    if len(a) < len(b):
        a, b = b, a
    out = list(a)
    for i, count in enumerate(b):
        out[i] += count
    return out


def subtract_counts(current: Sequence[int], previous: Sequence[int]) -> list[int] | None:
    """``current - previous`` element-wise, or None when a count went down (the series was reset)."""
    if len(current) != len(previous):
        return None
    out = [c - p for c, p in zip(current, previous, strict=True)]
    return None if any(x < 0 for x in out) else out


def _interpolate(buckets: list[tuple[float, float, int]], q: float) -> float | None:
    """Linear interpolation within the bucket holding rank q·total; buckets are (lower, upper, count) ascending."""
    total = sum(count for _, _, count in buckets)
    if total <= 0:
        return None
    rank = q * total
    seen = 0
    for lower, upper, count in buckets:
        if count <= 0:
            continue
        if seen + count >= rank:
            return lower + (upper - lower) * max(rank - seen, 0) / count
        seen += count
    lower, upper, _ = next(b for b in reversed(buckets) if b[2] > 0)
    return upper


def explicit_percentile(
    bounds: Sequence[float], counts: Sequence[int], q: float, lo: float | None = None, hi: float | None = None
) -> float | None:
    """Percentile (q in 0..1) of an explicit-bucket histogram, interpolating linearly inside the bucket.

    The first bucket starts at the recorded minimum (else at 0, or at its upper bound when that is
    negative); the last (overflow) bucket ends at the recorded maximum (else at the last bound); the
    result never lies outside the recorded minimum and maximum.
    """
    if not counts:
        return None
    buckets = []
    for i, count in enumerate(counts):
        if i == 0:
            upper = bounds[0] if bounds else (hi if hi is not None else lo)
            if upper is None:
                return None
            lower = lo if lo is not None else min(0.0, upper)
        else:
            lower = bounds[i - 1]
            upper = bounds[i] if i < len(bounds) else (hi if hi is not None else bounds[-1])
        buckets.append((float(lower), float(max(upper, lower)), int(count)))
    value = _interpolate(buckets, q)
    if value is not None and hi is not None:
        value = min(value, hi)  # never beyond the recorded extremes
    if value is not None and lo is not None:
        value = max(value, lo)
    return value


@dataclass
class ExpHistogram:
    """An exponential histogram as sparse maps (bucket index → count) at one scale."""

    scale: int
    zero_count: int = 0
    zero_threshold: float = 0.0
    positive: dict[int, int] = field(default_factory=dict)
    negative: dict[int, int] = field(default_factory=dict)

    @classmethod
    def from_dense(  # noqa: PLR0917 (the OTLP fields, in their order)
        cls,
        scale: int,
        zero_count: int,
        zero_threshold: float,
        positive_offset: int,
        positive_counts: Sequence[int],
        negative_offset: int,
        negative_counts: Sequence[int],
    ) -> ExpHistogram:
        return cls(
            scale,
            zero_count,
            zero_threshold,
            {positive_offset + i: c for i, c in enumerate(positive_counts) if c},
            {negative_offset + i: c for i, c in enumerate(negative_counts) if c},
        )

    @staticmethod
    def to_dense(buckets: dict[int, int]) -> tuple[int, list[int]]:
        if not buckets:
            return 0, []
        low, high = min(buckets), max(buckets)
        return low, [buckets.get(i, 0) for i in range(low, high + 1)]

    def downscaled(self, scale: int) -> ExpHistogram:
        if scale >= self.scale:
            return self
        shift = self.scale - scale

        def down(buckets: dict[int, int]) -> dict[int, int]:
            out: dict[int, int] = {}
            for index, count in buckets.items():
                out[index >> shift] = out.get(index >> shift, 0) + count
            return out

        return ExpHistogram(scale, self.zero_count, self.zero_threshold, down(self.positive), down(self.negative))

    def merged(self, other: ExpHistogram) -> ExpHistogram:
        scale = min(self.scale, other.scale)
        a, b = self.downscaled(scale), other.downscaled(scale)
        positive = dict(a.positive)
        for index, count in b.positive.items():
            positive[index] = positive.get(index, 0) + count
        negative = dict(a.negative)
        for index, count in b.negative.items():
            negative[index] = negative.get(index, 0) + count
        return ExpHistogram(
            scale, a.zero_count + b.zero_count, max(a.zero_threshold, b.zero_threshold), positive, negative
        )

    def minus(self, previous: ExpHistogram) -> ExpHistogram | None:
        """The increase since ``previous`` (a cumulative stream), or None when it was reset."""
        if previous.scale < self.scale:
            return None
        prev = previous.downscaled(self.scale)
        if self.zero_count < prev.zero_count:
            return None
        out = ExpHistogram(self.scale, self.zero_count - prev.zero_count, self.zero_threshold)
        for mine, theirs, target in ((self.positive, prev.positive, out.positive),
                                     (self.negative, prev.negative, out.negative)):  # fmt: skip
            for index in theirs.keys() - mine.keys():
                if theirs[index]:
                    return None
            for index, count in mine.items():
                delta = count - theirs.get(index, 0)
                if delta < 0:
                    return None
                if delta:
                    target[index] = delta
        return out

    def percentile(self, q: float) -> float | None:
        try:
            base = 2.0 ** (2.0**-self.scale)
            buckets = [(-(base ** (i + 1)), -(base**i), c) for i, c in sorted(self.negative.items(), reverse=True)]
            if self.zero_count:
                buckets.append((-self.zero_threshold, self.zero_threshold, self.zero_count))
            buckets += [(base**i, base ** (i + 1), c) for i, c in sorted(self.positive.items())]
        except OverflowError:
            return math.nan
        return _interpolate(buckets, q)
