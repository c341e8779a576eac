"""The span store's configuration rows (telemetry itself lives in partitioned SQL tables, see sql/)."""

from __future__ import annotations

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models

from apps.core.models import TenantForeignKey, TenantModel


class SamplingPolicy(TenantModel):
    """A project's tail-based trace sampling (apps/tracing/sampling.py); no row means keep every trace.

    Every trace with an error span or a span slower than ``slow_threshold_ms`` is kept, and a share
    ``keep_share`` of the others, chosen by trace id. Rollups count every span whatever is kept.
    """

    project = TenantForeignKey("tenants.Project", on_delete=models.CASCADE, related_name="+")
    keep_share = models.FloatField(default=1.0, validators=[MinValueValidator(0.0), MaxValueValidator(1.0)])
    slow_threshold_ms = models.PositiveIntegerField(default=1000)
    decision_window_seconds = models.PositiveIntegerField(default=30, validators=[MaxValueValidator(3600)])
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["organization", "project"], name="tracing_sampling_one_per_project"),
        ]

    def __str__(self) -> str:
        return f"sampling policy of project {self.project_id}"


class ServiceSettings(TenantModel):
    """What a project's team sets per service; no row means the defaults (Apdex threshold 500 ms)."""

    project = TenantForeignKey("tenants.Project", on_delete=models.CASCADE, related_name="+")
    service = models.CharField(max_length=255)
    apdex_threshold_ms = models.PositiveIntegerField(
        default=500, validators=[MinValueValidator(1), MaxValueValidator(600_000)],
        help_text="Requests up to this are satisfied, up to four times this tolerated (Apdex)",
    )  # fmt: skip
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["organization", "project", "service"], name="tracing_service_settings"),
        ]
        verbose_name_plural = "service settings"

    def __str__(self) -> str:
        return f"settings of service {self.service}"
