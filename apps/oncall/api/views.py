"""On-call endpoints under /api/v1/orgs/<org>/ (read: telemetry:read; changes: alerts:write).

Thin: check shapes with the serializers, let apps.oncall.services validate and write (its ``OncallInvalid``
becomes a 400 naming the fields), answer with the representations below. Lists load what they show in a
fixed number of queries (apps.oncall.queries.load_plans / load_steps).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from functools import wraps
from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import exceptions, status
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from apps.audit.services import Origin
from apps.core.api.timeparams import ns_to_datetime, parse_time_ns
from apps.core.api.viewsets import TenantScopedViewSet
from apps.oncall import queries, services
from apps.oncall.api import serializers as s
from apps.oncall.escalation import describe
from apps.oncall.models import EscalationPolicy, Layer, Override, RoutingRule, Schedule
from apps.oncall.schedules import current_shifts, shifts
from apps.oncall.types import Shift
from apps.tenants.roles import Scope

MAX_SHIFTS_RANGE = timedelta(days=93)
_HORIZON = timedelta(days=31)
_READ_WRITE = {
    "GET": Scope.TELEMETRY_READ,
    "POST": Scope.ALERTS_WRITE,
    "PUT": Scope.ALERTS_WRITE,
    "PATCH": Scope.ALERTS_WRITE,
    "DELETE": Scope.ALERTS_WRITE,
}
_AT = OpenApiParameter("at", str, description="RFC 3339 time or Unix nanoseconds (default: now)")
_RANGE = [
    OpenApiParameter("from", str, description="RFC 3339 time or Unix nanoseconds (default: now)"),
    OpenApiParameter("to", str, description="Default: 7 days after 'from'; at most 93 days after it"),
]


def _invalid_as_400(func: Callable[..., Response]) -> Callable[..., Response]:
    """Services raise OncallInvalid with errors by field path: answer 400 with them."""

    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Response:
        try:
            return func(*args, **kwargs)
        except services.OncallInvalid as exc:
            raise exceptions.ValidationError(exc.errors) from exc

    return wrapper


def _time(params: Mapping[str, str], name: str, default: datetime) -> datetime:
    value = params.get(name)
    return ns_to_datetime(parse_time_ns(name, value)) if value else default


def _now() -> datetime:
    return datetime.now(tz=UTC)


def _hhmm(value: Any) -> str | None:
    return value.strftime("%H:%M") if value is not None else None


def person_data(user: Any) -> dict[str, Any]:
    return {"id": user.pk, "username": user.get_username(), "email": user.email}


def shift_data(shift: Shift) -> dict[str, Any]:
    return {
        "user": shift.user.pk,
        "username": shift.user.get_username(),
        "start": shift.start,
        "end": shift.end,
        "source": shift.source,
    }


def layer_data(layer: Layer) -> dict[str, Any]:
    turns = layer.loaded_members  # type: ignore[attr-defined]
    restricted = bool(layer.restrict_weekdays) or layer.restrict_start is not None
    return {
        "id": layer.pk,
        "name": layer.name,
        "rotation": layer.rotation,
        "shift_hours": layer.shift_hours,
        "handoff_time": _hhmm(layer.handoff_time),
        "handoff_weekday": layer.handoff_weekday,
        "start_date": layer.start_date,
        "members": [turn.user_id for turn in turns],
        "member_names": [turn.user.get_username() for turn in turns],
        "restriction": {
            "weekdays": list(layer.restrict_weekdays or []),
            "start": _hhmm(layer.restrict_start),
            "end": _hhmm(layer.restrict_end),
        }
        if restricted
        else None,
    }


def schedule_data(schedule: Schedule) -> dict[str, Any]:
    return {
        "id": schedule.pk,
        "name": schedule.name,
        "time_zone": schedule.time_zone,
        "description": schedule.description,
        "layers": [layer_data(layer) for layer in queries.layers_of(schedule)],
        "created_at": schedule.created_at,
        "updated_at": schedule.updated_at,
    }


def on_call_data(schedule: Schedule, at: datetime) -> dict[str, Any]:
    running = current_shifts(schedule, at, _HORIZON)
    people: dict[int, Any] = {}
    for shift in running:
        people.setdefault(shift.user.pk, shift.user)
    return {
        "schedule": schedule.pk,
        "name": schedule.name,
        "time_zone": schedule.time_zone,
        "at": at,
        "on_call": [person_data(user) for user in people.values()],
        "shifts": [shift_data(shift) for shift in running],
    }


def override_data(override: Override) -> dict[str, Any]:
    return {
        "id": override.pk,
        "schedule": override.schedule_id,
        "user": override.user_id,
        "username": override.user.get_username(),
        "start": override.start,
        "end": override.end,
        "reason": override.reason,
        "created_by": override.created_by.get_username() if override.created_by is not None else None,
        "created_at": override.created_at,
    }


def policy_data(policy: EscalationPolicy) -> dict[str, Any]:
    return {
        "id": policy.pk,
        "name": policy.name,
        "description": policy.description,
        "repeat": policy.repeat,
        "steps": [{"delay_minutes": step.delay_minutes, **describe(step)} for step in queries.steps_of(policy)],
        "created_at": policy.created_at,
        "updated_at": policy.updated_at,
    }


def rule_data(rule: RoutingRule) -> dict[str, Any]:
    return {
        "id": rule.pk,
        "order": rule.order,
        "name": rule.name,
        "severities": list(rule.severities or []),
        "project": rule.project.slug if rule.project_id is not None and rule.project is not None else None,
        "service": rule.service,
        "labels": dict(rule.labels or {}),
        "policy": rule.policy_id,
        "created_at": rule.created_at,
        "updated_at": rule.updated_at,
    }


class ScheduleViewSet(TenantScopedViewSet):
    """``/orgs/<org>/schedules/``: on-call schedules with their layers; who is on call; shifts; overrides."""

    model = Schedule
    serializer_class = s.ScheduleSerializer
    lookup_value_converter = "int"
    scope_map = _READ_WRITE

    def _found(self) -> Schedule:
        schedule: Schedule = self.get_object()
        return schedule

    @extend_schema(responses=s.ScheduleSerializer(many=True), operation_id="oncall_schedules_list")
    def list(self, request: Request, organization_slug: str) -> Response:
        page = self.paginate_queryset(self.get_queryset().order_by("name", "id")) or []
        now = _now()
        queries.load_plans(page, now, now)
        return self.get_paginated_response([schedule_data(schedule) for schedule in page])

    @extend_schema(responses=s.ScheduleSerializer, operation_id="oncall_schedules_retrieve")
    def retrieve(self, request: Request, organization_slug: str, pk: str) -> Response:
        return Response(schedule_data(self._found()))

    @extend_schema(
        request=s.ScheduleSerializer, responses={201: s.ScheduleSerializer}, operation_id="oncall_schedules_create"
    )
    @_invalid_as_400
    def create(self, request: Request, organization_slug: str) -> Response:
        serializer = s.ScheduleSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        schedule = services.create_schedule(
            self.access.organization_id,
            request.user,
            s.schedule_spec(serializer.validated_data),
            origin=Origin.from_request(request),
        )
        return self.created(schedule_data(schedule))

    def _update(self, request: Request, *, partial: bool) -> Response:
        schedule = self._found()
        serializer = s.ScheduleSerializer(data=request.data, partial=partial)
        serializer.is_valid(raise_exception=True)
        current = services.schedule_spec(schedule) if partial else None
        spec = s.schedule_spec(serializer.validated_data, current)
        services.update_schedule(schedule, request.user, spec, origin=Origin.from_request(request))
        return Response(schedule_data(schedule))

    @extend_schema(request=s.ScheduleSerializer, responses=s.ScheduleSerializer, operation_id="oncall_schedules_update")
    @_invalid_as_400
    def update(self, request: Request, organization_slug: str, pk: str) -> Response:
        """Replace the schedule: settings and all its layers."""
        return self._update(request, partial=False)

    @extend_schema(
        request=s.ScheduleSerializer, responses=s.ScheduleSerializer, operation_id="oncall_schedules_partial_update"
    )
    @_invalid_as_400
    def partial_update(self, request: Request, organization_slug: str, pk: str) -> Response:
        """Change some fields; ``layers``, when given, replaces all layers."""
        return self._update(request, partial=True)

    @extend_schema(responses={204: None}, operation_id="oncall_schedules_destroy")
    @_invalid_as_400
    def destroy(self, request: Request, organization_slug: str, pk: str) -> Response:
        """Delete the schedule with its layers and overrides (refused while an escalation policy names it)."""
        services.delete_schedule(self._found(), request.user, origin=Origin.from_request(request))
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(parameters=[_AT], responses=s.OnCallSerializer, operation_id="oncall_schedules_on_call")
    @action(detail=True, methods=["get"], url_path="on-call")
    def on_call(self, request: Request, organization_slug: str, pk: str) -> Response:
        """Who is on call at ``at`` (default now), and the shifts that put them there."""
        at = _time(request.query_params, "at", _now())
        return Response(on_call_data(self._found(), at))

    @extend_schema(parameters=_RANGE, responses={200: OpenApiTypes.OBJECT}, operation_id="oncall_schedules_shifts")
    @action(detail=True, methods=["get"])
    def shifts(self, request: Request, organization_slug: str, pk: str) -> Response:
        """The calendar: who is on call from ``from`` to ``to``, as shifts with their source."""
        start = _time(request.query_params, "from", _now())
        end = _time(request.query_params, "to", start + timedelta(days=7))
        if start > end:
            raise exceptions.ValidationError({"from": ["from must not be after to."]})
        if end - start > MAX_SHIFTS_RANGE:
            raise exceptions.ValidationError({"to": ["to is at most 93 days after from: ask for several ranges."]})
        schedule = self._found()
        found = shifts(schedule, start, end)
        return Response(
            {
                "schedule": schedule.pk,
                "time_zone": schedule.time_zone,
                "from": start,
                "to": end,
                "shifts": [shift_data(shift) for shift in found],
            }
        )

    @extend_schema(
        methods=["GET"], responses=s.OverrideSerializer(many=True), operation_id="oncall_schedule_overrides_list"
    )
    @extend_schema(
        methods=["POST"],
        request=s.OverrideSerializer,
        responses={201: s.OverrideSerializer},
        operation_id="oncall_schedule_overrides_create",
    )
    @action(detail=True, methods=["get", "post"], serializer_class=s.OverrideSerializer)
    @_invalid_as_400
    def overrides(self, request: Request, organization_slug: str, pk: str) -> Response:
        """GET: the schedule's overrides, latest first. POST: someone (default: you) on call from start to end."""
        schedule = self._found()
        if request.method == "GET":
            page = self.paginate_queryset(queries.overrides_listing(self.access.organization_id, schedule.pk)) or []
            return self.get_paginated_response([override_data(o) for o in page])
        serializer = s.OverrideSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        override = services.create_override(
            schedule,
            request.user,
            user_id=data.get("user", request.user.pk),
            start=data["start"],
            end=data["end"],
            reason=data["reason"],
            origin=Origin.from_request(request),
        )
        return self.created(override_data(queries.override(self.access.organization_id, override.pk)))


