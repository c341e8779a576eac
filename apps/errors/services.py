"""Triage: changing an issue's status, audited."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.utils import timezone

from apps.audit.actions import Action
from apps.audit.services import Origin, record
from apps.errors.models import ErrorGroup, ErrorStatus


def set_status(issue: ErrorGroup, status: str, actor: Any, origin: Origin | None = None) -> ErrorGroup:
    """Mark ``issue`` unresolved, resolved (reopens when it occurs again) or ignored; no-op if unchanged."""
    if status not in ErrorStatus.values:
        raise ValueError(f"status is one of {', '.join(ErrorStatus.values)}, not {status!r}")
    if status == issue.status:
        return issue
    before = issue.status
    now = timezone.now()
    with transaction.atomic():
        issue.status = status
        issue.resolved_at = now if status == ErrorStatus.RESOLVED else None
        issue.status_changed_at = now
        issue.save(update_fields=["status", "resolved_at", "status_changed_at"])
        record(issue.organization_id, Action.ERROR_STATUS_CHANGED, actor=actor, target=issue,
               before={"status": before}, after={"status": status}, origin=origin)  # fmt: skip
    return issue
