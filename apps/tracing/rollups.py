"""Folding rollup deltas into the minute, ten-minute, hour and six-hour tables (a beat job every few seconds).

Writers append deltas in the span transaction (exact, durable counts); this job merges them into one
row per key and minute, ten minutes, hour and six hours, so reads stay small (apps/tracing/queries.py reads the
coarsest rows that fit a range). Readers add the deltas not folded yet, in the same
statement, so no figure is ever missing or counted twice. One job runs at a time (advisory lock).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from django.db import connection, transaction

_TEMPLATE = (Path(__file__).resolve().parent / "sql" / "compact_rollups.sql").read_text()
_LOCK = 0x76696761  # an arbitrary constant naming "rollup compaction" among advisory locks


@dataclass(frozen=True)
class RollupFamily:
    delta: str
    minute: str
    tenmin: str
    hour: str
    sixhour: str
    keys: tuple[str, ...]
    count: str

    @property
    def sql(self) -> str:
        return _TEMPLATE.format(
            delta=self.delta, minute=self.minute, tenmin=self.tenmin, hour=self.hour, sixhour=self.sixhour,
            keys=", ".join(self.keys), count=self.count, series=", ".join(self.keys[2:]),
            arrays=", ".join(f"p.{column}" for column in (
                *self.keys[2:], self.count, "error_count", "duration_sum_ns", "histogram_first", "histogram_last"
            )),
        )  # fmt: skip


RED = RollupFamily(
    "tracing_red_delta",
    "tracing_red_minute",
    "tracing_red_tenmin",
    "tracing_red_hour",
    "tracing_red_sixhour",
    ("organization_id", "project_id", "service_name", "operation", "span_kind"),
    "request_count",
)
EDGES = RollupFamily(
    "tracing_edge_delta",
    "tracing_edge_minute",
    "tracing_edge_tenmin",
    "tracing_edge_hour",
    "tracing_edge_sixhour",
    ("organization_id", "project_id", "source_service", "target", "target_kind"),
    "call_count",
)


def compact_rollups() -> int:
    """Fold every delta committed so far; returns how many delta rows were folded (0 if another run holds the lock)."""
    folded = 0
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_xact_lock(%s)", [_LOCK])
        if not cursor.fetchone()[0]:
            return 0
        for family in (RED, EDGES):
            cursor.execute(family.sql)
            folded += cursor.fetchone()[0]
    return folded


def fold_all_deltas() -> None:
    """Fold every committed delta, waiting for a running compaction instead of skipping; call inside the
    caller's transaction: the lock is held until it ends, so no compaction touches the rollup rows the
    caller corrects next (GDPR deletion, apps/tracing/erasure.py)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_LOCK])
        for family in (RED, EDGES):
            cursor.execute(family.sql)
