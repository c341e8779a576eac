"""On-call pages: schedules (with a calendar), escalation policies and routing rules.

Everyone with ``telemetry:read`` sees them; ``alerts:write`` edits. Views are thin: forms check shapes,
apps.oncall.services validates and writes (its errors go back onto the forms, status 400), and the data
comes from the same query and schedule functions the API uses. Views with an object id in the URL name
its ``model`` (the isolation tests use it to address a real row).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse

from apps.audit.services import Origin
from apps.core.views import TenantView
from apps.oncall import calendar, queries, services
from apps.oncall.escalation import describe
from apps.oncall.forms import (
    LayerFormSet,
    OverrideForm,
    PolicyForm,
    RuleForm,
    ScheduleForm,
    StepFormSet,
    layer_initial,
    put_errors,
    rule_initial,
)
from apps.oncall.models import EscalationPolicy, Override, RoutingRule, Schedule
from apps.oncall.schedules import current_shifts, time_zone_names, zone
from apps.oncall.types import PolicySpec, ScheduleSpec
from apps.tenants.roles import Scope

_READ = {"GET": Scope.TELEMETRY_READ}
_WRITE = {"GET": Scope.ALERTS_WRITE, "POST": Scope.ALERTS_WRITE}


def _now() -> datetime:
    return datetime.now(tz=UTC)


def _described(schedule: Schedule, now: datetime) -> list[dict[str, Any]]:
    """Who is on call now in ``schedule``, until when (its local time) and why."""
    return [
        {
            "user": shift.user,
            "until": calendar.local_text(shift.end, schedule),
            "override": shift.is_override,
            "source": shift.source.removeprefix("layer:"),
        }
        for shift in current_shifts(schedule, now)
    ]


class _OncallPage(TenantView):
    @property
    def org(self) -> int:
        return self.access.organization_id

    @property
    def slug(self) -> str:
        return self.access.organization_slug

    @property
    def can_edit(self) -> bool:
        return Scope.ALERTS_WRITE in self.access.scopes

    def _get(self, model: type[Any], pk: int) -> Any:
        found = model.objects.for_organization(self.org).filter(pk=pk).first()
        if found is None:
            raise Http404(f"No such {model._meta.verbose_name} in this organization.")
        return found


# --- Schedules ------------------------------------------------------------------------------------------------------


class SchedulesView(_OncallPage):
    """Every schedule with who is on call now."""

    scope_map = _READ

    def get(self, request: HttpRequest, **kwargs: Any) -> HttpResponse:
        now = _now()
        schedules = list(queries.schedules(self.org))
        queries.load_plans(schedules, now - timedelta(days=31), now + timedelta(days=31))
        rows = [
            {"schedule": schedule, "layers": len(queries.layers_of(schedule)), "now": _described(schedule, now)}
            for schedule in schedules
        ]
        return render(request, "oncall/schedules.html", {"rows": rows, "can_edit": self.can_edit, "now": now})


class _ScheduleFormPage(_OncallPage):
    scope_map = _WRITE
    template = "oncall/schedule_form.html"

    def _forms(self, request: HttpRequest, schedule: Schedule | None) -> tuple[ScheduleForm, Any]:
        today = _now().astimezone(zone(schedule.time_zone if schedule else "UTC")).date()
        if request.method == "POST":
            return ScheduleForm(request.POST), LayerFormSet(request.POST, prefix="layers", form_kwargs={"today": today})
        if schedule is None:
            return ScheduleForm(), LayerFormSet(prefix="layers", form_kwargs={"today": today})
        spec = services.schedule_spec(schedule)
        usernames = {user.pk: user.get_username() for user in queries.members(self.org)}
        initial = [layer_initial(layer, usernames) for layer in spec.layers]
        for n, item in enumerate(initial):
            item["ORDER"] = n + 1
        form = ScheduleForm(initial={"name": spec.name, "time_zone": spec.time_zone, "description": spec.description})
        return form, LayerFormSet(prefix="layers", initial=initial, form_kwargs={"today": today})

    def _page(
        self, request: HttpRequest, form: Any, layers: Any, schedule: Schedule | None, status: int = 200
    ) -> HttpResponse:
        context = {
            "form": form,
            "layers": layers,
            "schedule": schedule,
            "members": queries.members(self.org),
            "time_zones": time_zone_names(),
        }
        return render(request, self.template, context, status=status)

    def _save(self, request: HttpRequest, schedule: Schedule | None) -> HttpResponse:
        form, layers = self._forms(request, schedule)
        if not (form.is_valid() and layers.is_valid()):
            return self._page(request, form, layers, schedule, status=400)
        user_ids = {user.get_username(): user.pk for user in queries.members(self.org)}
        used = list(layers.ordered_forms)
        specs = [layer.spec(user_ids) for layer in used]
        if any(spec is None for spec in specs):
            return self._page(request, form, layers, schedule, status=400)
        spec = ScheduleSpec(
            form.cleaned_data["name"],
            form.cleaned_data["time_zone"].strip(),
            form.cleaned_data["description"],
            [s for s in specs if s is not None],
        )
        origin = Origin.from_request(request)
        try:
            if schedule is None:
                schedule = services.create_schedule(self.org, request.user, spec, origin=origin)
                messages.success(request, f"Schedule “{schedule.name}” created.")
            else:
                services.update_schedule(schedule, request.user, spec, origin=origin)
                messages.success(request, f"Schedule “{schedule.name}” saved.")
        except services.OncallInvalid as exc:
            put_errors(exc.errors, form, used)
            return self._page(request, form, layers, schedule, status=400)
        return redirect("oncall:schedule", self.slug, schedule.pk)


class ScheduleCreateView(_ScheduleFormPage):
    def get(self, request: HttpRequest, **kwargs: Any) -> HttpResponse:
        form, layers = self._forms(request, None)
        return self._page(request, form, layers, None)

    def post(self, request: HttpRequest, **kwargs: Any) -> HttpResponse:
        return self._save(request, None)


class ScheduleEditView(_ScheduleFormPage):
    model = Schedule

    def get(self, request: HttpRequest, schedule_id: int, **kwargs: Any) -> HttpResponse:
        schedule = self._get(Schedule, schedule_id)
        form, layers = self._forms(request, schedule)
        return self._page(request, form, layers, schedule)

    def post(self, request: HttpRequest, schedule_id: int, **kwargs: Any) -> HttpResponse:
        return self._save(request, self._get(Schedule, schedule_id))


class ScheduleView(_OncallPage):
    """The calendar (``?start=YYYY-MM-DD&days=7|14``), the shifts it shows, overrides and the override form."""

    model = Schedule
    scope_map = _READ

    def get(self, request: HttpRequest, schedule_id: int, **kwargs: Any) -> HttpResponse:
        schedule = self._get(Schedule, schedule_id)
        return self._page(request, schedule, self._override_form(schedule))

    def _override_form(self, schedule: Schedule, data: Any = None) -> OverrideForm:
        initial = {"user": self.request.user.pk}
        return OverrideForm(data, initial=initial, people=queries.members(self.org), time_zone=schedule.time_zone)

    def _page(
        self, request: HttpRequest, schedule: Schedule, override_form: OverrideForm, status: int = 200
    ) -> HttpResponse:
        now = _now()
        try:
            first = date.fromisoformat(request.GET.get("start", ""))
        except ValueError:
            first = calendar.week_start(now, schedule)
        if not date(2000, 1, 1) <= first <= date(2100, 1, 1):  # far dates overflow the time zone arithmetic
            first = calendar.week_start(now, schedule)
        days = int(request.GET["days"]) if request.GET.get("days") in ("7", "14") else 14
        cal = calendar.build(schedule, first, days, now)
        queries.load_plans([schedule], now - timedelta(days=31), now + timedelta(days=31))
        context = {
            "schedule": schedule,
            "cal": cal,
            "now_shifts": _described(schedule, now),
            "layers": queries.layers_of(schedule),
            "overrides": [o for o in queries.overrides_listing(self.org, schedule.pk) if o.end > now],
            "override_form": override_form,
            "can_edit": self.can_edit,
        }
        return render(request, "oncall/schedule.html", context, status=status)


class ScheduleDeleteView(_OncallPage):
    model = Schedule
    scope_map = _WRITE

    def get(self, request: HttpRequest, schedule_id: int, **kwargs: Any) -> HttpResponse:
        schedule = self._get(Schedule, schedule_id)
        return render(
            request,
            "confirm.html",
            {
                "title": f"Delete schedule “{schedule.name}”?",
                "message": "Its layers and overrides are deleted too. Escalation policies must not use it any more.",
                "action": request.path,
                "button": "Delete schedule",
                "cancel": reverse("oncall:schedule", args=[self.slug, schedule.pk]),
            },
        )

    def post(self, request: HttpRequest, schedule_id: int, **kwargs: Any) -> HttpResponse:
        schedule = self._get(Schedule, schedule_id)
        try:
            services.delete_schedule(schedule, request.user, origin=Origin.from_request(request))
        except services.OncallInvalid as exc:
            messages.error(request, " ".join(m for ms in exc.errors.values() for m in ms))
            return redirect("oncall:schedule", self.slug, schedule.pk)
        messages.success(request, f"Schedule “{schedule.name}” deleted.")
        return redirect("oncall:schedules", self.slug)


class OverrideCreateView(ScheduleView):
    """POST of the schedule page's override form; an invalid one shows the schedule page again with its errors."""

    scope_map = {"POST": Scope.ALERTS_WRITE}

    def post(self, request: HttpRequest, schedule_id: int, **kwargs: Any) -> HttpResponse:
        schedule = self._get(Schedule, schedule_id)
        form = self._override_form(schedule, request.POST)
        if not form.is_valid():
            return self._page(request, schedule, form, status=400)
        try:
            services.create_override(
                schedule,
                request.user,
                user_id=form.cleaned_data["user"],
                start=form.moment("start"),
                end=form.moment("end"),
                reason=form.cleaned_data["reason"],
                origin=Origin.from_request(request),
            )
        except services.OncallInvalid as exc:
            put_errors(exc.errors, form, [])
            return self._page(request, schedule, form, status=400)
        messages.success(request, "Override added.")
        return redirect("oncall:schedule", self.slug, schedule.pk)


