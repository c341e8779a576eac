"""Rollup deltas: what a batch of new spans (or newly resolved edges) adds to the RED and service-map rollups.

Computed in Python from the rows the writer has just stored and appended with one binary COPY per table
(apps/tracing/rollups.py folds them into the minute and hour tables later). The same GROUP BY in SQL over
the INSERT's ``RETURNING`` cost PostgreSQL ~30 µs per span; here it costs a few µs of Python.

One delta row per tenant, minute and series: the histogram is sparse and packed (apps/tracing/histogram.py).
"""

from __future__ import annotations

import struct
from typing import Any

from apps.otlp import binary_copy
from apps.otlp.values import NS_PER_MINUTE
from apps.tracing.histogram import bucket_of

Tenant = tuple[int, int]

_RED_COPY = (
    "COPY tracing_red_delta (organization_id, project_id, bucket, service_name, operation, span_kind, request_count, "
    "error_count, duration_sum_ns, histogram) FROM STDIN (FORMAT BINARY)"
)
_EDGE_COPY = (
    "COPY tracing_edge_delta (organization_id, project_id, bucket, source_service, target, target_kind, call_count, "
    "error_count, duration_sum_ns, histogram) FROM STDIN (FORMAT BINARY)"
)
# binary_copy type codes; the histogram ("a") is already an int8[] in binary form (_encode_histogram)
_RED_TYPES = "qqTtthqqqa"
_EDGE_TYPES = "qqTtttqqqa"
_INT8_OID = 20
_US_PER_MINUTE = NS_PER_MINUTE // 1000


def _encode_histogram(histogram: dict[int, int]) -> bytes:
    """A sparse histogram as a packed ``int8[]`` in binary form: ndim 1, no nulls, element oid, size, lower
    bound 1, then (length 8, value) per element. (psycopg's array dumper, element by element in Python, cost
    ~10 µs per span on these batches.)"""
    packed = [(index << 32) | n for index, n in sorted(histogram.items())]
    size = len(packed)
    return struct.pack(f">5i{'iq' * size}", 1, 0, _INT8_OID, size, 1, *[x for v in packed for x in (8, v)])


# Per key: [count, errors, duration sum, {bucket: count}]; plain lists, as this runs once per span.
_Sums = list[Any]


class RollupDeltas:
    """The RED and edge deltas of one transaction's spans, keyed by tenant, minute and series.

    ``start_ns`` is a span's start (Unix nanoseconds); its minute is the rollup bucket, as the stored
    ``start_time`` truncated to the minute (apps/otlp/values.time_of_ns).
    """

    def __init__(self) -> None:
        self._red: dict[tuple[Any, ...], _Sums] = {}
        self._edges: dict[tuple[Any, ...], _Sums] = {}

    # Positional on purpose (PLR0917): called once per span and edge, the hottest loop of the writer.
    def span(  # noqa: PLR0917
        self, tenant: Tenant, start_ns: int, service: str, operation: str, kind: int, duration_ns: int, is_error: bool
    ) -> None:
        _add(self._red, (tenant, start_ns // NS_PER_MINUTE, service, operation, kind), duration_ns, is_error)

    def edge(  # noqa: PLR0917
        self, tenant: Tenant, start_ns: int, source: str, target: str, target_kind: str, duration_ns: int,
        is_error: bool,
    ) -> None:  # fmt: skip
        """A call from ``source`` to ``target``, timed by the callee's (or the client span's) start and duration."""
        if source != target:  # calls inside one service are not edges of the map
            _add(self._edges, (tenant, start_ns // NS_PER_MINUTE, source, target, target_kind), duration_ns, is_error)

    def write(self, cursor: Any) -> None:
        """Append the deltas (in the caller's transaction)."""
        tables = ((_RED_COPY, _RED_TYPES, self._red), (_EDGE_COPY, _EDGE_TYPES, self._edges))
        for statement, types, sums_by_key in tables:
            if not sums_by_key:
                continue
            rows = [
                (organization_id, project_id, minute * _US_PER_MINUTE, *series, count, errors, duration,
                 _encode_histogram(histogram))
                for ((organization_id, project_id), minute, *series), (count, errors, duration, histogram)
                in sums_by_key.items()
            ]  # fmt: skip
            with cursor.copy(statement) as copy:
                copy.write(binary_copy.encode(rows, types))


def _add(into: dict[tuple[Any, ...], _Sums], key: tuple[Any, ...], duration_ns: int, is_error: bool) -> None:
    sums = into.get(key)
    if sums is None:
        sums = into[key] = [0, 0, 0, {}]
    sums[0] += 1
    sums[1] += is_error
    sums[2] += duration_ns
    histogram = sums[3]
    index = bucket_of(duration_ns)
    histogram[index] = histogram.get(index, 0) + 1
