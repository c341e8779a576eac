"""Emptying the tables that have no Django model (partitioned telemetry, resources, pending edges)."""

from __future__ import annotations

from django.apps import apps
from django.db import connection

from apps.otlp import resources


def telemetry_tables() -> list[str]:
    """Top-level tables of the schema that no Django model owns (partitions go with their parent)."""
    model_tables = {model._meta.db_table for model in apps.get_models(include_auto_created=True)}
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p') AND NOT c.relispartition"
        )
        names = [name for (name,) in cursor.fetchall()]
    return sorted(name for name in names if name not in model_tables and name != "django_migrations")


_tables: list[str] = []


def truncate_telemetry() -> None:
    """DELETE, not TRUNCATE: after one test the tables hold a few rows, and TRUNCATE of a partitioned
    table locks and rewrites every partition (seconds per test)."""
    if not _tables:
        _tables.extend(telemetry_tables())
    with connection.cursor() as cursor:
        for name in _tables:
            cursor.execute(f'DELETE FROM "{name}"')  # noqa: S608  (our own table names)
    resources.forget_known()
