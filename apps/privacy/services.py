"""GDPR tools: find, export and delete all telemetry of one end user, named by an attribute key and value
(``enduser.id``, ``user.id``, ``user.email`` or a key from ``VIGIL_PRIVACY_EXTRA_USER_KEYS``), in one project
or in every project of an organization.

- Each store owns the SQL over its tables (``apps/{tracing,logs,metrics}/erasure.py``); this module walks the
  projects, writes the export, paces the deletion (one batch, one transaction: spans and rollups stay
  consistent and locks stay short) and writes the audit entry.
- The audit entry keeps the key and a SHA-256 of the value, never the value, and the counts. It is written
  once the work is done; an interrupted deletion writes none and can simply be run again.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any, Protocol

import msgspec
from django.conf import settings
from django.db import transaction

from apps.audit.actions import Action
from apps.audit.services import Origin, record
from apps.errors import erasure as errors
from apps.logs import erasure as logs
from apps.metrics import erasure as metrics
from apps.tenants.models import Project
from apps.tracing import erasure as tracing

DEFAULT_USER_KEYS = ("enduser.id", "user.id", "user.email")
DEFAULT_BATCH_SIZE = 5000
MAX_VALUE_LENGTH = 4096

Progress = Callable[[int, int], None]  # (records done, records in total)


class Writer(Protocol):
    def write(self, text: str, /) -> Any: ...


class PrivacyError(ValueError):
    """A request the tools refuse (unknown key, empty value, unknown project); the message says why."""


def user_keys() -> list[str]:
    extra = [k for k in getattr(settings, "VIGIL_PRIVACY_EXTRA_USER_KEYS", []) if k not in DEFAULT_USER_KEYS]
    return [*DEFAULT_USER_KEYS, *extra]


def check_subject(key: str, value: str) -> None:
    if key not in user_keys():
        raise PrivacyError(f"Unknown user key {key!r}; use one of {', '.join(user_keys())}.")
    if not isinstance(value, str) or not value:
        raise PrivacyError("The value must be a non-empty string.")
    if len(value) > MAX_VALUE_LENGTH:
        raise PrivacyError(f"The value is longer than {MAX_VALUE_LENGTH} characters.")


def value_digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


@dataclass
class UserTelemetry:
    """How much telemetry of the user there is (find), was exported, or was deleted."""

    spans: int = 0
    logs: int = 0
    metric_series: int = 0
    metric_points: int = 0
    error_occurrences: int = 0

    @property
    def total(self) -> int:
        return self.spans + self.logs + self.metric_series + self.metric_points + self.error_occurrences

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


@dataclass(frozen=True)
class ExportResult:
    counts: UserTelemetry
    truncated: bool


def projects_of(organization_id: int, project_id: int | None) -> list[Project]:
    projects = Project.objects.for_organization(organization_id).order_by("slug")
    if project_id is not None:
        projects = projects.filter(pk=project_id)
    found = list(projects)
    if project_id is not None and not found:
        raise PrivacyError("Unknown project.")
    return found


def find_user_telemetry(organization_id: int, project_id: int | None, key: str, value: str) -> UserTelemetry:
    """Counts of the user's spans, log records, metric series and their points."""
    check_subject(key, value)
    found = UserTelemetry()
    for project in projects_of(organization_id, project_id):
        found.spans += tracing.count_spans(organization_id, project.pk, key, value)
        found.logs += logs.count_logs(organization_id, project.pk, key, value)
        found.error_occurrences += errors.count_occurrences(organization_id, project.pk, key, value)
        series = metrics.find_series(organization_id, project.pk, key, value)
        found.metric_series += len(series)
        if series:
            found.metric_points += metrics.count_points(organization_id, project.pk, [info.key for _, info in series])
    return found


class _Limit(Exception):
    pass