class OverrideViewSet(TenantScopedViewSet):
    """``/orgs/<org>/schedule-overrides/<id>/``: one override (created under its schedule)."""

    model = Override
    serializer_class = s.OverrideSerializer
    lookup_value_converter = "int"
    scope_map = {"GET": Scope.TELEMETRY_READ, "DELETE": Scope.ALERTS_WRITE}

    def scope_queryset(self, queryset: Any) -> Any:
        return queryset.select_related("user", "created_by")

    @extend_schema(operation_id="oncall_overrides_retrieve")
    def retrieve(self, request: Request, organization_slug: str, pk: str) -> Response:
        return Response(override_data(self.get_object()))

    @extend_schema(responses={204: None}, operation_id="oncall_overrides_destroy")
    def destroy(self, request: Request, organization_slug: str, pk: str) -> Response:
        services.delete_override(self.get_object(), request.user, origin=Origin.from_request(request))
        return Response(status=status.HTTP_204_NO_CONTENT)


class OnCallViewSet(TenantScopedViewSet):
    """``/orgs/<org>/on-call/``: who is on call at ``at`` (default now) in every schedule."""

    model = Schedule
    serializer_class = s.OnCallSerializer
    scope_map = {"GET": Scope.TELEMETRY_READ}

    @extend_schema(parameters=[_AT], responses=s.OnCallSerializer(many=True), operation_id="oncall_now_list")
    def list(self, request: Request, organization_slug: str) -> Response:
        at = _time(request.query_params, "at", _now())
        page = self.paginate_queryset(self.get_queryset().order_by("name", "id")) or []
        queries.load_plans(page, at - _HORIZON, at + _HORIZON)
        return self.get_paginated_response([on_call_data(schedule, at) for schedule in page])


