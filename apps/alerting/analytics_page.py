"""The alert analytics page of an organization: ``analytics.report`` (the API's figures) over a time range.

The report is in seconds and ratios; this page only words them for people (durations, percentages), orders the
per-rule table by the column asked for (``?sort=fires`` or ``?sort=-mtta``), and draws the notifications per
hour of day.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from django.http import HttpRequest, HttpResponse, QueryDict
from django.shortcuts import render
from django.urls import path
from django.utils import timezone

from apps.alerting import analytics, charts
from apps.alerting.models import AlertRule
from apps.core.timerange import TimeRange, parse_timerange
from apps.core.views import TenantView

READ = "telemetry:read"
# The per-rule table's columns: key, label, how a row sorts by it (None sorts last whatever the direction).
COLUMNS: tuple[tuple[str, str], ...] = (
    ("rule", "Rule"), ("fires", "Fires"), ("incidents", "Incidents"), ("flapping", "Flapping score"),
    ("precision", "Precision"), ("mtta", "MTTA (mean)"), ("mttr", "MTTR (mean)"), ("mttd", "MTTD (mean)"),
)  # fmt: skip
_SORT_VALUE: dict[str, Callable[[dict[str, Any]], Any]] = {
    "rule": lambda row: row["rule"].lower(),
    "fires": lambda row: row["fires"],
    "incidents": lambda row: row["incidents"],
    "flapping": lambda row: row["flapping_score"],
    "precision": lambda row: row["precision"],
    "mtta": lambda row: row["mtta_seconds"]["mean"],
    "mttr": lambda row: row["mttr_seconds"]["mean"],
    "mttd": lambda row: row["mttd_seconds"]["mean"],
}


def duration(seconds: float | None) -> str:
    """``42 s``, ``4 min 30 s``, ``2 h 5 min``, ``3 d 4 h``; "–" without a value."""
    if seconds is None:
        return "–"
    whole = round(seconds)
    if whole < 60:
        return f"{whole} s"
    minutes, secs = divmod(whole, 60)
    if minutes < 60:
        return f"{minutes} min {secs} s" if secs else f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} h" if hours else f"{days} d"


def percent(ratio: float | None) -> str:
    return "–" if ratio is None else f"{ratio * 100:.0f} %"


def timerange_of(params: QueryDict, now: datetime) -> TimeRange:
    """The picker's range; the last 30 days unless chosen."""
    return parse_timerange(params, default="30d", now=now)


def _reaction(figures: dict[str, Any]) -> list[dict[str, str]]:
    """MTTA, MTTR and MTTD as worded rows."""
    names = (("mtta_seconds", "MTTA", "opened → acknowledged"), ("mttr_seconds", "MTTR", "opened → resolved"),
             ("mttd_seconds", "MTTD", "first breaching data → first notification sent"))  # fmt: skip
    return [
        {"name": name, "meaning": meaning, "count": figures[key]["count"], "mean": duration(figures[key]["mean"]),
         "p50": duration(figures[key]["p50"]), "p90": duration(figures[key]["p90"])}
        for key, name, meaning in names
    ]  # fmt: skip


def _sorted(rows: list[dict[str, Any]], sort: str) -> tuple[list[dict[str, Any]], str]:
    key = sort.lstrip("-")
    if key not in _SORT_VALUE:
        return rows, "-fires"  # the report's own order: most fires first
    value = _SORT_VALUE[key]
    present = [row for row in rows if value(row) is not None]
    missing = [row for row in rows if value(row) is None]
    return sorted(present, key=value, reverse=sort.startswith("-")) + missing, sort


class AlertAnalyticsView(TenantView):
    scope_map = {"GET": READ}

    def get(self, request: HttpRequest, organization_slug: str) -> HttpResponse:
        timerange = timerange_of(request.GET, timezone.now())
        assert timerange.start is not None
        assert timerange.end is not None  # the range is always bounded here
        report = analytics.report(self.access.organization_id, timerange.start, timerange.end)
        projects = dict(AlertRule.objects.for_organization(self.access.organization_id)
                        .filter(pk__in=[row["rule_id"] for row in report["rules"]])
                        .values_list("pk", "project__slug"))  # fmt: skip
        rows, sort = _sorted(report["rules"], request.GET.get("sort", ""))
        figures = report["organization"]
        context = {
            "timerange": timerange, "report": report, "figures": figures, "reaction": _reaction(figures),
            "precision": percent(figures["precision"]), "sort": sort, "columns": COLUMNS,
            "rules": [self._row(row, projects) for row in rows],
            "noisiest": [{**row, "precision_text": percent(row["precision"]), "project": projects.get(row["rule_id"])}
                         for row in report["noisiest"]],
            "hours_chart": charts.notifications_per_hour(report["hours"]) if any(report["hours"]) else None,
            "empty": not (figures["fires"] or figures["incidents"] or any(report["hours"])),
        }  # fmt: skip
        return render(request, "alerting/analytics.html", context, status=400 if timerange.error else 200)

    @staticmethod
    def _row(row: dict[str, Any], projects: dict[int, str]) -> dict[str, Any]:
        return {
            **row, "project": projects.get(row["rule_id"]), "precision_text": percent(row["precision"]),
            "flapping_text": percent(row["flapping_score"]), "mtta": duration(row["mtta_seconds"]["mean"]),
            "mttr": duration(row["mttr_seconds"]["mean"]), "mttd": duration(row["mttd_seconds"]["mean"]),
        }  # fmt: skip


urlpatterns = [
    path("o/<slug:organization_slug>/alert-analytics/", AlertAnalyticsView.as_view(), name="analytics"),
]
