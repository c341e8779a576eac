"""Daily range partitions of telemetry tables: one configuration, created ahead, dropped whole.

Every partitioned table is ``PARTITION BY RANGE (<time column>)`` with one
partition per UTC day named ``<table>_pYYYYMMDD``. Maintenance creates days
ahead (so ingest never meets a missing partition) and drops days older than
the longest retention any organization has; shorter per-project retention
is enforced by range deletes in the stores.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from django.db import connection, transaction

_PARTITION_LOCK = 0x76696769  # an arbitrary constant naming "partition DDL" among advisory locks
_NAME = re.compile(r"^(?P<table>[a-z_]+)_p(?P<day>\d{8})$")


@dataclass(frozen=True)
class PartitionedTable:
    """A daily-partitioned telemetry table; ``signal`` names whose retention applies (spans, logs, metrics, rollups)."""

    name: str
    time_column: str
    signal: str


_REGISTRY: dict[str, PartitionedTable] = {}


def register_partitioned(*tables: PartitionedTable) -> None:
    """Stores declare their partitioned tables at start-up (AppConfig.ready); maintenance walks them."""
    for table in tables:
        _REGISTRY[table.name] = table


def registered_tables() -> list[PartitionedTable]:
    return sorted(_REGISTRY.values(), key=lambda table: table.name)


def partition_name(table: str, day: date) -> str:
    return f"{table}_p{day:%Y%m%d}"


def ensure_partitions(table: str, first: date, last: date) -> list[str]:
    """Create the daily partitions of ``table`` for ``first``..``last`` (inclusive) that are missing."""
    created = []
    with connection.cursor() as cursor:
        # CREATE ... IF NOT EXISTS is not safe against a concurrent twin (one fails with "already exists"):
        # writers creating the same day's partitions queue on this lock until the first one commits.
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_PARTITION_LOCK])
        day = first
        while day <= last:
            name = partition_name(table, day)
            start = datetime(day.year, day.month, day.day, tzinfo=UTC)
            cursor.execute(
                f'CREATE TABLE IF NOT EXISTS "{name}" PARTITION OF "{table}" FOR VALUES FROM (%s) TO (%s)',
                [start, start + timedelta(days=1)],
            )
            created.append(name)
            day += timedelta(days=1)
    return created


def existing_partitions(table: str) -> list[tuple[str, date]]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "JOIN pg_class p ON p.oid = i.inhparent WHERE p.relname = %s",
            [table],
        )
        found = []
        for (name,) in cursor.fetchall():
            match = _NAME.match(name)
            if match and match["table"] == table:
                found.append((name, datetime.strptime(match["day"], "%Y%m%d").replace(tzinfo=UTC).date()))
        return sorted(found, key=lambda item: item[1])


def drop_partitions_before(table: str, cutoff: date) -> list[str]:
    """Drop whole partitions whose day ends on or before ``cutoff``: seconds, unlike a DELETE."""
    dropped = []
    with connection.cursor() as cursor:
        for name, day in existing_partitions(table):
            if day < cutoff:
                cursor.execute(f'DROP TABLE IF EXISTS "{name}"')
                dropped.append(name)
    return dropped


_known: set[tuple[str, date]] = set()


def ensure_partitions_for(tables: tuple[str, ...], days: set[date]) -> None:
    """Make sure ``tables`` have partitions for ``days`` (writers call this before COPY).

    The daily maintenance task creates partitions ahead; this covers data for other days
    (late or backfilled data within retention). What exists is remembered per process, but
    only once the creating transaction commits: a rolled-back CREATE must be retried.
    """
    missing = [(table, day) for table in tables for day in days if (table, day) not in _known]
    if not missing:
        return
    for table, day in missing:
        ensure_partitions(table, day, day)
    transaction.on_commit(lambda: _known.update(missing))
