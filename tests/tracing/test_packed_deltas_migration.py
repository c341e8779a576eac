"""Migration tracing 0007 carries the deltas not folded yet over into the packed tables, readable through the views."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from django.db import connection, transaction

from apps.core.partitions import ensure_partitions_for
from apps.tracing.rollups import compact_rollups
from apps.tracing.writers import PARTITIONED

SQL = Path(__file__).resolve().parents[2] / "apps" / "tracing" / "sql"
OLD_DELTAS = (SQL / "0002_rollup_deltas.sql").read_text()
OLD_DELTAS = OLD_DELTAS[OLD_DELTAS.index("CREATE TABLE tracing_red_delta (") : OLD_DELTAS.index("-- Sum of packed")]


def packed(bucket: int, count: int) -> int:
    return (bucket << 32) | count


@pytest.mark.django_db
def test_unfolded_deltas_of_the_old_tables_are_read_and_folded_after_the_migration() -> None:
    minute = datetime(2026, 11, 29, 10, 0, tzinfo=UTC)
    with transaction.atomic(), connection.cursor() as cursor:  # DDL too: all of it rolled back at the end
        # the tables as they were before 0007, with two series and one edge not folded yet
        cursor.execute("DROP VIEW tracing_red_delta, tracing_edge_delta")
        cursor.execute("DROP TABLE tracing_red_delta_packed, tracing_edge_delta_packed")
        cursor.execute(OLD_DELTAS)
        cursor.execute(
            "INSERT INTO tracing_red_delta (organization_id, project_id, bucket, service_name, operation, span_kind, "
            "request_count, error_count, duration_sum_ns, histogram) VALUES "
            "(1, 2, %s, 'api', 'GET /', 2, 3, 1, 300, %s), (1, 2, %s, 'api', 'POST /', 2, 1, 0, 50, %s)",
            [minute, [packed(5, 2), packed(7, 1)], minute, [packed(9, 1)]],
        )
        cursor.execute(
            "INSERT INTO tracing_edge_delta (organization_id, project_id, bucket, source_service, target, target_kind, "
            "call_count, error_count, duration_sum_ns, histogram) "
            "VALUES (1, 2, %s, 'api', 'db', 'database', 4, 0, 40, %s)",
            [minute, [packed(3, 4)]],
        )
        cursor.execute((SQL / "0007_packed_deltas.sql").read_text())

        cursor.execute(
            "SELECT operation, request_count, error_count, duration_sum_ns, histogram FROM tracing_red_delta "
            "WHERE organization_id = 1 AND project_id = 2 ORDER BY operation"
        )
        assert cursor.fetchall() == [
            ("GET /", 3, 1, 300, [packed(5, 2), packed(7, 1)]),
            ("POST /", 1, 0, 50, [packed(9, 1)]),
        ]
        cursor.execute("SELECT target, call_count, histogram FROM tracing_edge_delta")
        assert cursor.fetchall() == [("db", 4, [packed(3, 4)])]

        ensure_partitions_for(PARTITIONED, {minute.date()})
        assert compact_rollups() == 3  # two series and one edge folded
        cursor.execute("SELECT operation, request_count, histogram FROM tracing_red_minute ORDER BY operation")
        assert cursor.fetchall() == [("GET /", 3, [packed(5, 2), packed(7, 1)]), ("POST /", 1, [packed(9, 1)])]
        cursor.execute("SELECT count(*) FROM tracing_red_delta_packed")
        assert cursor.fetchone() == (0,)
        transaction.set_rollback(True)
