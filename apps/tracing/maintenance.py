"""Span-store housekeeping across tenants: pending service-map edges."""

from __future__ import annotations

from pathlib import Path

from django.conf import settings
from django.db import connection, transaction

from apps.tracing.deltas import RollupDeltas

_RESOLVE = (Path(__file__).resolve().parent / "sql" / "resolve_pending_edges.sql").read_text()


def resolve_pending_edges() -> tuple[int, int]:
    """Count edges whose parent has arrived since; drop pending rows past the wait. Returns (resolved, expired)."""
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(_RESOLVE)
        resolved = cursor.fetchall()
        deltas = RollupDeltas()
        for organization_id, project_id, source, target, start_ns, duration, is_error in resolved:
            deltas.edge((organization_id, project_id), start_ns, source, target, "service", duration, is_error)
        deltas.write(cursor)
        cursor.execute(
            "DELETE FROM tracing_pending_edge WHERE start_time < now() - make_interval(secs => %s)",
            [settings.VIGIL_PENDING_EDGE_SECONDS],
        )
        expired = cursor.rowcount
    return len(resolved), expired
