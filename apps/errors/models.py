"""Issues: exceptions grouped by fingerprint (apps/errors/fingerprint.py), with a triage status.

The occurrences themselves are telemetry (``errors_occurrence``, a partitioned SQL table, sql/); an
``ErrorGroup`` row is created the first time a fingerprint is seen and holds what a person acts on.
"""

from __future__ import annotations

from django.db import models

from apps.core.models import TenantForeignKey, TenantModel


class ErrorStatus(models.TextChoices):
    UNRESOLVED = "unresolved"
    RESOLVED = "resolved"  # an occurrence after resolved_at reopens it
    IGNORED = "ignored"  # still counted, never reopened, hidden by default


class ErrorGroup(TenantModel):
    project = TenantForeignKey("tenants.Project", on_delete=models.CASCADE, related_name="+")
    fingerprint = models.CharField(max_length=32)
    exception_type = models.CharField(max_length=200)
    message = models.CharField(max_length=500, help_text="Normalised: the varying parts replaced by placeholders")
    frame = models.CharField(max_length=500, blank=True, help_text="file:function of the top in-app frame")
    sample_message = models.TextField(blank=True)
    sample_stacktrace = models.TextField(blank=True)
    sample_trace_id = models.CharField(max_length=32, blank=True)
    first_seen = models.DateTimeField()
    status = models.CharField(max_length=12, choices=ErrorStatus.choices, default=ErrorStatus.UNRESOLVED)
    resolved_at = models.DateTimeField(null=True, blank=True)
    status_changed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["organization", "project", "fingerprint"], name="errors_group_unique"),
        ]
        indexes = [models.Index(fields=["organization", "project", "status"], name="errors_group_status")]

    def __str__(self) -> str:
        return f"{self.exception_type}: {self.message}"