def export_user_telemetry(
    organization_id: int,
    project_id: int | None,
    key: str,
    value: str,
    out: Writer,
    *,
    actor: Any = None,
    actor_label: str | None = None,
    origin: Origin | None = None,
    limit: int | None = None,
    progress: Progress | None = None,
) -> ExportResult:
    """Write the user's telemetry to ``out`` as JSON lines, one record per line:
    ``{"kind": "span"|"log"|"metric_series"|"metric_point", "project": slug, "record": {...}}`` in the read API's
    shapes (a metric point also names its ``series_id``). At most ``limit`` records (``truncated`` then says
    more exist). Audited as ``privacy.exported``."""
    total = find_user_telemetry(organization_id, project_id, key, value).total if progress else 0
    written = UserTelemetry()
    encode = msgspec.json.Encoder().encode
    truncated = False

    def emit(kind: str, project: Project, data: dict[str, Any], field: str) -> None:
        done = written.total
        if limit is not None and done >= limit:
            raise _Limit
        out.write(encode({"kind": kind, "project": project.slug, "record": data}).decode() + "\n")
        setattr(written, field, getattr(written, field) + 1)
        if progress:
            progress(done + 1, max(total, done + 1))

    try:
        for project in projects_of(organization_id, project_id):
            for span in tracing.iter_spans(organization_id, project.pk, key, value):
                emit("span", project, span, "spans")
            for log in logs.iter_logs(organization_id, project.pk, key, value):
                emit("log", project, log, "logs")
            for name, info in metrics.find_series(organization_id, project.pk, key, value):
                emit("metric_series", project, {"name": name, **info.describe()}, "metric_series")
                for point in metrics.iter_points(organization_id, project.pk, info):
                    emit("metric_point", project, {"series_id": info.key.hex(), **point}, "metric_points")
    except _Limit:
        truncated = True
    record(
        organization_id,
        Action.PRIVACY_EXPORTED,
        actor=actor,
        actor_label=actor_label,
        target=_target(organization_id, project_id),
        after=_details(key, value, project_id, organization_id, written) | {"truncated": truncated},
        origin=origin,
    )
    return ExportResult(written, truncated)


def delete_user_telemetry(
    organization_id: int,
    project_id: int | None,
    key: str,
    value: str,
    *,
    actor: Any = None,
    actor_label: str | None = None,
    origin: Origin | None = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
    progress: Progress | None = None,
) -> UserTelemetry:
    """Delete the user's spans (with their rollup contributions), log records (and their counts), error
    occurrences and metric series (points and rollups), ``batch_size`` rows per transaction. Audited as
    ``privacy.deleted``."""
    total = find_user_telemetry(organization_id, project_id, key, value).total if progress else 0
    deleted = UserTelemetry()

    def advance() -> None:
        if progress:
            progress(deleted.total, max(total, deleted.total))

    for project in projects_of(organization_id, project_id):
        while True:
            with transaction.atomic():
                n = tracing.delete_span_batch(organization_id, project.pk, key, value, batch_size)
            if not n:
                break
            deleted.spans += n
            advance()
        while True:
            with transaction.atomic():
                n = logs.delete_log_batch(organization_id, project.pk, key, value, batch_size)
            if not n:
                break
            deleted.logs += n
            advance()
        while True:
            with transaction.atomic():
                n = errors.delete_occurrence_batch(organization_id, project.pk, key, value, batch_size)
            if not n:
                break
            deleted.error_occurrences += n
            advance()
        keys = [info.key for _, info in metrics.find_series(organization_id, project.pk, key, value)]
        while keys:
            with transaction.atomic():
                points, rollups, series = metrics.delete_series_batch(organization_id, project.pk, keys, batch_size)
            if not (points or rollups or series):
                break
            deleted.metric_points += points
            deleted.metric_series += series
            advance()
    record(
        organization_id,
        Action.PRIVACY_DELETED,
        actor=actor,
        actor_label=actor_label,
        target=_target(organization_id, project_id),
        after=_details(key, value, project_id, organization_id, deleted),
        origin=origin,
    )
    if progress:
        progress(deleted.total, deleted.total)
    return deleted


def _target(organization_id: int, project_id: int | None) -> Project | None:
    return projects_of(organization_id, project_id)[0] if project_id is not None else None


def _details(
    key: str, value: str, project_id: int | None, organization_id: int, counts: UserTelemetry
) -> dict[str, Any]:
    project = _target(organization_id, project_id)
    return {
        "key": key,
        "value_sha256": value_digest(value),
        "project": project.slug if project else None,
        **counts.as_dict(),
    }
