"""The read API of the audit trail."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import Any

from django.db.models import QuerySet

from apps.audit.models import AuditEntry

CSV_COLUMNS = [
    "created_at",
    "actor",
    "action",
    "target_type",
    "target_id",
    "target",
    "before",
    "after",
    "ip_address",
    "user_agent",
]


def entries(
    organization_id: int,
    *,
    action: str | None = None,
    actor: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> QuerySet[AuditEntry]:
    """Newest first; ``since`` is inclusive and ``until`` exclusive, so adjacent ranges do not overlap."""
    rows = AuditEntry.objects.for_organization(organization_id)
    if action:
        rows = rows.filter(action__startswith=action)
    if actor:
        rows = rows.filter(actor_label__iexact=actor)
    if since is not None:
        rows = rows.filter(created_at__gte=since)
    if until is not None:
        rows = rows.filter(created_at__lt=until)
    return rows.order_by("-created_at", "-id")


def _row(entry: AuditEntry) -> list[Any]:
    return [
        entry.created_at.isoformat(),
        entry.actor_label,
        entry.action,
        entry.target_type,
        entry.target_id,
        entry.target_label,
        json.dumps(entry.before, sort_keys=True),
        json.dumps(entry.after, sort_keys=True),
        entry.ip_address or "",
        entry.user_agent,
    ]


def csv_lines(rows: Iterable[AuditEntry]) -> Iterator[str]:
    """CSV text line by line from an iterator of entries, so rows are read in chunks, not all at once."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(CSV_COLUMNS)
    yield buffer.getvalue()
    for entry in rows:
        buffer.seek(0)
        buffer.truncate()
        writer.writerow(_row(entry))
        yield buffer.getvalue()
