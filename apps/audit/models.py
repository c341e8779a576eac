from __future__ import annotations

from django.conf import settings
from django.db import models

from apps.core.models import TenantModel


class AuditEntry(TenantModel):
    """One thing a person (or Vigil on their behalf) did in an organization.

    Written explicitly by services through ``apps.audit.services.record``,
    never by signals, so each entry says what the service meant. Entries are
    append-only: nothing updates or deletes them except the organization's
    own deletion.
    """

    created_at = models.DateTimeField(auto_now_add=True)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    actor_label = models.CharField(max_length=254, help_text="Username at the time, kept if the user is deleted.")
    action = models.CharField(max_length=64)
    target_type = models.CharField(max_length=64, blank=True)
    target_id = models.CharField(max_length=64, blank=True)
    target_label = models.CharField(max_length=254, blank=True)
    before = models.JSONField(default=dict, blank=True)
    after = models.JSONField(default=dict, blank=True)
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=512, blank=True)

    class Meta:
        indexes = [models.Index(fields=["organization", "-created_at"], name="audit_org_time")]
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.actor_label} {self.action} {self.target_label}"
