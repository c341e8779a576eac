"""Per-service settings (the Apdex threshold), read by the RED queries and changed by a project's admins."""

from __future__ import annotations

from typing import Any

from django.db import transaction

from apps.audit.actions import Action
from apps.audit.services import Origin, record
from apps.tracing.models import ServiceSettings

DEFAULT_APDEX_THRESHOLD_MS = 500


def apdex_thresholds(organization_id: int, project_id: int) -> dict[str, int]:
    """Service name → Apdex threshold in ms, for the services that set one (others use the default)."""
    return dict(
        ServiceSettings.objects.for_organization(organization_id)
        .filter(project_id=project_id)
        .values_list("service", "apdex_threshold_ms")
    )


def apdex_threshold(organization_id: int, project_id: int, service: str) -> int:
    return apdex_thresholds(organization_id, project_id).get(service, DEFAULT_APDEX_THRESHOLD_MS)


def set_apdex_threshold(
    organization_id: int,
    project_id: int,
    service: str,
    *,
    threshold_ms: int,
    actor: Any,
    origin: Origin | None = None,
) -> ServiceSettings:
    """Set a service's Apdex threshold; audited with the value before and after."""
    with transaction.atomic():
        settings, _ = (
            ServiceSettings.objects.for_organization(organization_id)
            .select_for_update()
            .get_or_create(organization_id=organization_id, project_id=project_id, service=service)
        )
        before = settings.apdex_threshold_ms
        settings.apdex_threshold_ms = threshold_ms
        settings.save()
        record(
            organization_id,
            Action.SERVICE_SETTINGS_CHANGED,
            actor=actor,
            target=settings,
            before={"apdex_threshold_ms": before},
            after={"apdex_threshold_ms": threshold_ms},
            origin=origin,
        )
    return settings
