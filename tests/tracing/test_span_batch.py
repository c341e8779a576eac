"""The writer's compiled sums (apps/tracing/span_batch.pyx) bucket and pack exactly as the histogram layout says."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from apps.tracing import histogram
from apps.tracing.span_batch import SeriesSums

TENANT = (1, 2)


def _row_of(durations: list[int], errors: int = 0) -> tuple[object, ...]:
    """The packed delta row of one series, its histogram as ``{bucket: count}`` in its place."""
    sums = SeriesSums()
    for index, duration in enumerate(durations):
        sums.add((TENANT, 7, "checkout", "GET /cart", 2), duration, index < errors)
    (row,) = sums.packed_rows(60_000_000)
    *head, (first,), (last,), packed = row
    assert (first, last) == (1, len(packed))
    buckets = [value >> 32 for value in packed]
    assert buckets == sorted(set(buckets))  # in bucket order, as readers merge them
    return (*head, histogram.unpack(packed))


def test_every_bucket_boundary_lands_where_the_formula_puts_it() -> None:
    edges = [0, 1, histogram.MIN_NS, histogram.MIN_NS + 1, 2**62, 2**63 - 1, 2**64, 10**30]
    edges += [bound + delta for bound in histogram.UPPER_BOUNDS for delta in (-1, 0, 1)]
    for duration in edges:
        assert _row_of([duration])[-1] == {histogram.bucket_index(duration): 1}, duration


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(0, 2**70), min_size=1, max_size=40), st.integers(0, 40))
def test_a_series_sums_counts_errors_durations_and_histogram(durations: list[int], errors: int) -> None:
    row = _row_of(durations, errors)
    expected: dict[int, int] = {}
    for duration in durations:
        index = histogram.bucket_index(duration)
        expected[index] = expected.get(index, 0) + 1
    assert row[:7] == (1, 2, 7 * 60_000_000, ["checkout"], ["GET /cart"], [2], [len(durations)])
    assert row[7:9] == ([min(errors, len(durations))], [sum(durations)])
    assert row[9] == expected


def test_series_of_one_tenant_and_minute_share_a_packed_row() -> None:
    sums = SeriesSums()
    sums.add(((1, 2), 7, "a", "x", 1), 5_000, False)
    sums.add(((1, 2), 7, "b", "y", 2), 9_000_000, True)
    sums.add(((1, 2), 7, "a", "x", 1), 5_100, False)
    sums.add(((1, 2), 8, "a", "x", 1), 70, False)
    sums.add(((1, 3), 7, "a", "x", 1), 70, False)
    rows = {row[:3]: row[3:] for row in sums.packed_rows(10)}
    assert set(rows) == {(1, 2, 70), (1, 2, 80), (1, 3, 70)}
    services, operations, kinds, counts, errors, durations, firsts, lasts, packed = rows[(1, 2, 70)]
    assert (services, operations, kinds, counts, errors, durations) == (
        ["a", "b"], ["x", "y"], [1, 2], [2, 1], [0, 1], [10_100, 9_000_000],
    )  # fmt: skip
    assert [histogram.unpack(packed[first - 1 : last]) for first, last in zip(firsts, lasts, strict=True)] == [
        {histogram.bucket_index(5_000): 1, histogram.bucket_index(5_100): 1}
        if histogram.bucket_index(5_000) != histogram.bucket_index(5_100)
        else {histogram.bucket_index(5_000): 2},
        {histogram.bucket_index(9_000_000): 1},
    ]
