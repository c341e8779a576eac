"""Alert rule pages of a project: the list, the form (create, edit, preview), one rule, mute and delete.

Rules change only through ``services.save_rule`` / ``delete_rule`` (validated once, audited), as in the API;
the preview is ``preview.preview``, the API's. Reading needs ``telemetry:read``; the form and every change
``alerts:write`` (viewers see the rules, the form is not offered to them). Views with an object id in the URL
name their ``model`` (the isolation tests address a real row through it).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from django.contrib import messages
from django.db.models import Count
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import path, reverse
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from apps.alerting import charts, measures, preview, services
from apps.alerting.models import AlertInstance, AlertRule, AlertState, NoData, Source, StateChange
from apps.alerting.rule_form_page import RuleForm
from apps.alerting.rules import OPERATORS, RuleInvalid
from apps.audit.services import Origin
from apps.core.views import TenantView
from apps.metrics import queries as metric_queries
from apps.notifications import queries as channel_queries

READ, WRITE = "telemetry:read", "alerts:write"
PROJECT = "o/<slug:organization_slug>/p/<slug:project_slug>/alert-rules/"
MUTE_FOR = {"1h": timedelta(hours=1), "4h": timedelta(hours=4), "1d": timedelta(days=1)}
MAX_PREVIEW_CHARTS = 12
RECENT_CHANGES = 50
METRIC_NAMES_OFFERED = 200
# Alerts that need attention first on a rule's page.
STATE_ORDER = {AlertState.FIRING: 0, AlertState.NO_DATA: 1, AlertState.ERROR: 2, AlertState.PENDING: 3}


def rules_of(organization_id: int, project_id: int) -> list[AlertRule]:
    """The project's rules by name, each with ``state_counts``: how many of its alerts are in each state."""
    rules = list(AlertRule.objects.for_organization(organization_id).filter(project_id=project_id).order_by("name"))
    # Counted apart, not annotated: the (organization_id, id) key makes GROUP BY on the rule's columns refused.
    counts = (AlertInstance.objects.for_organization(organization_id).filter(rule__project_id=project_id)
              .values("rule_id", "state").annotate(count=Count("pk")))  # fmt: skip
    by_rule: dict[int, dict[str, int]] = {}
    for row in counts:
        by_rule.setdefault(row["rule_id"], {})[row["state"]] = row["count"]
    for rule in rules:
        rule.state_counts = by_rule.get(rule.pk, {})
    return rules


def preview_of(fields: dict[str, Any], organization_id: int, project_id: int) -> dict[str, Any]:
    """The rule preview (``preview.preview``) with a chart per group, the groups that fired most first."""
    try:
        found = preview.preview(fields, organization_id=organization_id, project_id=project_id, now=timezone.now())
    except measures.MeasureError as exc:
        return {"error": f"The rule's queries cannot be measured: {exc}"}
    groups = sorted(found["groups"], key=lambda group: (-len(group["fired"]), charts.group_label(group["labels"])))
    return {
        "fire_count": found["fire_count"], "from": found["from"], "to": found["to"],
        "step_minutes": found["step_seconds"] // 60, "group_count": len(groups),
        "groups": [
            {"label": charts.group_label(group["labels"]), "grouped": bool(group["labels"]), "fired": group["fired"],
             "id": f"preview-chart-{index}",
             "figure": charts.preview_figure(group, fields["conditions"], start=found["from"], end=found["to"])}
            for index, group in enumerate(groups[:MAX_PREVIEW_CHARTS])
        ],
    }  # fmt: skip


class _RulePage(TenantView):
    model = AlertRule

    @property
    def project_id(self) -> int:
        assert self.access.project_id is not None  # every route here names a project
        return self.access.project_id

    def url(self, name: str, *args: Any) -> str:
        return reverse(f"alerting:{name}", args=[self.access.organization_slug, self.access.project_slug, *args])

    def found(self, pk: int) -> AlertRule:
        rule = AlertRule.objects.for_organization(self.access.organization_id).filter(
            project_id=self.project_id, pk=pk).first()  # fmt: skip
        if rule is None:
            raise Http404("No such alert rule in this project.")
        return rule