class OverrideDeleteView(_OncallPage):
    model = Override
    scope_map = {"POST": Scope.ALERTS_WRITE}

    def post(self, request: HttpRequest, override_id: int, **kwargs: Any) -> HttpResponse:
        override = self._get(Override, override_id)
        services.delete_override(override, request.user, origin=Origin.from_request(request))
        messages.success(request, "Override removed.")
        return redirect("oncall:schedule", self.slug, override.schedule_id)


# --- Escalation policies --------------------------------------------------------------------------------------------


def _step_choices(organization_id: int) -> dict[str, list[tuple[int, str]]]:
    return {
        "channels": [(c.pk, f"{c.name} ({c.kind})") for c in queries.channels(organization_id, team=True)],
        "users": [(u.pk, u.get_username()) for u in queries.members(organization_id)],
        "schedules": [(x.pk, x.name) for x in queries.schedules(organization_id)],
    }


def _named_steps(policy: EscalationPolicy, choices: dict[str, list[tuple[int, str]]]) -> list[dict[str, Any]]:
    names = {kind: dict(pairs) for kind, pairs in choices.items()}
    steps = []
    for step in queries.steps_of(policy):
        targets = describe(step)
        steps.append(
            {
                "delay_minutes": step.delay_minutes,
                "channels": [names["channels"].get(c, f"channel {c}") for c in targets["channels"]],
                "users": [names["users"].get(u, f"user {u}") for u in targets["users"]],
                "schedules": [names["schedules"].get(x, f"schedule {x}") for x in targets["schedules"]],
            }
        )
    return steps


