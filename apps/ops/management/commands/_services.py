"""Shared by the commands that need PostgreSQL and Redis: start the embedded ones if asked."""

from __future__ import annotations

from django.conf import settings
from django.core.management.base import CommandError

from apps.ops.embedded import EmbeddedServiceError, EmbeddedServices, start_services


def start_configured_services() -> EmbeddedServices:
    """Embedded servers for whichever of DATABASE_URL / REDIS_URL is unset; CommandError on failure."""
    try:
        return start_services(
            postgres_dir=settings.EMBEDDED_POSTGRES_DIR if settings.EMBEDDED_POSTGRES else None,
            redis_dir=settings.EMBEDDED_REDIS_DIR if settings.EMBEDDED_REDIS else None,
            database=settings.EMBEDDED_DATABASE_NAME,
        )
    except EmbeddedServiceError as exc:
        raise CommandError(str(exc)) from exc