class RulesView(_RulePage):
    scope_map = {"GET": READ}

    def get(self, request: HttpRequest, **kwargs: Any) -> HttpResponse:
        context = {"rows": rules_of(self.access.organization_id, self.project_id), "now": timezone.now(),
                   "can_edit": WRITE in self.access.scopes}  # fmt: skip
        return render(request, "alerting/rules.html", context)


class RuleFormView(_RulePage):
    """New rule (no ``pk``) or edit; POST saves, or previews (``intent=preview``), or adds/removes a row
    (``row=add-queries``, ``row=remove-conditions-2``: the no-JavaScript way; the script does it in place)."""

    scope_map = {"GET": WRITE, "POST": WRITE}

    def get(self, request: HttpRequest, pk: int | None = None, **kwargs: Any) -> HttpResponse:
        rule = self.found(pk) if pk is not None else None
        return self.form_page(request, RuleForm.from_rule(rule) if rule else RuleForm.blank(), rule)

    def post(self, request: HttpRequest, pk: int | None = None, **kwargs: Any) -> HttpResponse:
        rule = self.found(pk) if pk is not None else None
        form = RuleForm.from_post(request.POST)
        row = request.POST.get("row", "")
        if row:
            kind, _, index = row.partition("-")[2].partition("-")
            if row.startswith("add-") and kind in ("queries", "conditions"):
                form.add_row(kind)
            elif row.startswith("remove-") and index.isdigit():
                form.remove_row(kind, int(index))
            return self.form_page(request, form, rule)
        org = self.access.organization_id
        if request.POST.get("intent") == "preview":
            fields = form.clean(organization_id=org, project_id=self.project_id)
            shown = preview_of(fields, org, self.project_id) if fields is not None else None
            return self.form_page(request, form, rule, shown, status=200 if fields is not None else 400)
        saved = form.save(rule, organization_id=org, project_id=self.project_id, actor=request.user,
                          origin=Origin.from_request(request))  # fmt: skip
        if saved is None:
            return self.form_page(request, form, rule, status=400)
        messages.success(request, f"“{saved.name}” saved. It is evaluated at the next beat.")
        return HttpResponseRedirect(self.url("rule", saved.pk))

    def form_page(self, request: HttpRequest, form: RuleForm, rule: AlertRule | None,
                  shown: dict[str, Any] | None = None, status: int = 200) -> HttpResponse:  # fmt: skip
        org = self.access.organization_id
        context = {
            "form": form, "rule": rule, "values": form.values, "errors": form.top_errors(),
            "query_rows": form.query_rows(), "condition_rows": form.condition_rows(),
            "template_rows": form.template_rows(), "source_choices": Source.choices,
            "no_data_choices": NoData.choices, "operator_choices": [(op, op) for op in OPERATORS],
            "channels": channel_queries.channels_of(org),
            "chosen_channels": set(form.channels), "placeholders": form.placeholders(),
            "metric_names": metric_queries.metric_names(org, self.project_id, "", METRIC_NAMES_OFFERED),
            "metric_api": reverse("api:metric-names", args=[self.access.organization_slug, self.access.project_slug]),
            "preview": shown, "cancel": self.url("rule", rule.pk) if rule else self.url("rules"),
        }  # fmt: skip
        return render(request, "alerting/rule_form.html", context, status=status)


