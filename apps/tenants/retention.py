"""How long each project keeps each signal: the project's override, else its organization's default."""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import F
from django.db.models.functions import Coalesce

from apps.tenants.models import Project

RAW_SIGNALS = ("spans", "logs", "metrics")
SIGNALS = (*RAW_SIGNALS, "rollups")
_OVERRIDE = {
    "spans": "span_retention_days",
    "logs": "log_retention_days",
    "metrics": "metric_retention_days",
    "rollups": "rollup_retention_days",
}


@dataclass(frozen=True)
class ProjectRetention:
    organization_id: int
    project_id: int
    days: int


def retention_of_all_projects(signal: str) -> list[ProjectRetention]:
    """Every project's retention for ``signal`` (maintenance spans all tenants, by design)."""
    default = "organization__rollup_retention_days" if signal == "rollups" else "organization__raw_retention_days"
    rows = (
        Project.objects.unscoped()
        .annotate(days=Coalesce(F(_OVERRIDE[signal]), F(default)))
        .values_list("organization_id", "pk", "days")
    )
    return [ProjectRetention(org, project, days) for org, project, days in rows]
