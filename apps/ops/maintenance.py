"""Partition maintenance and retention for every registered telemetry table, across all tenants.

Whole day partitions are dropped once every project is past them (seconds, unlike a DELETE:
research measured 2.8 s against 50 s + 41 s of VACUUM for 5M spans). Projects that keep a
signal for less time than the longest retention get range deletes on top.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

from django.conf import settings
from django.db import connection

from apps.core.partitions import drop_partitions_before, ensure_partitions, registered_tables
from apps.tenants.retention import retention_of_all_projects


@dataclass
class MaintenanceReport:
    created: list[str] = field(default_factory=list)
    dropped: list[str] = field(default_factory=list)
    deleted_rows: dict[str, int] = field(default_factory=dict)


def maintain(now: datetime | None = None) -> MaintenanceReport:
    """Create partitions ahead, drop expired ones, delete rows past shorter per-project retention."""
    now = now or datetime.now(tz=UTC)
    today = now.date()
    report = MaintenanceReport()
    for table in registered_tables():
        report.created += ensure_partitions(
            table.name, today - timedelta(days=1), today + timedelta(days=settings.VIGIL_PARTITION_DAYS_AHEAD)
        )
        projects = retention_of_all_projects(table.signal)
        longest = max((p.days for p in projects), default=settings.VIGIL_DEFAULT_RETENTION_DAYS)
        report.dropped += drop_partitions_before(table.name, _first_day_kept(today, longest))
        deleted = 0
        for project in projects:
            if project.days < longest:
                deleted += _delete_before(table.name, table.time_column, project.organization_id,
                                          project.project_id, now - timedelta(days=project.days))  # fmt: skip
        report.deleted_rows[table.name] = deleted
    return report


def _first_day_kept(today: date, days: int) -> date:
    return today - timedelta(days=days)


def _delete_before(table: str, column: str, organization_id: int, project_id: int, cutoff: datetime) -> int:
    with connection.cursor() as cursor:
        cursor.execute(
            f'DELETE FROM "{table}" WHERE organization_id = %s AND project_id = %s AND "{column}" < %s',  # noqa: S608
            [organization_id, project_id, cutoff],
        )
        return cursor.rowcount
