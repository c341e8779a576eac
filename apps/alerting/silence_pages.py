"""Silence pages of an organization: the list (active, upcoming, ended), the form, and expiring one.

Silences are created and expired through ``services.create_silence`` / ``expire_silence`` (validated and
audited there), as in the API. The form can be prefilled from the query string, which is how an incident's
"Silence" link hands over its labels: ``?label.service=checkout&label.rule=...&project=<slug>&comment=...``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from itertools import zip_longest
from typing import Any

from django.contrib import messages
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect, QueryDict
from django.shortcuts import render
from django.urls import path, reverse
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from apps.alerting import services
from apps.alerting.models import Silence
from apps.alerting.rules import RuleInvalid
from apps.alerting.suppression import MATCH_OPERATORS
from apps.audit.services import Origin
from apps.core.views import TenantView
from apps.tenants.models import Project
from apps.tenants.queries import projects_of

READ, WRITE = "telemetry:read", "alerts:write"
ORG = "o/<slug:organization_slug>/silences/"
DURATIONS = {"30m": timedelta(minutes=30), "1h": timedelta(hours=1), "2h": timedelta(hours=2),
             "4h": timedelta(hours=4), "8h": timedelta(hours=8), "1d": timedelta(days=1), "3d": timedelta(days=3),
             "7d": timedelta(days=7)}  # fmt: skip
KINDS = (("silence", "Silence"), ("maintenance", "Maintenance window"))
ENDED_SHOWN = 50
MATCHER_ROWS_OFFERED = 3  # empty rows the form offers without JavaScript


def silences_of(organization_id: int, now: datetime) -> dict[str, QuerySet[Silence]]:
    """Active (soonest to end first), upcoming (soonest to start first) and the latest ended ones."""
    rows = Silence.objects.for_organization(organization_id).select_related("project", "created_by")
    return {
        "active": rows.filter(starts_at__lte=now, ends_at__gt=now).order_by("ends_at", "pk"),
        "upcoming": rows.filter(starts_at__gt=now).order_by("starts_at", "pk"),
        "ended": rows.filter(ends_at__lte=now).order_by("-ends_at", "-pk")[:ENDED_SHOWN],
    }


def _moment(raw: str) -> datetime | None:
    """A datetime-local value (UTC, as the form says); None if unreadable."""
    try:
        moment = parse_datetime(raw.strip())
    except ValueError:
        return None
    if moment is not None and timezone.is_naive(moment):
        moment = moment.replace(tzinfo=UTC)
    return moment


@dataclass
class SilenceForm:
    """The silence form as typed, and its errors by input (``ends_at``, ``matchers-2-value``...)."""

    matchers: list[dict[str, str]]
    values: dict[str, str]
    errors: dict[str, str] = field(default_factory=dict)

    @classmethod
    def prefilled(cls, params: QueryDict) -> SilenceForm:
        matchers = [{"label": key[6:], "op": "=", "value": value} for key in params if key.startswith("label.")
                    for value in params.getlist(key)]  # fmt: skip
        values = {"kind": params.get("kind", "silence"), "project": params.get("project", ""),
                  "comment": params.get("comment", ""), "starts_at": "", "ends_at": "",
                  "duration": params.get("duration", "1h")}  # fmt: skip
        return cls(matchers, values)

    @classmethod
    def from_post(cls, data: QueryDict) -> SilenceForm:
        rows = zip_longest(data.getlist("matcher_label"), data.getlist("matcher_op"), data.getlist("matcher_value"),
                           fillvalue="")  # fmt: skip
        matchers = [{"label": label.strip(), "op": op, "value": value} for label, op, value in rows
                    if label.strip() or value.strip()]  # fmt: skip
        values = {key: data.get(key, "") for key in ("project", "comment", "starts_at", "ends_at", "duration")}
        values["kind"] = data.get("kind") or "silence"
        return cls(matchers, values)

    def rows(self) -> list[dict[str, str]]:
        """The matchers with their errors, plus empty rows to fill."""
        shown = [{**matcher, "error": self.errors.get(f"matchers-{index}", "")}
                 for index, matcher in enumerate(self.matchers)]  # fmt: skip
        blank = {"label": "", "op": "=", "value": "", "error": ""}
        return shown + [dict(blank) for _ in range(max(1, MATCHER_ROWS_OFFERED - len(shown)))]

    def save(self, organization_id: int, actor: Any, origin: Origin) -> Silence | None:
        """The new silence, or None with ``errors`` set (nothing is written then)."""
        values = self.values
        if values["kind"] not in dict(KINDS):
            self.errors["kind"] = "Choose a silence or a maintenance window."
        project: Project | None = None
        if values["project"]:
            project = next((p for p in projects_of(organization_id) if p.slug == values["project"]), None)
            if project is None:
                self.errors["project"] = "No such project in this organization."
        starts_at = _moment(values["starts_at"]) if values["starts_at"].strip() else None
        if values["starts_at"].strip() and starts_at is None:
            self.errors["starts_at"] = "Enter a time as YYYY-MM-DD HH:MM (UTC), or leave it empty for now."
        ends_at = self._end(starts_at or timezone.now())
        if self.errors or ends_at is None:
            return None
        try:
            return services.create_silence(
                organization_id, matchers=self.matchers, starts_at=starts_at, ends_at=ends_at,
                comment=values["comment"], kind=values["kind"], project_id=project.pk if project else None,
                actor=actor, origin=origin,
            )  # fmt: skip
        except RuleInvalid as exc:
            for key, message in exc.errors.items():
                target = key.split(".")[0] + ("-" + key.split(".")[1] if key.startswith("matchers.") else "")
                self.errors[target] = message
            return None

    def _end(self, start: datetime) -> datetime | None:
        raw = self.values["ends_at"].strip()
        if raw:
            ends_at = _moment(raw)
            if ends_at is None:
                self.errors["ends_at"] = "Enter a time as YYYY-MM-DD HH:MM (UTC), or choose a duration."
            return ends_at
        if self.values["duration"] in DURATIONS:
            return start + DURATIONS[self.values["duration"]]
        self.errors["ends_at"] = "Choose how long it lasts, or when it ends."
        return None


class SilencesView(TenantView):
    scope_map = {"GET": READ}

    def get(self, request: HttpRequest, organization_slug: str) -> HttpResponse:
        now = timezone.now()
        context = {**silences_of(self.access.organization_id, now), "now": now,
                   "can_edit": WRITE in self.access.scopes}  # fmt: skip
        return render(request, "alerting/silences.html", context)


class SilenceNewView(TenantView):
    scope_map = {"GET": WRITE, "POST": WRITE}

    def get(self, request: HttpRequest, organization_slug: str) -> HttpResponse:
        return self.form_page(request, SilenceForm.prefilled(request.GET))

    def post(self, request: HttpRequest, organization_slug: str) -> HttpResponse:
        form = SilenceForm.from_post(request.POST)
        silence = form.save(self.access.organization_id, request.user, Origin.from_request(request))
        if silence is None:
            return self.form_page(request, form, status=400)
        what = "Maintenance window" if silence.kind == "maintenance" else "Silence"
        messages.success(request, f"{what} created: matching alerts notify nobody until "
                                  f"{silence.ends_at.astimezone(UTC):%Y-%m-%d %H:%M} UTC.")  # fmt: skip
        return HttpResponseRedirect(reverse("alerting:silences", args=[organization_slug]))

    def form_page(self, request: HttpRequest, form: SilenceForm, status: int = 200) -> HttpResponse:
        context = {"form": form, "rows": form.rows(), "values": form.values, "errors": form.errors,
                   "operators": MATCH_OPERATORS, "kinds": KINDS, "durations": list(DURATIONS),
                   "projects": projects_of(self.access.organization_id)}  # fmt: skip
        return render(request, "alerting/silence_form.html", context, status=status)


class SilenceExpireView(TenantView):
    """POST ends the silence now (it stays in the list, ended)."""

    model = Silence
    scope_map = {"POST": WRITE}

    def post(self, request: HttpRequest, organization_slug: str, pk: int) -> HttpResponse:
        silence = Silence.objects.for_organization(self.access.organization_id).filter(pk=pk).first()
        if silence is None:
            raise Http404("No such silence in this organization.")
        services.expire_silence(silence, request.user, Origin.from_request(request))
        messages.success(request, "Silence expired: matching alerts notify again.")
        return HttpResponseRedirect(reverse("alerting:silences", args=[organization_slug]))


urlpatterns = [
    path(ORG, SilencesView.as_view(), name="silences"),
    path(ORG + "new/", SilenceNewView.as_view(), name="silence-new"),
    path(ORG + "<int:pk>/expire/", SilenceExpireView.as_view(), name="silence-expire"),
]
