"""Errors: the issues list and one issue (occurrences, who and what it affects, its stack trace, triage)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import path

from apps.apm import charts
from apps.apm.pages import PROJECT, ProjectPage, bounded, project_url, trace_search_url
from apps.audit.services import Origin
from apps.errors import queries, services
from apps.errors.api.views import step_of
from apps.errors.models import ErrorStatus

ALERTS_WRITE = "alerts:write"  # triage belongs to the people who handle alerts and incidents
_STATUS_CHOICES = [("unresolved", "Unresolved"), ("resolved", "Resolved"), ("ignored", "Ignored"), ("all", "All")]


class ErrorsView(ProjectPage):
    template_name = "apm/errors.html"

    def get(self, request: HttpRequest, **kwargs: Any) -> HttpResponse:
        timerange = self.timerange(request, default="24h")
        start, end = bounded(timerange)
        status = request.GET.get("status") or "unresolved"
        if status not in dict(_STATUS_CHOICES):
            status = "unresolved"
        statuses = list(ErrorStatus.values) if status == "all" else [status]
        rows = queries.issues(self.organization_id, self.project_id, start, end, statuses=statuses,
                              step=step_of(start, end))  # fmt: skip
        for row in rows:
            row["url"] = project_url(request, "error", fingerprint=row["fingerprint"])
            row["sparkline"] = charts.sparkline(row["series"], key="count")
        context = {"rows": rows, "status": status, "status_choices": _STATUS_CHOICES}
        return self.page(request, timerange, context)


class ErrorView(ProjectPage):
    template_name = "apm/error.html"
    scope_map = {"GET": "telemetry:read", "POST": ALERTS_WRITE}

    def _issue(self, fingerprint: str) -> Any:
        issue = queries.issue(self.organization_id, self.project_id, fingerprint)
        if issue is None:
            raise Http404("No such issue in this project.")
        return issue

    def get(self, request: HttpRequest, fingerprint: str, **kwargs: Any) -> HttpResponse:
        issue = self._issue(fingerprint)
        timerange = self.timerange(request, default="24h")
        start, end = bounded(timerange)
        step = step_of(start, end)
        details = queries.issue_details(self.organization_id, self.project_id, fingerprint, start, end, step=step)

        def error_traces_at(moment: datetime) -> str:
            return trace_search_url(request, status="error", **{"from": moment, "to": moment + timedelta(seconds=step)})

        for example in details["examples"]:
            example["url"] = project_url(request, "trace", trace_id=example["trace_id"])
        for row in details["services"]:
            row["url"] = project_url(request, "service", service=row["name"])
        for row in details["operations"]:
            row["url"] = trace_search_url(request, operation=row["name"], status="error", **{"from": start, "to": end})
        context = {
            "issue": issue,
            "details": details,
            "chart": charts.occurrences_chart(details["series"], error_traces_at),
            "can_triage": ALERTS_WRITE in self.access.scopes,
            "statuses": ErrorStatus.choices,
        }
        return self.page(request, timerange, context)

    def post(self, request: HttpRequest, fingerprint: str, **kwargs: Any) -> HttpResponse:
        issue = self._issue(fingerprint)
        status = request.POST.get("status", "")
        if status not in ErrorStatus.values:
            messages.error(request, "Choose unresolved, resolved or ignored.")
        else:
            services.set_status(issue, status, request.user, Origin.from_request(request))
            messages.success(request, f"The issue is now {status}.")
        return HttpResponseRedirect(request.get_full_path())


urlpatterns = [
    path(PROJECT + "errors/", ErrorsView.as_view(), name="errors"),
    path(PROJECT + "errors/<str:fingerprint>/", ErrorView.as_view(), name="error"),
]
