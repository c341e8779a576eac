from __future__ import annotations

from django.conf import settings
from django.db import models

from apps.core.models import TenantForeignKey, TenantModel


class ScrubRule(TenantModel):
    """A project's own PII rule, applied at ingest on top of the default detectors (apps/ingest/scrub.py).

    ``kind`` "key": ``pattern`` is an attribute key glob or last segment, the whole value is redacted;
    "regex": ``pattern`` is searched in string values. ``action`` "replace" or "hash" (joinable HMAC).
    """

    class Kind(models.TextChoices):
        KEY = "key", "Attribute key"
        REGEX = "regex", "Regular expression"

    class ScrubAction(models.TextChoices):
        REPLACE = "replace", "Replace with [REDACTED:<category>]"
        HASH = "hash", "Replace with a keyed hash (joinable)"

    project = TenantForeignKey("tenants.Project", on_delete=models.CASCADE, related_name="+")
    kind = models.CharField(max_length=8, choices=Kind.choices)
    pattern = models.CharField(max_length=500)
    action = models.CharField(max_length=8, choices=ScrubAction.choices, default=ScrubAction.REPLACE)
    category = models.CharField(max_length=40, default="custom")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"{self.kind}:{self.pattern}"
