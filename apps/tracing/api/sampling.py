"""A project's trace sampling policy: GET/PUT /api/v1/orgs/<org>/projects/<project>/sampling/."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from apps.audit.services import Origin
from apps.core.api.viewsets import TenantScopedViewSet
from apps.tracing import sampling
from apps.tracing.models import SamplingPolicy


class SamplingPolicySerializer(serializers.ModelSerializer[SamplingPolicy]):
    keep_share = serializers.FloatField(
        min_value=0.0, max_value=1.0, help_text="Share of ordinary traces kept (1 = every trace, no sampling)"
    )
    slow_threshold_ms = serializers.IntegerField(
        min_value=0, required=False, help_text="Traces with a span slower than this are always kept"
    )
    decision_window_seconds = serializers.IntegerField(
        min_value=0, max_value=3600, required=False, help_text="Wait after a trace's last span before deciding"
    )

    class Meta:
        model = SamplingPolicy
        fields = ["keep_share", "slow_threshold_ms", "decision_window_seconds", "updated_at"]
        read_only_fields = ["updated_at"]


class SamplingPolicyViewSet(TenantScopedViewSet):
    """One policy per project; without one, every trace is kept. PUT sets ``keep_share`` (required) and,
    when given, the threshold and window (others keep their value)."""

    model = SamplingPolicy
    project_level = True
    serializer_class = SamplingPolicySerializer
    pagination_class = None
    scope_map = {"GET": "telemetry:read", "PUT": "projects:write"}

    @property
    def project_id(self) -> int:
        assert self.access.project_id is not None  # project_level guarantees it
        return self.access.project_id

    @extend_schema(responses={200: SamplingPolicySerializer})
    def retrieve(self, request: Request, organization_slug: str, project_slug: str) -> Response:
        policy = sampling.policy_of(self.access.organization_id, self.project_id)
        return Response(SamplingPolicySerializer(policy).data)

    @extend_schema(request=SamplingPolicySerializer, responses={200: SamplingPolicySerializer})
    def update(self, request: Request, organization_slug: str, project_slug: str) -> Response:
        serializer = SamplingPolicySerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        policy = sampling.set_policy(
            self.access.organization_id,
            self.project_id,
            request.user,
            origin=Origin.from_request(request),
            **serializer.validated_data,
        )
        return Response(SamplingPolicySerializer(policy).data)