class PolicyViewSet(TenantScopedViewSet):
    """``/orgs/<org>/escalation-policies/``: ordered steps (targets and delays), repeated ``repeat`` times."""

    model = EscalationPolicy
    serializer_class = s.PolicySerializer
    lookup_value_converter = "int"
    scope_map = _READ_WRITE

    @extend_schema(responses=s.PolicySerializer(many=True), operation_id="oncall_policies_list")
    def list(self, request: Request, organization_slug: str) -> Response:
        page = self.paginate_queryset(self.get_queryset().order_by("name", "id")) or []
        queries.load_steps(page)
        return self.get_paginated_response([policy_data(policy) for policy in page])

    @extend_schema(responses=s.PolicySerializer, operation_id="oncall_policies_retrieve")
    def retrieve(self, request: Request, organization_slug: str, pk: str) -> Response:
        return Response(policy_data(self.get_object()))

    @extend_schema(
        request=s.PolicySerializer, responses={201: s.PolicySerializer}, operation_id="oncall_policies_create"
    )
    @_invalid_as_400
    def create(self, request: Request, organization_slug: str) -> Response:
        serializer = s.PolicySerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        policy = services.create_policy(
            self.access.organization_id,
            request.user,
            s.policy_spec(serializer.validated_data),
            origin=Origin.from_request(request),
        )
        return self.created(policy_data(policy))

    def _update(self, request: Request, *, partial: bool) -> Response:
        policy = self.get_object()
        serializer = s.PolicySerializer(data=request.data, partial=partial)
        serializer.is_valid(raise_exception=True)
        current = services.policy_spec(policy) if partial else None
        services.update_policy(
            policy, request.user, s.policy_spec(serializer.validated_data, current), origin=Origin.from_request(request)
        )
        return Response(policy_data(policy))

    @extend_schema(request=s.PolicySerializer, responses=s.PolicySerializer, operation_id="oncall_policies_update")
    @_invalid_as_400
    def update(self, request: Request, organization_slug: str, pk: str) -> Response:
        """Replace the policy and all its steps."""
        return self._update(request, partial=False)

    @extend_schema(
        request=s.PolicySerializer, responses=s.PolicySerializer, operation_id="oncall_policies_partial_update"
    )
    @_invalid_as_400
    def partial_update(self, request: Request, organization_slug: str, pk: str) -> Response:
        """Change some fields; ``steps``, when given, replaces all steps."""
        return self._update(request, partial=True)

    @extend_schema(responses={204: None}, operation_id="oncall_policies_destroy")
    @_invalid_as_400
    def destroy(self, request: Request, organization_slug: str, pk: str) -> Response:
        """Delete the policy (refused while a routing rule sends incidents to it)."""
        services.delete_policy(self.get_object(), request.user, origin=Origin.from_request(request))
        return Response(status=status.HTTP_204_NO_CONTENT)


