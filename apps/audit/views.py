"""The audit log page and its CSV export."""

from __future__ import annotations

from typing import Any

from django.core.paginator import Paginator
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.http import urlencode

from apps.audit import queries
from apps.audit.actions import Action
from apps.audit.export import csv_response, export_csv
from apps.audit.models import AuditEntry
from apps.audit.services import Origin
from apps.core.timerange import ALL_TIME, TimeRange, parse_timerange
from apps.core.views import TenantView

# The scope is named here, not imported from apps.tenants, which sits above audit in the layers.
AUDIT_READ = "audit:read"
PAGE_SIZE = 50


class _Filtered(TenantView):
    """Both pages read the same filters: ``action`` (prefix), ``actor`` (username) and the time range."""

    def filters(self, request: HttpRequest) -> tuple[dict[str, str], TimeRange]:
        fields = {name: request.GET.get(name, "").strip() for name in ("action", "actor")}
        return fields, parse_timerange(request.GET, default=ALL_TIME)

    def rows(self, fields: dict[str, str], timerange: TimeRange) -> QuerySet[AuditEntry]:
        return queries.entries(
            self.access.organization_id,
            action=fields["action"] or None,
            actor=fields["actor"] or None,
            since=timerange.start,
            until=timerange.end,
        )


class AuditLogView(_Filtered):
    scope_map = {"GET": AUDIT_READ}

    def get(self, request: HttpRequest, **kwargs: Any) -> HttpResponse:
        fields, timerange = self.filters(request)
        page = Paginator(self.rows(fields, timerange), PAGE_SIZE).get_page(request.GET.get("page"))
        query = {**{k: v for k, v in fields.items() if v}, **timerange.query()}
        context = {
            "page": page,
            "filters": fields,
            "timerange": timerange,
            "query": urlencode(query),
            "range_query": urlencode(timerange.query()),
            "actions": sorted({action.value.split(".")[0] + "." for action in Action}) + [a.value for a in Action],
        }
        return render(request, "audit/log.html", context, status=400 if timerange.error else 200)


class AuditExportView(_Filtered):
    """The filtered trail as CSV. The export itself is audited: who took a copy, of what."""

    scope_map = {"GET": AUDIT_READ}

    def get(self, request: HttpRequest, **kwargs: Any) -> HttpResponse:
        fields, timerange = self.filters(request)
        export = export_csv(
            self.access.organization_id,
            self.access.organization_slug,
            self.rows(fields, timerange),
            actor=request.user,
            filters={**{k: v for k, v in fields.items() if v}, **timerange.query()},
            origin=Origin.from_request(request),
        )
        return csv_response(export)
