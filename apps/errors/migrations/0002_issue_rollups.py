"""The occurrence rollups of the issues list, filled from the occurrences already stored."""

from pathlib import Path
from typing import Any

from django.db import migrations

SQL = (Path(__file__).resolve().parent.parent / "sql" / "0002_issue_rollups.sql").read_text()
ROLLUPS = (
    "errors_issue_minute",
    "errors_issue_tenmin",
    "errors_issue_hour",
    "errors_issue_service_day",
    "errors_issue_user_day",
)
_COUNTS = (
    "INSERT INTO errors_issue_{} SELECT organization_id, project_id, {}, fingerprint, count(*), max(time) "
    "FROM errors_occurrence GROUP BY 1, 2, 3, 4"
)
_SEEN = (
    "INSERT INTO errors_issue_{}_day SELECT organization_id, project_id, date_trunc('day', time), fingerprint, {}, "
    "min(time), max(time) FROM errors_occurrence {}GROUP BY 1, 2, 3, 4, 5"
)
# What the writer would have written, had it written them from the start (apps/errors/writers.py).
BACKFILL = [
    _COUNTS.format("minute", "date_trunc('minute', time)"),
    _COUNTS.format("tenmin", "date_bin('10 minutes', time, timestamptz 'epoch')"),
    _COUNTS.format("hour", "date_trunc('hour', time)"),
    _SEEN.format("service", "service_name", ""),
    _SEEN.format("user", "enduser_id", "WHERE enduser_id IS NOT NULL "),
]


def backfill(apps: Any, schema_editor: Any) -> None:
    from apps.core.partitions import ensure_partitions, existing_partitions

    with schema_editor.connection.cursor() as cursor:
        # Occurrences written meanwhile by a process still running the previous code would be missed: wait for
        # them, and keep new ones out until this commits.
        cursor.execute("LOCK TABLE errors_occurrence IN SHARE MODE")
        for _, day in existing_partitions("errors_occurrence"):
            for table in ROLLUPS:
                ensure_partitions(table, day, day)
        for statement in BACKFILL:
            cursor.execute(statement)
        for table in ROLLUPS:
            cursor.execute(f"ANALYZE {table}")  # the planner's estimates for the first reads


class Migration(migrations.Migration):
    dependencies = [("errors", "0001_initial")]
    operations = [
        migrations.RunSQL(
            SQL,
            reverse_sql=f"DROP TABLE {', '.join(ROLLUPS)}; "
            "DROP INDEX errors_occurrence_service; DROP INDEX errors_occurrence_user",
        ),
        migrations.RunPython(backfill, migrations.RunPython.noop),
    ]
