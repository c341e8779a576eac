"""Alerting API: rules and their preview (per project), incidents and silences (per organization).

Reads need ``telemetry:read``; changing rules and silences, and acting on incidents, ``alerts:write``.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import exceptions, mixins, status
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from apps.alerting import analytics, incidents, preview, services
from apps.alerting.api.serializers import (
    AlertRuleSerializer,
    FeedbackSerializer,
    IncidentDetailSerializer,
    IncidentSerializer,
    NoteSerializer,
    SilenceSerializer,
)
from apps.alerting.models import AlertRule, Incident, IncidentStatus, Silence
from apps.alerting.rules import RuleInvalid, clean_rule
from apps.audit.services import Origin
from apps.core.api.timeparams import time_range
from apps.core.api.viewsets import TenantScopedViewSet

READ, WRITE = "telemetry:read", "alerts:write"


def invalid(exc: RuleInvalid) -> exceptions.ValidationError:
    return exceptions.ValidationError({field: [message] for field, message in exc.errors.items()})


class Conflict(exceptions.APIException):
    status_code = 409
    default_detail = "The incident is not in a state that allows this (see its status)."
    default_code = "conflict"


class AlertRuleViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, TenantScopedViewSet):
    """A project's alert rules."""

    model = AlertRule
    project_level = True
    serializer_class = AlertRuleSerializer
    scope_map = {"GET": READ, "POST": WRITE, "PUT": WRITE, "PATCH": WRITE, "DELETE": WRITE}

    def scope_queryset(self, queryset: Any) -> Any:
        return queryset.order_by("name").prefetch_related("instances")

    @property
    def project_id(self) -> int:
        assert self.access.project_id is not None  # project_level guarantees it
        return self.access.project_id

    def _save(self, request: Request, rule: AlertRule | None) -> AlertRule:
        if not isinstance(request.data, dict):
            raise exceptions.ValidationError({"non_field_errors": ["Send the rule as a JSON object."]})
        try:
            return services.save_rule(rule, request.data, organization_id=self.access.organization_id,
                                      project_id=self.project_id, actor=request.user,
                                      origin=Origin.from_request(request))  # fmt: skip
        except RuleInvalid as exc:
            raise invalid(exc) from exc

    @extend_schema(request=AlertRuleSerializer, responses={201: AlertRuleSerializer})
    def create(self, request: Request, organization_slug: str, project_slug: str) -> Response:
        """Create a rule; every invalid field is named in the 400 answer."""
        return self.created(AlertRuleSerializer(self._save(request, None)).data)

    @extend_schema(request=AlertRuleSerializer, responses={200: AlertRuleSerializer})
    def update(self, request: Request, organization_slug: str, project_slug: str, pk: str) -> Response:
        return Response(AlertRuleSerializer(self._save(request, self.get_object())).data)

    @extend_schema(request=AlertRuleSerializer, responses={200: AlertRuleSerializer})
    def partial_update(self, request: Request, organization_slug: str, project_slug: str, pk: str) -> Response:
        return Response(AlertRuleSerializer(self._save(request, self.get_object())).data)

    def destroy(self, request: Request, organization_slug: str, project_slug: str, pk: str) -> Response:
        services.delete_rule(self.get_object(), request.user, Origin.from_request(request))
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(request=None, responses={200: OpenApiTypes.OBJECT}, operation_id="alert_rules_preview_saved")
    @action(detail=True, methods=["get"], url_path="preview")
    def preview_saved(self, request: Request, organization_slug: str, project_slug: str, pk: str) -> Response:
        """The saved rule evaluated over the last 24 hours: when it would have fired."""
        rule = self.get_object()
        fields = {name: getattr(rule, name) for name in ("queries", "conditions", "combine", "group_by",
                                                         "for_seconds", "no_data")}  # fmt: skip
        return Response(preview.preview(fields, organization_id=self.access.organization_id,
                                        project_id=self.project_id, now=timezone.now()))  # fmt: skip

    @extend_schema(request=OpenApiTypes.OBJECT, responses={200: OpenApiTypes.OBJECT},
                   operation_id="alert_rules_preview_draft")  # fmt: skip
    @action(detail=False, methods=["post"], url_path="preview")
    def preview_draft(self, request: Request, organization_slug: str, project_slug: str) -> Response:
        """A rule not saved yet (the create body) evaluated over the last 24 hours; nothing is stored."""
        if not isinstance(request.data, dict):
            raise exceptions.ValidationError({"non_field_errors": ["Send the rule as a JSON object."]})
        try:
            fields = clean_rule(request.data, organization_id=self.access.organization_id, project_id=self.project_id)
        except RuleInvalid as exc:
            raise invalid(exc) from exc
        return Response(preview.preview(fields, organization_id=self.access.organization_id,
                                        project_id=self.project_id, now=timezone.now()))  # fmt: skip


_STATUS = OpenApiParameter("status", str, description="open (default: triggered and acknowledged), triggered, "
                           "acknowledged, resolved or all")  # fmt: skip


