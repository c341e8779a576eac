"""Span-store housekeeping across tenants: pending service-map edges."""

from __future__ import annotations

from pathlib import Path

from django.conf import settings
from django.db import connection, transaction

from apps.tracing.writers import EDGE_DELTAS

_RESOLVE = (
    (Path(__file__).resolve().parent / "sql" / "resolve_pending_edges.sql").read_text().format(edge_deltas=EDGE_DELTAS)
)


def resolve_pending_edges() -> tuple[int, int]:
    """Count edges whose parent has arrived since; drop pending rows past the wait. Returns (resolved, expired)."""
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(_RESOLVE)
        resolved = cursor.fetchone()[0]
        cursor.execute(
            "DELETE FROM tracing_pending_edge WHERE start_time < now() - make_interval(secs => %s)",
            [settings.VIGIL_PENDING_EDGE_SECONDS],
        )
        expired = cursor.rowcount
    return resolved, expired
