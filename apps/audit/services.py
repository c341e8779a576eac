"""The write API of the audit trail."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from apps.audit.actions import Action
from apps.audit.models import AuditEntry


@dataclass(frozen=True)
class Origin:
    """Where an action came from: the request's client address and user agent."""

    ip_address: str | None = None
    user_agent: str = ""

    @classmethod
    def from_request(cls, request: Any) -> Origin:
        if request is None:
            return cls()
        meta = getattr(request, "META", {})
        return cls(ip_address=meta.get("REMOTE_ADDR") or None, user_agent=meta.get("HTTP_USER_AGENT", "")[:512])


def _type_name(target: Any) -> str:
    """The model's name, also when ``target`` is a lazy object such as ``request.user``."""
    if target is None:
        return ""
    meta = getattr(target, "_meta", None)
    return str(meta.model_name) if meta is not None else type(target).__name__.lower()


def record(
    organization_id: int,
    action: Action,
    *,
    actor: Any = None,
    actor_label: str | None = None,
    target: Any = None,
    target_label: str | None = None,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    origin: Origin | None = None,
) -> AuditEntry:
    """Append one entry. ``target`` is any model instance (its class name and id are kept)."""
    origin = origin or Origin()
    user = actor if getattr(actor, "is_authenticated", False) else None
    return AuditEntry.objects.for_organization(organization_id).create(
        organization_id=organization_id,
        actor=user,
        actor_label=actor_label or (user.get_username() if user else "system"),
        action=str(action),
        target_type=_type_name(target),
        target_id=str(getattr(target, "pk", "") or "") if target is not None else "",
        target_label=target_label if target_label is not None else (str(target) if target is not None else ""),
        before=before or {},
        after=after or {},
        ip_address=origin.ip_address,
        user_agent=origin.user_agent,
    )