class IncidentViewSet(mixins.ListModelMixin, TenantScopedViewSet):
    """The organization's incidents, newest first, and what responders do with them."""

    model = Incident
    serializer_class = IncidentSerializer
    scope_map = {"GET": READ, "POST": WRITE}

    def scope_queryset(self, queryset: Any) -> Any:
        queryset = queryset.select_related("project", "rule", "acknowledged_by", "resolved_by").order_by("-opened_at")
        if self.action != "list":
            return queryset
        wanted = self.request.query_params.get("status", "open")
        if wanted == "open":
            return queryset.filter(status__in=[IncidentStatus.TRIGGERED, IncidentStatus.ACKNOWLEDGED])
        if wanted == "all":
            return queryset
        if wanted not in IncidentStatus.values:
            raise exceptions.ValidationError({"status": ["Use open, triggered, acknowledged, resolved or all."]})
        return queryset.filter(status=wanted)

    @extend_schema(parameters=[_STATUS])
    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().list(request, *args, **kwargs)

    @extend_schema(responses={200: IncidentDetailSerializer})
    def retrieve(self, request: Request, organization_slug: str, pk: str) -> Response:
        """One incident with its alerts and timeline (state changes, notifications, acknowledgement, notes)."""
        return Response(IncidentDetailSerializer(self.get_object()).data)

    @extend_schema(request=None, responses={200: IncidentSerializer})
    @action(detail=True, methods=["post"])
    def acknowledge(self, request: Request, organization_slug: str, pk: str) -> Response:
        """Stop the escalation; the channels already told are told it is acknowledged. 409 if not triggered."""
        incident = self.get_object()
        if not incidents.acknowledge(incident, actor=request.user, via="api"):
            raise Conflict
        return Response(IncidentSerializer(incident).data)

    @extend_schema(request=None, responses={200: IncidentSerializer})
    @action(detail=True, methods=["post"])
    def resolve(self, request: Request, organization_slug: str, pk: str) -> Response:
        """Close it; the channels told it started are told it is resolved. 409 if already resolved."""
        incident = self.get_object()
        if not incidents.resolve(incident, actor=request.user, via="api"):
            raise Conflict
        return Response(IncidentSerializer(incident).data)

    @extend_schema(request=NoteSerializer, responses={201: OpenApiTypes.OBJECT})
    @action(detail=True, methods=["post"])
    def notes(self, request: Request, organization_slug: str, pk: str) -> Response:
        incident = self.get_object()
        serializer = NoteSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        event = incidents.add_note(incident, serializer.validated_data["text"], request.user)
        return self.created({"id": event.pk, "at": event.at, "text": event.text})

    @extend_schema(request=FeedbackSerializer, responses={200: IncidentSerializer})
    @action(detail=True, methods=["post"])
    def feedback(self, request: Request, organization_slug: str, pk: str) -> Response:
        """Was it real, noise (a false positive) or expected? Feeds each rule's precision."""
        incident = self.get_object()
        serializer = FeedbackSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        incidents.set_feedback(incident, serializer.validated_data["feedback"], request.user)
        return Response(IncidentSerializer(incident).data)


class SilenceViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, TenantScopedViewSet):
    """Silences and maintenance windows; DELETE expires one (it stays in the list, ended)."""

    model = Silence
    serializer_class = SilenceSerializer
    scope_map = {"GET": READ, "POST": WRITE, "DELETE": WRITE}

    def scope_queryset(self, queryset: Any) -> Any:
        return queryset.select_related("project", "created_by").order_by("-ends_at", "-pk")

    @extend_schema(request=SilenceSerializer, responses={201: SilenceSerializer})
    def create(self, request: Request, organization_slug: str) -> Response:
        serializer = SilenceSerializer(data=request.data, context={"organization_id": self.access.organization_id})
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        try:
            silence = services.create_silence(
                self.access.organization_id, matchers=data["matchers"], starts_at=data.get("starts_at"),
                ends_at=data["ends_at"], comment=data["comment"], kind=data.get("kind", "silence"),
                project_id=data["project"].pk if data.get("project") else None, actor=request.user,
                origin=Origin.from_request(request),
            )  # fmt: skip
        except RuleInvalid as exc:
            raise invalid(exc) from exc
        return self.created(SilenceSerializer(silence).data)

    def destroy(self, request: Request, organization_slug: str, pk: str) -> Response:
        services.expire_silence(self.get_object(), request.user, Origin.from_request(request))
        return Response(status=status.HTTP_204_NO_CONTENT)


_RANGE = [
    OpenApiParameter("from", str, description="RFC 3339 time or Unix nanoseconds (default: 30 days before 'to')"),
    OpenApiParameter("to", str, description="RFC 3339 time or Unix nanoseconds (default: now)"),
]


class AlertAnalyticsViewSet(TenantScopedViewSet):
    """Alert quality: fires, flapping, MTTA/MTTR/MTTD, precision from feedback, on-call load, noisiest rules."""

    scope_map = {"GET": READ}

    @extend_schema(parameters=_RANGE, responses={200: OpenApiTypes.OBJECT}, operation_id="alert_analytics")
    def report(self, request: Request, organization_slug: str) -> Response:
        start, end = time_range(request.query_params, default=timedelta(days=30))
        assert start is not None
        assert end is not None
        return Response(analytics.report(self.access.organization_id, start, end))
