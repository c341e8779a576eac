"""Rollup deltas: what a batch of new spans (or newly resolved edges) adds to the RED and service-map rollups.

Computed in the ingest process from the rows the writer has just stored (compiled: apps/tracing/span_batch.pyx)
and appended with one binary COPY per table (apps/tracing/rollups.py folds them into the minute and hour tables
later). The same GROUP BY in SQL over the INSERT's ``RETURNING`` cost PostgreSQL ~30 µs per span.

One delta row per tenant and minute, its series in parallel arrays (sql/0007_packed_deltas.sql; views unpack them
for readers); histograms are sparse and packed (apps/tracing/histogram.py).
"""

from __future__ import annotations

from typing import Any

from apps.otlp import binary_copy
from apps.otlp.values import NS_PER_MINUTE
from apps.tracing.span_batch import SeriesSums, add_edge

Tenant = tuple[int, int]

# One row per tenant and minute, the series in parallel arrays (sql/0007_packed_deltas.sql; binary_copy type codes).
_RED_COPY = (
    "COPY tracing_red_delta_packed (organization_id, project_id, bucket, service_name, operation, span_kind, "
    "request_count, error_count, duration_sum_ns, histogram_first, histogram_last, histograms) "
    "FROM STDIN (FORMAT BINARY)"
)
_EDGE_COPY = (
    "COPY tracing_edge_delta_packed (organization_id, project_id, bucket, source_service, target, target_kind, "
    "call_count, error_count, duration_sum_ns, histogram_first, histogram_last, histograms) "
    "FROM STDIN (FORMAT BINARY)"
)
_RED_TYPES = "qqTSSHQQQIIQ"
_EDGE_TYPES = "qqTSSSQQQIIQ"
_US_PER_MINUTE = NS_PER_MINUTE // 1000


class RollupDeltas:
    """The RED and edge deltas of one transaction's spans, keyed by tenant, minute and series.

    ``start_ns`` is a span's start (Unix nanoseconds); its minute is the rollup bucket, as the stored
    ``start_time`` truncated to the minute (apps/otlp/values.time_of_ns). The sums are compiled
    (``span_batch.SeriesSums``); the span writer starts from a batch's sums (``span_batch.SpanBatch``).
    """

    def __init__(self, red: SeriesSums | None = None, edges: SeriesSums | None = None) -> None:
        """Starting from sums already made (``red``, ``edges``: a span batch's), or from none."""
        self.red = SeriesSums() if red is None else red
        self.edges = SeriesSums() if edges is None else edges

    # Positional on purpose (PLR0917): the arguments of a span as the writer has them.
    def span(  # noqa: PLR0917
        self, tenant: Tenant, start_ns: int, service: str, operation: str, kind: int, duration_ns: int, is_error: bool
    ) -> None:
        self.red.add((tenant, start_ns // NS_PER_MINUTE, service, operation, kind), duration_ns, is_error)

    def edge(  # noqa: PLR0917
        self, tenant: Tenant, start_ns: int, source: str, target: str, target_kind: str, duration_ns: int,
        is_error: bool,
    ) -> None:  # fmt: skip
        """A call from ``source`` to ``target``, timed by the callee's (or the client span's) start and duration;
        calls inside one service are not edges of the map."""
        add_edge(self.edges, tenant, start_ns, source, target, target_kind, duration_ns, is_error)

    def write(self, cursor: Any) -> None:
        """Append the deltas (in the caller's transaction)."""
        for statement, types, sums in ((_RED_COPY, _RED_TYPES, self.red), (_EDGE_COPY, _EDGE_TYPES, self.edges)):
            if len(sums):
                with cursor.copy(statement) as copy:
                    copy.write(binary_copy.encode(sums.packed_rows(_US_PER_MINUTE), types))
