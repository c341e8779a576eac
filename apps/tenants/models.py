from __future__ import annotations

from datetime import datetime

from django.conf import settings
from django.db import models
from django.utils import timezone

from apps.core.models import TenantForeignKey, TenantModel
from apps.tenants.roles import Role


class Organization(models.Model):
    """The tenant. Every tenant-owned row points here through ``organization_id``."""

    name = models.CharField(max_length=100)
    slug = models.SlugField(max_length=50, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    # Defaults for every project; a project may override each signal (Project.*_retention_days).
    raw_retention_days = models.PositiveSmallIntegerField(
        default=15, help_text="Days raw spans, logs and metric points are kept."
    )
    rollup_retention_days = models.PositiveSmallIntegerField(
        default=90, help_text="Days per-minute and per-hour rollups are kept."
    )

    def __str__(self) -> str:
        return self.name


class Project(TenantModel):
    """An application or environment inside an organization; telemetry is sent per project."""

    name = models.CharField(max_length=100)
    slug = models.SlugField(max_length=50)
    created_at = models.DateTimeField(auto_now_add=True)
    # Per-signal retention overrides in days; empty means the organization's default.
    span_retention_days = models.PositiveSmallIntegerField(null=True, blank=True)
    log_retention_days = models.PositiveSmallIntegerField(null=True, blank=True)
    metric_retention_days = models.PositiveSmallIntegerField(null=True, blank=True)
    rollup_retention_days = models.PositiveSmallIntegerField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["organization", "slug"], name="project_slug_per_org")]
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Membership(TenantModel):
    """A user's role in an organization; the role maps to scopes (``apps.tenants.roles``)."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=16, choices=Role.choices)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["organization", "user"], name="one_membership_per_user")]
        ordering = ["user__username"]

    def __str__(self) -> str:
        return f"{self.user} ({self.role})"


class Invitation(TenantModel):
    """An emailed invitation to join with a role; the link's token is stored hashed."""

    email = models.EmailField()
    role = models.CharField(max_length=16, choices=Role.choices)
    token_hash = models.CharField(max_length=64)
    invited_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    accepted_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["token_hash"], name="invitation_token")]
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.email

    @property
    def is_pending(self) -> bool:
        return self.accepted_at is None and self.revoked_at is None and self.expires_at > timezone.now()


class IngestKey(TenantModel):
    """A write-only key with which one project sends telemetry.

    The secret is shown once at creation; only its SHA-256 and a visible
    prefix are stored. Revoked or expired keys authenticate nothing.
    """

    project = TenantForeignKey(Project, on_delete=models.CASCADE, related_name="ingest_keys")
    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=16)
    key_hash = models.CharField(max_length=64)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["key_hash"], name="ingest_key_hash")]
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    def is_usable(self, now: datetime | None = None) -> bool:
        moment = now or timezone.now()
        return self.revoked_at is None and (self.expires_at is None or self.expires_at > moment)
