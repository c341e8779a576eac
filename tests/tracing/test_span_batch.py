"""The writer's compiled sums (apps/tracing/span_batch.pyx) bucket and pack exactly as the histogram layout says."""

from __future__ import annotations

import struct

from hypothesis import given, settings
from hypothesis import strategies as st

from apps.tracing import histogram
from apps.tracing.span_batch import SeriesSums

TENANT = (1, 2)


def _unpacked(packed: bytes) -> dict[int, int]:
    """The binary ``int8[]`` of a delta row back as ``{bucket: count}``."""
    ndim, has_nulls, oid, size, lower = struct.unpack_from(">5i", packed)
    assert (ndim, has_nulls, oid, lower) == (1, 0, 20, 1)
    values = [struct.unpack_from(">iq", packed, 20 + 12 * i) for i in range(size)]
    assert all(length == 8 for length, _ in values)
    assert len(packed) == 20 + 12 * size
    return histogram.unpack(value for _, value in values)


def _row_of(durations: list[int], errors: int = 0) -> tuple[object, ...]:
    sums = SeriesSums()
    for index, duration in enumerate(durations):
        sums.add((TENANT, 7, "checkout", "GET /cart", 2), duration, index < errors)
    (row,) = sums.rows(60_000_000)
    return row


def test_every_bucket_boundary_lands_where_the_formula_puts_it() -> None:
    edges = [0, 1, histogram.MIN_NS, histogram.MIN_NS + 1, 2**62, 2**63 - 1, 2**64, 10**30]
    edges += [bound + delta for bound in histogram.UPPER_BOUNDS for delta in (-1, 0, 1)]
    for duration in edges:
        assert _unpacked(_row_of([duration])[-1]) == {histogram.bucket_index(duration): 1}, duration


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(0, 2**70), min_size=1, max_size=40), st.integers(0, 40))
def test_a_series_sums_counts_errors_durations_and_histogram(durations: list[int], errors: int) -> None:
    row = _row_of(durations, errors)
    expected: dict[int, int] = {}
    for duration in durations:
        index = histogram.bucket_index(duration)
        expected[index] = expected.get(index, 0) + 1
    assert row[:7] == (1, 2, 7 * 60_000_000, "checkout", "GET /cart", 2, len(durations))
    assert row[7:9] == (min(errors, len(durations)), sum(durations))
    assert _unpacked(row[9]) == expected
    assert list(_unpacked(row[9])) == sorted(expected)  # packed in bucket order, as readers merge them