class PoliciesView(_OncallPage):
    scope_map = _READ

    def get(self, request: HttpRequest, **kwargs: Any) -> HttpResponse:
        policies = list(queries.policies(self.org))
        queries.load_steps(policies)
        choices = _step_choices(self.org)
        rows = [(policy, _named_steps(policy, choices)) for policy in policies]
        return render(request, "oncall/policies.html", {"rows": rows, "can_edit": self.can_edit})


class _PolicyFormPage(_OncallPage):
    scope_map = _WRITE

    def _forms(self, request: HttpRequest, policy: EscalationPolicy | None) -> tuple[PolicyForm, Any]:
        kwargs = {"choices": _step_choices(self.org)}
        if request.method == "POST":
            return PolicyForm(request.POST), StepFormSet(request.POST, prefix="steps", form_kwargs=kwargs)
        if policy is None:
            return PolicyForm(), StepFormSet(prefix="steps", form_kwargs=kwargs)
        spec = services.policy_spec(policy)
        initial = [
            {
                "delay_minutes": st.delay_minutes,
                "channels": st.channels,
                "users": st.users,
                "schedules": st.schedules,
                "ORDER": n + 1,
            }
            for n, st in enumerate(spec.steps)
        ]
        form = PolicyForm(initial={"name": spec.name, "description": spec.description, "repeat": spec.repeat})
        return form, StepFormSet(prefix="steps", initial=initial, form_kwargs=kwargs)

    def _page(self, request: HttpRequest, form: Any, steps: Any, policy: Any, status: int = 200) -> HttpResponse:
        context = {"form": form, "steps": steps, "policy": policy, "choices": _step_choices(self.org)}
        return render(request, "oncall/policy_form.html", context, status=status)

    def _save(self, request: HttpRequest, policy: EscalationPolicy | None) -> HttpResponse:
        form, steps = self._forms(request, policy)
        if not (form.is_valid() and steps.is_valid()):
            return self._page(request, form, steps, policy, status=400)
        used = list(steps.ordered_forms)
        data = form.cleaned_data
        spec = PolicySpec(data["name"], [step.spec() for step in used], data["description"], data["repeat"])
        origin = Origin.from_request(request)
        try:
            if policy is None:
                policy = services.create_policy(self.org, request.user, spec, origin=origin)
                messages.success(request, f"Escalation policy “{policy.name}” created.")
            else:
                services.update_policy(policy, request.user, spec, origin=origin)
                messages.success(request, f"Escalation policy “{policy.name}” saved.")
        except services.OncallInvalid as exc:
            put_errors(exc.errors, form, used)
            return self._page(request, form, steps, policy, status=400)
        return redirect("oncall:policies", self.slug)


