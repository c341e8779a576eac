"""The span writer's compiled batch (apps/tracing/span_batch.pyx): its rows, the edges inside it and its orphans,
and sums that bucket and pack exactly as the histogram layout says."""

from __future__ import annotations

import copy

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from apps.otlp.resources import Fingerprints
from apps.otlp.types import Resource, Span, SpanKind, StatusCode
from apps.tracing import histogram
from apps.tracing.span_batch import SeriesSums, SpanBatch
from tests.tracing.test_writers import NOW_NS, RESOURCE_A, RESOURCE_B, make_span

TENANT = (1, 2)
DAY_NS = 86_400 * 10**9


def _changed(span: Span, **changes: object) -> Span:
    """A copy of ``span`` with ``changes`` (the compiled span type is not a dataclass for ``dataclasses.replace``)."""
    changed = copy.copy(span)
    for name, value in changes.items():
        setattr(changed, name, value)
    return changed


def _batch(spans: list[Span]) -> SpanBatch:
    return SpanBatch(*TENANT, spans, Fingerprints().of)


def _series(sums: SeriesSums) -> dict[tuple[object, ...], tuple[int, int]]:
    """{(minute start µs, *series key): (count, errors)} of the sums."""
    found = {}
    for _, _, bucket, *columns in sums.packed_rows(60_000_000):
        keys, (counts, errors) = columns[:3], columns[3:5]
        for position, key in enumerate(zip(*keys, strict=True)):
            found[(bucket, *key)] = (counts[position], errors[position])
    return found


def test_a_span_repeated_in_a_batch_is_one_row_unless_it_starts_elsewhere() -> None:
    span = make_span(RESOURCE_A, "GET /")
    moved = _changed(span, start_ns=span.start_ns + 5_000, end_ns=span.end_ns + 5_000)
    other = make_span(RESOURCE_A, "GET /")
    batch = _batch([span, span, moved, other, moved, _changed(span, name="again")])
    assert batch.spans == [span, moved, other]  # the table's key is (trace id, span id, start µs): the first
    assert batch.ids == b"".join(s.trace_id + s.span_id for s in (span, other))
    assert _series(batch.red) == {(NOW_NS // 60_000_000_000 * 60_000_000, "frontend", "GET /", SpanKind.SERVER): (3, 0)}


def test_edges_inside_the_batch_whatever_the_order_and_the_orphans_outside_it() -> None:
    parent = make_span(RESOURCE_A, "GET /checkout", kind=SpanKind.CLIENT)
    child = make_span(RESOURCE_B, "POST /pay", parent=parent.span_id, trace_id=parent.trace_id, error=True)
    orphan = make_span(RESOURCE_B, "POST /refund", parent=b"\x07" * 8, trace_id=parent.trace_id, duration_ms=3)
    batch = _batch([child, orphan, parent])  # the child comes before its parent
    minute = NOW_NS // 60_000_000_000 * 60_000_000
    assert _series(batch.edges) == {(minute, "frontend", "checkout", "service"): (1, 1)}
    assert batch.orphans == [
        (orphan.trace_id, b"\x07" * 8, orphan.span_id, "checkout", orphan.start_ns, 3_000_000, False)
    ]
    assert batch.service_of(parent.trace_id, parent.span_id) == "frontend"
    assert batch.service_of(child.trace_id, child.span_id) == "checkout"


def test_dependencies_are_edges_from_the_calling_service() -> None:
    database = make_span(RESOURCE_B, "SELECT", kind=SpanKind.CLIENT, attributes={"db.system": "postgresql"})
    external = make_span(RESOURCE_B, "POST", kind=SpanKind.CLIENT, attributes={"server.address": "api.stripe.com"})
    failed = _changed(external, span_id=b"\x01" * 8, status_code=StatusCode.ERROR)
    minute = NOW_NS // 60_000_000_000 * 60_000_000
    assert _series(_batch([database, external, failed]).edges) == {
        (minute, "checkout", "postgresql", "database"): (1, 0),
        (minute, "checkout", "api.stripe.com", "external"): (2, 1),
    }


def test_first_seen_per_resource_and_the_days_of_the_batch() -> None:
    early = make_span(RESOURCE_A, "GET /", start_ns=NOW_NS - DAY_NS)
    spans = [make_span(RESOURCE_A, "GET /"), early, make_span(Resource({"service.name": "checkout"}), "POST /pay")]
    batch = _batch(spans)
    fingerprints = Fingerprints()
    assert batch.first_seen == {
        fingerprints.of(RESOURCE_A): early.start_ns // 1000,
        fingerprints.of(spans[2].resource): NOW_NS // 1000,
    }
    assert batch.days == {NOW_NS // DAY_NS, NOW_NS // DAY_NS - 1}


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


def test_a_scope_whose_attributes_cannot_be_encoded_fails_the_batch_and_is_not_remembered() -> None:
    """Scope columns are read once per run of spans; an error encoding them fails the batch (as encoding a span's
    own attributes does), every time, and leaves nothing behind for the next batch."""
    from apps.otlp.types import Scope

    bad = Scope("lib", "1.0", {"not json": object()})
    span = _changed(make_span(RESOURCE_A, "GET /"), scope=bad)
    for _ in range(2):
        with pytest.raises(TypeError):
            _batch([span])
    good = _changed(make_span(RESOURCE_A, "GET /"), scope=Scope("lib", "1.0", {"k": "v"}))
    assert len(_batch([good])) == 1