class RuleView(_RulePage):
    """One rule: definition, alerts, recent state changes, preview; POST mutes, unmutes, enables, disables."""

    scope_map = {"GET": READ, "POST": WRITE}

    def get(self, request: HttpRequest, pk: int, **kwargs: Any) -> HttpResponse:
        rule = self.found(pk)
        instances = sorted(AlertInstance.objects.filter(rule=rule).select_related("incident"),
                           key=lambda alert: (STATE_ORDER.get(alert.state, 9), alert.group_key))  # fmt: skip
        changes = StateChange.objects.filter(rule=rule).select_related("instance").order_by("-at", "-pk")
        fields = {name: getattr(rule, name) for name in ("queries", "conditions", "combine", "group_by",
                                                         "for_seconds", "no_data")}  # fmt: skip
        context = {
            "rule": rule, "instances": instances, "changes": changes[:RECENT_CHANGES], "now": timezone.now(),
            "channels": channel_queries.channels_of(self.access.organization_id).filter(pk__in=rule.channels),
            "preview": preview_of(fields, self.access.organization_id, self.project_id),
            "can_edit": WRITE in self.access.scopes, "mute_choices": list(MUTE_FOR),
        }  # fmt: skip
        return render(request, "alerting/rule.html", context)

    def post(self, request: HttpRequest, pk: int, **kwargs: Any) -> HttpResponse:
        rule = self.found(pk)
        wanted = self._change(request, request.POST.get("action", ""))
        if wanted is not None:
            change, done = wanted
            try:
                services.save_rule(rule, change, organization_id=rule.organization_id, project_id=rule.project_id,
                                   actor=request.user, origin=Origin.from_request(request))  # fmt: skip
                messages.success(request, done)
            except RuleInvalid as exc:  # the saved definition no longer holds (e.g. its metric is gone)
                messages.error(request, f"Not changed: the rule needs editing first ({exc}).")
        return HttpResponseRedirect(self.url("rule", rule.pk))

    def _change(self, request: HttpRequest, action: str) -> tuple[dict[str, Any], str] | None:
        """The fields to save for ``action`` and what to say once saved; None (with a message) if unusable."""
        if action == "mute":
            until = self._mute_until(request)
            if until is None:
                return None
            return {"muted_until": until}, (f"Muted until {until:%Y-%m-%d %H:%M} UTC: its alerts still change "
                                            "state, but notify nobody.")  # fmt: skip
        if action == "unmute":
            return {"muted_until": None}, "Unmuted: its alerts notify again."
        if action == "enable":
            return {"enabled": True}, "Enabled: evaluated from the next beat."
        if action == "disable":
            return {"enabled": False}, "Disabled: no longer evaluated."
        messages.error(request, "Unknown action.")
        return None

    def _mute_until(self, request: HttpRequest) -> datetime | None:
        now = timezone.now()
        duration = request.POST.get("for", "")
        if duration in MUTE_FOR:
            return now + MUTE_FOR[duration]
        raw = request.POST.get("until", "").strip()
        try:
            until = parse_datetime(raw) if raw else None
        except ValueError:
            until = None
        if until is not None and timezone.is_naive(until):
            until = until.replace(tzinfo=UTC)  # the form's field says UTC
        if until is None:
            messages.error(request, "Choose 1h, 4h or 1d, or a time to mute until (YYYY-MM-DD HH:MM, UTC).")
        elif until <= now:
            messages.error(request, "The time to mute until has passed; choose a later one.")
        else:
            return until
        return None


class RuleDeleteView(_RulePage):
    """GET asks for confirmation; POST deletes (its alerts and state history with it)."""

    scope_map = {"GET": WRITE, "POST": WRITE}

    def get(self, request: HttpRequest, pk: int, **kwargs: Any) -> HttpResponse:
        rule = self.found(pk)
        context = {
            "title": f"Delete the alert rule “{rule.name}”?",
            "message": "Its alerts and their state history are deleted with it; incidents it opened stay, "
            "without their rule. To stop it for a while instead, mute or disable it.",
            "action": request.path, "button": "Delete rule", "cancel": self.url("rule", rule.pk),
        }  # fmt: skip
        return render(request, "confirm.html", context)

    def post(self, request: HttpRequest, pk: int, **kwargs: Any) -> HttpResponse:
        rule = self.found(pk)
        services.delete_rule(rule, request.user, Origin.from_request(request))
        messages.success(request, f"“{rule.name}” deleted.")
        return HttpResponseRedirect(self.url("rules"))


urlpatterns = [
    path(PROJECT, RulesView.as_view(), name="rules"),
    path(PROJECT + "new/", RuleFormView.as_view(), name="rule-new"),
    path(PROJECT + "<int:pk>/", RuleView.as_view(), name="rule"),
    path(PROJECT + "<int:pk>/edit/", RuleFormView.as_view(), name="rule-edit"),
    path(PROJECT + "<int:pk>/delete/", RuleDeleteView.as_view(), name="rule-delete"),
]