class PolicyCreateView(_PolicyFormPage):
    def get(self, request: HttpRequest, **kwargs: Any) -> HttpResponse:
        form, steps = self._forms(request, None)
        return self._page(request, form, steps, None)

    def post(self, request: HttpRequest, **kwargs: Any) -> HttpResponse:
        return self._save(request, None)


class PolicyEditView(_PolicyFormPage):
    model = EscalationPolicy

    def get(self, request: HttpRequest, policy_id: int, **kwargs: Any) -> HttpResponse:
        policy = self._get(EscalationPolicy, policy_id)
        form, steps = self._forms(request, policy)
        return self._page(request, form, steps, policy)

    def post(self, request: HttpRequest, policy_id: int, **kwargs: Any) -> HttpResponse:
        return self._save(request, self._get(EscalationPolicy, policy_id))


class PolicyDeleteView(_OncallPage):
    model = EscalationPolicy
    scope_map = _WRITE

    def get(self, request: HttpRequest, policy_id: int, **kwargs: Any) -> HttpResponse:
        policy = self._get(EscalationPolicy, policy_id)
        return render(
            request,
            "confirm.html",
            {
                "title": f"Delete escalation policy “{policy.name}”?",
                "message": "Its steps are deleted too. Routing rules must not send incidents to it any more.",
                "action": request.path,
                "button": "Delete policy",
                "cancel": reverse("oncall:policies", args=[self.slug]),
            },
        )

    def post(self, request: HttpRequest, policy_id: int, **kwargs: Any) -> HttpResponse:
        policy = self._get(EscalationPolicy, policy_id)
        try:
            services.delete_policy(policy, request.user, origin=Origin.from_request(request))
        except services.OncallInvalid as exc:
            messages.error(request, " ".join(m for ms in exc.errors.values() for m in ms))
        else:
            messages.success(request, f"Escalation policy “{policy.name}” deleted.")
        return redirect("oncall:policies", self.slug)


