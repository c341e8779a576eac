"""manage.py gdpr export|delete: one end user's telemetry, with a progress bar on stderr."""

from __future__ import annotations

from argparse import ArgumentParser
from contextlib import ExitStack
from dataclasses import astuple, dataclass
from typing import Any

from django.core.management.base import BaseCommand, CommandError, OutputWrapper

from apps.privacy import services
from apps.tenants.models import Organization, Project


@dataclass(frozen=True)
class _Subject:
    organization_id: int
    project_id: int | None
    key: str
    value: str
    where: str  # for messages: "org/project" or "org (all projects)"


class ProgressBar:
    """``label [#######.............]  35%  350/1000`` redrawn in place (carriage return); only when it changes."""

    def __init__(self, stream: OutputWrapper, label: str, width: int = 30) -> None:
        self.stream = stream
        self.label = label
        self.width = width
        self._last: str | None = None

    def __call__(self, done: int, total: int) -> None:
        total = max(total, done, 1)
        filled = self.width * done // total
        line = f"{self.label} [{'#' * filled}{'.' * (self.width - filled)}] {100 * done // total:3d}%  {done}/{total}"
        if line != self._last:
            self.stream.write("\r" + line, ending="")
            self.stream.flush()
            self._last = line

    def finish(self) -> None:
        if self._last is not None:
            self.stream.write("")
            self.stream.flush()


class Command(BaseCommand):
    help = (
        "Export or delete all telemetry (spans, log records, metric series) of one end user, named by an "
        "attribute (enduser.id, user.id, user.email or VIGIL_PRIVACY_EXTRA_USER_KEYS), in one project or the "
        "whole organization. Both are audited."
    )

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("action", choices=["export", "delete"])
        parser.add_argument("--org", required=True, help="organization slug")
        parser.add_argument("--project", help="project slug (default: every project of the organization)")
        parser.add_argument("--key", required=True, help="attribute key, e.g. enduser.id")
        parser.add_argument("--value", required=True, help="the user's value of that attribute")
        parser.add_argument("--output", help="export: write JSON lines to this file (default: stdout)")
        parser.add_argument("--yes", action="store_true", help="delete: do not ask for confirmation")
        parser.add_argument("--batch-size", type=int, default=services.DEFAULT_BATCH_SIZE, help="rows per transaction")

    def handle(self, *args: Any, **options: Any) -> None:
        organization = Organization.objects.filter(slug=options["org"]).first()
        if organization is None:
            known = ", ".join(Organization.objects.order_by("slug").values_list("slug", flat=True)) or "none"
            raise CommandError(f"Unknown organization {options['org']!r}. Organizations: {known}.")
        project_id = None
        projects = Project.objects.for_organization(organization.pk).order_by("slug")
        if options["project"]:
            project = projects.filter(slug=options["project"]).first()
            if project is None:
                known = ", ".join(projects.values_list("slug", flat=True)) or "none"
                raise CommandError(
                    f"Unknown project {options['project']!r} in organization {organization.slug!r}. Projects: {known}."
                )
            project_id = project.pk
        key, value = options["key"], options["value"]
        try:
            services.check_subject(key, value)
        except services.PrivacyError as exc:
            raise CommandError(str(exc)) from exc
        where = (
            f"{organization.slug}/{options['project']}" if options["project"] else f"{organization.slug} (all projects)"
        )
        if options["action"] == "export":
            self._export(_Subject(organization.pk, project_id, key, value, where), options["output"])
        else:
            self._delete(_Subject(organization.pk, project_id, key, value, where), options)

    def _export(self, subject: _Subject, output: str | None) -> None:
        organization_id, project_id, key, value, where = astuple(subject)
        bar = ProgressBar(self.stderr, "exporting")
        with ExitStack() as stack:
            out: services.Writer = stack.enter_context(open(output, "w", encoding="utf-8")) if output else self.stdout
            result = services.export_user_telemetry(
                organization_id, project_id, key, value, out, actor_label="manage.py gdpr", progress=bar
            )
        bar.finish()
        counts = result.counts
        self.stderr.write(
            f"Exported {counts.spans} spans, {counts.logs} log records, {counts.metric_series} metric series "
            f"({counts.metric_points} points) of {key} in {where}" + (f" to {output}." if output else ".")
        )

    def _delete(self, subject: _Subject, options: dict[str, Any]) -> None:
        organization_id, project_id, key, value, where = astuple(subject)
        found = services.find_user_telemetry(organization_id, project_id, key, value)
        summary = (
            f"{found.spans} spans, {found.logs} log records, {found.error_occurrences} error occurrences, "
            f"{found.metric_series} metric series ({found.metric_points} points) of {key} in {where}"
        )
        if not options["yes"]:
            self.stderr.write(f"This deletes {summary}. It cannot be undone.")
            self.stderr.flush()
            answer = input("Type 'yes' to delete: ")
            if answer.strip().lower() != "yes":
                raise CommandError("Cancelled: nothing was deleted.")
        bar = ProgressBar(self.stderr, "deleting")
        deleted = services.delete_user_telemetry(
            organization_id,
            project_id,
            key,
            value,
            actor_label="manage.py gdpr",
            batch_size=options["batch_size"],
            progress=bar,
        )
        bar.finish()
        self.stdout.write(
            f"Deleted {deleted.spans} spans, {deleted.logs} log records, {deleted.error_occurrences} error "
            f"occurrences, {deleted.metric_series} metric series ({deleted.metric_points} points) of {key} in "
            f"{where}; rollups corrected."
        )
