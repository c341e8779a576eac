"""Ten-minute and six-hour rollups, filled from the minute and hour rollups already folded."""

from pathlib import Path
from typing import Any

from django.db import migrations

SQL = (Path(__file__).resolve().parent.parent / "sql" / "0006_coarser_rollups.sql").read_text()
_COMPACTION_LOCK = 0x76696761  # apps/tracing/rollups.py: no fold runs between the backfill and the commit
# (source table, new table, its bucket length, key columns, count column)
LEVELS = (
    ("tracing_red_minute", "tracing_red_tenmin", "10 minutes", "service_name, operation, span_kind", "request_count"),
    ("tracing_red_hour", "tracing_red_sixhour", "6 hours", "service_name, operation, span_kind", "request_count"),
    ("tracing_edge_minute", "tracing_edge_tenmin", "10 minutes", "source_service, target, target_kind", "call_count"),
    ("tracing_edge_hour", "tracing_edge_sixhour", "6 hours", "source_service, target, target_kind", "call_count"),
)
BACKFILL = """
INSERT INTO {table} (organization_id, project_id, bucket, {keys}, {count}, error_count, duration_sum_ns, histogram)
SELECT t.*, h.histogram FROM (
    SELECT organization_id, project_id, date_bin('{length}', bucket, timestamptz 'epoch') AS bucket, {keys},
           sum({count})::bigint, sum(error_count)::bigint, sum(duration_sum_ns)::bigint
    FROM {source} GROUP BY 1, 2, 3, 4, 5, 6
) t JOIN (
    SELECT organization_id, project_id, bucket, {keys}, array_agg((i << 32) | c ORDER BY i) AS histogram FROM (
        SELECT organization_id, project_id, date_bin('{length}', bucket, timestamptz 'epoch') AS bucket, {keys},
               u.v >> 32 AS i, sum(u.v & 4294967295)::bigint AS c
        FROM {source}, unnest(histogram) AS u(v) GROUP BY 1, 2, 3, 4, 5, 6, 7
    ) p GROUP BY 1, 2, 3, 4, 5, 6
) h USING (organization_id, project_id, bucket, {keys})
"""


def backfill(apps: Any, schema_editor: Any) -> None:
    from apps.core.partitions import ensure_partitions, existing_partitions

    with schema_editor.connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_COMPACTION_LOCK])
        for source, table, length, keys, count in LEVELS:
            for _, day in existing_partitions(source):
                ensure_partitions(table, day, day)
            cursor.execute(BACKFILL.format(source=source, table=table, length=length, keys=keys, count=count))
            cursor.execute(f"ANALYZE {table}")  # the planner's estimates for the first reads


class Migration(migrations.Migration):
    dependencies = [("tracing", "0005_service_settings")]
    operations = [
        migrations.RunSQL(
            SQL,
            reverse_sql="DROP TABLE tracing_edge_sixhour, tracing_edge_tenmin, tracing_red_sixhour, tracing_red_tenmin",
        ),
        migrations.RunPython(backfill, migrations.RunPython.noop),
    ]