# --- Routing rules --------------------------------------------------------------------------------------------------


class RulesView(_OncallPage):
    scope_map = _READ

    def get(self, request: HttpRequest, **kwargs: Any) -> HttpResponse:
        rules = list(queries.routing_rules(self.org))
        return render(request, "oncall/rules.html", {"rules": rules, "can_edit": self.can_edit})


class _RuleFormPage(_OncallPage):
    scope_map = _WRITE

    def _form(self, request: HttpRequest, rule: RoutingRule | None) -> RuleForm:
        kwargs = {
            "projects": list(queries.projects_by_slug(self.org).values()),
            "policies": list(queries.policies(self.org)),
        }
        if request.method == "POST":
            return RuleForm(request.POST, **kwargs)
        return RuleForm(initial=rule_initial(services.rule_spec(rule)) if rule else None, **kwargs)

    def _page(self, request: HttpRequest, form: RuleForm, rule: Any, status: int = 200) -> HttpResponse:
        return render(request, "oncall/rule_form.html", {"form": form, "rule": rule}, status=status)

    def _save(self, request: HttpRequest, rule: RoutingRule | None) -> HttpResponse:
        form = self._form(request, rule)
        if not form.is_valid():
            return self._page(request, form, rule, status=400)
        origin = Origin.from_request(request)
        try:
            if rule is None:
                services.create_rule(self.org, request.user, form.spec(), origin=origin)
                messages.success(request, "Routing rule created.")
            else:
                services.update_rule(rule, request.user, form.spec(), origin=origin)
                messages.success(request, "Routing rule saved.")
        except services.OncallInvalid as exc:
            put_errors(exc.errors, form, [])
            return self._page(request, form, rule, status=400)
        return redirect("oncall:rules", self.slug)


class RuleCreateView(_RuleFormPage):
    def get(self, request: HttpRequest, **kwargs: Any) -> HttpResponse:
        return self._page(request, self._form(request, None), None)

    def post(self, request: HttpRequest, **kwargs: Any) -> HttpResponse:
        return self._save(request, None)


class RuleEditView(_RuleFormPage):
    model = RoutingRule

    def get(self, request: HttpRequest, rule_id: int, **kwargs: Any) -> HttpResponse:
        rule = self._get(RoutingRule, rule_id)
        return self._page(request, self._form(request, rule), rule)

    def post(self, request: HttpRequest, rule_id: int, **kwargs: Any) -> HttpResponse:
        return self._save(request, self._get(RoutingRule, rule_id))


class RuleDeleteView(_OncallPage):
    model = RoutingRule
    scope_map = {"POST": Scope.ALERTS_WRITE}

    def post(self, request: HttpRequest, rule_id: int, **kwargs: Any) -> HttpResponse:
        rule = self._get(RoutingRule, rule_id)
        services.delete_rule(rule, request.user, origin=Origin.from_request(request))
        messages.success(request, f"Routing rule “{rule}” deleted.")
        return redirect("oncall:rules", self.slug)