class RuleViewSet(TenantScopedViewSet):
    """``/orgs/<org>/routing-rules/``: tried by order; the first whose matchers all match picks the policy."""

    model = RoutingRule
    serializer_class = s.RuleSerializer
    lookup_value_converter = "int"
    scope_map = _READ_WRITE

    def scope_queryset(self, queryset: Any) -> Any:
        return queryset.select_related("project").order_by("order", "id")

    def _project_id(self, data: Mapping[str, Any], current: int | None) -> int | None:
        if "project" not in data:
            return current
        if data["project"] is None:
            return None
        project = queries.projects_by_slug(self.access.organization_id).get(data["project"])
        if project is None:
            raise exceptions.ValidationError({"project": [f"No project “{data['project']}” in this organization."]})
        return project.pk

    @extend_schema(responses=s.RuleSerializer(many=True), operation_id="oncall_rules_list")
    def list(self, request: Request, organization_slug: str) -> Response:
        page = self.paginate_queryset(self.get_queryset()) or []
        return self.get_paginated_response([rule_data(rule) for rule in page])

    @extend_schema(responses=s.RuleSerializer, operation_id="oncall_rules_retrieve")
    def retrieve(self, request: Request, organization_slug: str, pk: str) -> Response:
        return Response(rule_data(self.get_object()))

    @extend_schema(request=s.RuleSerializer, responses={201: s.RuleSerializer}, operation_id="oncall_rules_create")
    @_invalid_as_400
    def create(self, request: Request, organization_slug: str) -> Response:
        serializer = s.RuleSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        spec = s.rule_spec(data, self._project_id(data, None))
        rule = services.create_rule(
            self.access.organization_id, request.user, spec, origin=Origin.from_request(request)
        )
        return self.created(rule_data(queries.routing_rule(self.access.organization_id, rule.pk)))

    def _update(self, request: Request, *, partial: bool) -> Response:
        rule = self.get_object()
        serializer = s.RuleSerializer(data=request.data, partial=partial)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        current = services.rule_spec(rule) if partial else None
        project_id = self._project_id(data, rule.project_id if partial else None)
        services.update_rule(
            rule, request.user, s.rule_spec(data, project_id, current), origin=Origin.from_request(request)
        )
        return Response(rule_data(queries.routing_rule(self.access.organization_id, rule.pk)))

    @extend_schema(request=s.RuleSerializer, responses=s.RuleSerializer, operation_id="oncall_rules_update")
    @_invalid_as_400
    def update(self, request: Request, organization_slug: str, pk: str) -> Response:
        return self._update(request, partial=False)

    @extend_schema(request=s.RuleSerializer, responses=s.RuleSerializer, operation_id="oncall_rules_partial_update")
    @_invalid_as_400
    def partial_update(self, request: Request, organization_slug: str, pk: str) -> Response:
        return self._update(request, partial=True)

    @extend_schema(responses={204: None}, operation_id="oncall_rules_destroy")
    def destroy(self, request: Request, organization_slug: str, pk: str) -> Response:
        services.delete_rule(self.get_object(), request.user, origin=Origin.from_request(request))
        return Response(status=status.HTTP_204_NO_CONTENT)
