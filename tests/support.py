"""Helpers shared by the isolation, audit and behaviour tests: route discovery, tenant objects, error shape."""

from __future__ import annotations

import itertools
import os
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

import pytest
from django.db import transaction
from django.urls import URLPattern, URLResolver, get_resolver

from apps.accounts.models import ApiToken
from apps.accounts.services import create_api_token
from apps.audit.actions import Action
from apps.audit.models import AuditEntry
from apps.audit.services import record
from apps.core.access import resolve_access
from apps.ingest.models import ScrubRule
from apps.ingest.services import create_scrub_rule
from apps.notifications.models import Channel, ContactMethod
from apps.notifications.services import create_channel
from apps.otlp.types import Resource as OtlpResource
from apps.otlp.types import Scope, Span
from apps.tenants import services as tenant_services
from apps.tenants.models import IngestKey, Invitation, Membership, Organization, Project
from apps.tenants.roles import ROLE_RANK, ROLE_SCOPES, Role
from apps.tracing.models import SamplingPolicy
from apps.tracing.sampling import set_policy
from apps.tracing.writers import write_spans
from tests.conftest import Tenant

HTTP_METHODS = ("get", "post", "put", "patch", "delete")


@dataclass(frozen=True)
class Route:
    """One URL pattern with the view behind it."""

    pattern: str  # e.g. "api/v1/orgs/<slug:organization_slug>/projects/"
    name: str | None
    view_class: type | None
    actions: dict[str, str] | None  # DRF viewsets: method -> action
    kwargs: tuple[str, ...]

    @property
    def methods(self) -> list[str]:
        """The HTTP methods (upper case) the route serves."""
        if self.actions is not None:
            return sorted(m.upper() for m in self.actions)
        if self.view_class is None:
            return ["GET"]
        return sorted(m.upper() for m in HTTP_METHODS if hasattr(self.view_class, m))

    def __str__(self) -> str:
        return "/" + self.pattern


_KWARG = re.compile(r"<(?:(?P<converter>[^>:]+):)?(?P<name>[^>]+)>")


def _walk(patterns: list[Any], prefix: str) -> Iterator[tuple[str, URLPattern]]:
    for entry in patterns:
        if isinstance(entry, URLResolver):
            yield from _walk(entry.url_patterns, prefix + str(entry.pattern))
        elif isinstance(entry, URLPattern):
            yield prefix + str(entry.pattern), entry


def discover_routes() -> list[Route]:
    routes = []
    for pattern, entry in _walk(get_resolver().url_patterns, ""):
        callback = entry.callback
        view_class = getattr(callback, "cls", None) or getattr(callback, "view_class", None)
        routes.append(
            Route(
                pattern=pattern,
                name=entry.name,
                view_class=view_class,
                actions=dict(callback.actions) if getattr(callback, "actions", None) else None,
                kwargs=tuple(m.group("name") for m in _KWARG.finditer(pattern)),
            )
        )
    return routes


def api_routes() -> list[Route]:
    return [r for r in discover_routes() if r.pattern.startswith("api/v1/")]


def fill(route: Route, values: dict[str, Any]) -> str:
    """The concrete path of ``route`` with ``values`` for its kwargs."""

    def replace(match: re.Match[str]) -> str:
        return str(values[match.group("name")])

    return "/" + _KWARG.sub(replace, route.pattern)


# --- One object of each model, per tenant, so detail routes resolve ----------------------------------------------


def _organization(tenant: Tenant, user: Any) -> Organization:
    return tenant.organization


def _project(tenant: Tenant, user: Any) -> Project:
    # A slug no other tenant has, so addressing it under another organization cannot hit a namesake.
    return tenant_services.create_project(tenant.organization.pk, user, name=f"{tenant.slug} only")


def _membership(tenant: Tenant, user: Any) -> Membership:
    return Membership.objects.for_organization(tenant.organization.pk).get(user=tenant.members[Role.VIEWER])


def _invitation(tenant: Tenant, user: Any) -> Invitation:
    return tenant_services.invite_member(
        tenant.organization.pk, tenant.owner, Role.OWNER, email=f"invitee@{tenant.slug}.example", role=Role.VIEWER
    ).invitation


def _ingest_key(tenant: Tenant, user: Any) -> IngestKey:
    return tenant.ingest_key


def _api_token(tenant: Tenant, user: Any) -> ApiToken:
    access = resolve_access(user, tenant.slug)
    return create_api_token(access, user, name="detail", scopes=access.scopes).token


def _audit_entry(tenant: Tenant, user: Any) -> AuditEntry:
    return record(tenant.organization.pk, Action.PROJECT_UPDATED, actor=tenant.owner, target=tenant.project)


def _scrub_rule(tenant: Tenant, user: Any) -> ScrubRule:
    return create_scrub_rule(tenant.organization.pk, tenant.project.pk, tenant.owner, kind="key", pattern="ssn")


def _sampling_policy(tenant: Tenant, user: Any) -> SamplingPolicy:
    return set_policy(tenant.organization.pk, tenant.project.pk, tenant.owner, keep_share=0.5)


# Model -> a function making one row of it in the tenant (belonging to ``user`` where rows are per user).
# A new endpoint over a new model fails the isolation suite until its factory is added here.
OBJECT_FACTORIES: dict[type, Callable[[Tenant, Any], Any]] = {
    Organization: _organization,
    Project: _project,
    Membership: _membership,
    Invitation: _invitation,
    IngestKey: _ingest_key,
    ApiToken: _api_token,
    AuditEntry: _audit_entry,
    ScrubRule: _scrub_rule,
    SamplingPolicy: _sampling_policy,
}


_CHANNEL_NUMBERS = itertools.count(1)


def _channel(tenant: Tenant, user: Any) -> Channel:
    """A team channel (email: sending it a test needs no network); a fresh name each time."""
    return create_channel(tenant.organization.pk, tenant.owner, name=f"oncall {next(_CHANNEL_NUMBERS)}",
                          kind="email", config={"recipients": [f"oncall@{tenant.slug}.example"]})  # fmt: skip


def _contact_method(tenant: Tenant, user: Any) -> Channel:
    """``user``'s own contact method (the contact-method endpoints serve only their caller's)."""
    return create_channel(tenant.organization.pk, user, name=f"email {next(_CHANNEL_NUMBERS)}", kind="email",
                          config={"recipients": [f"{user.username}@example.org"]}, user=user)  # fmt: skip


OBJECT_FACTORIES.update({Channel: _channel, ContactMethod: _contact_method})


def _trace(tenant: Tenant, user: Any) -> SimpleNamespace:
    """One stored span; telemetry has no Django model, so the row is addressed by its trace id."""
    span = Span(
        resource=OtlpResource({"service.name": f"{tenant.slug}-svc"}),
        scope=Scope(),
        trace_id=os.urandom(16),
        span_id=os.urandom(8),
        parent_span_id=None,
        name="GET /",
        kind=2,
        start_ns=time.time_ns(),
        end_ns=time.time_ns() + 1_000_000,
        attributes={},
    )
    with transaction.atomic():
        write_spans(tenant.organization.pk, tenant.project.pk, [span])
    return SimpleNamespace(trace_id=span.trace_id.hex(), service=span.resource.service_name)


def _other_trace(tenant: Tenant, user: Any) -> SimpleNamespace:
    """A second stored trace, for pages over two traces (the trace comparison's ``other_id``)."""
    stored = _trace(tenant, user)
    return SimpleNamespace(other_id=stored.trace_id, trace_id=stored.trace_id, service=stored.service)


# Views over telemetry tables (no model): detail kwarg -> a function storing one such thing in the tenant
# (the returned object has an attribute named like the kwarg).
def _issue(tenant: Tenant, user: Any) -> SimpleNamespace:
    """One error issue, from a span with an exception event ingested the way the pipeline does."""
    from apps.errors.fingerprint import group
    from apps.errors.writers import record_errors
    from apps.otlp.types import SpanEvent

    now = time.time_ns()
    event = SpanEvent(now, "exception", {"exception.type": "KeyError", "exception.message": f"{tenant.slug} broke"})
    span = Span(resource=OtlpResource({"service.name": f"{tenant.slug}-svc"}), scope=Scope(), trace_id=os.urandom(16),
                span_id=os.urandom(8), parent_span_id=None, name="GET /", kind=2, start_ns=now, end_ns=now + 1_000_000,
                attributes={}, events=[event])  # fmt: skip
    with transaction.atomic():
        write_spans(tenant.organization.pk, tenant.project.pk, [span])
        record_errors(tenant.organization.pk, tenant.project.pk, [span], [])
    return SimpleNamespace(fingerprint=group("KeyError", f"{tenant.slug} broke", "").fingerprint)


TELEMETRY_FACTORIES: dict[str, Callable[[Tenant, Any], Any]] = {
    "fingerprint": _issue,
    "trace_id": _trace,
    "other_id": _other_trace,
    "service": _trace,
}


def url_values(route: Route, tenant: Tenant, obj: Any = None) -> dict[str, Any]:
    """Kwarg values addressing ``tenant`` (and ``obj`` for the detail kwarg)."""
    values: dict[str, Any] = {}
    for name in route.kwargs:
        if name == "organization_slug":
            values[name] = tenant.slug
        elif name == "project_slug":
            values[name] = tenant.project.slug
        else:
            if obj is None:
                raise AssertionError(f"{route} has the kwarg {name!r} but no object was given")
            lookup = getattr(route.view_class, "lookup_field", "pk")
            values[name] = getattr(obj, lookup)
    return values


def detail_kwargs(route: Route) -> list[str]:
    return [k for k in route.kwargs if k not in ("organization_slug", "project_slug")]


def make_object(route: Route, tenant: Tenant, user: Any = None) -> Any:
    """One object of the route's model in ``tenant`` (of ``user``, default the owner); fails without a factory."""
    if not detail_kwargs(route):
        return None
    model = getattr(route.view_class, "model", None)
    if model is None:
        telemetry = [TELEMETRY_FACTORIES[k] for k in detail_kwargs(route) if k in TELEMETRY_FACTORIES]
        if telemetry:
            return telemetry[0](tenant, user if user is not None else tenant.owner)
        raise AssertionError(
            f"{route} has detail kwargs {detail_kwargs(route)} but its view declares no model and "
            "tests/support.py TELEMETRY_FACTORIES has no entry for them"
        )
    factory = OBJECT_FACTORIES.get(model)
    if factory is None:
        raise AssertionError(
            f"{route} serves {model.__name__}, which has no factory in tests/support.py OBJECT_FACTORIES; add one "
            "so the isolation suite can address a real row"
        )
    return factory(tenant, user if user is not None else tenant.owner)


def roles_lacking(scope: str) -> list[str]:
    """Roles without ``scope``, lowest rank first."""
    return sorted((r for r, scopes in ROLE_SCOPES.items() if scope not in scopes), key=lambda r: ROLE_RANK[Role(r)])


def assert_error_shape(response: Any, status: int | tuple[int, ...]) -> dict[str, Any]:
    statuses = status if isinstance(status, tuple) else (status,)
    assert response.status_code in statuses, (response.status_code, getattr(response, "content", b"")[:500])
    assert response["Content-Type"].startswith("application/json"), response["Content-Type"]
    body = response.json()
    assert set(body) == {"error"}, body
    assert set(body["error"]) == {"code", "message", "details"}, body
    assert isinstance(body["error"]["code"], str)
    assert body["error"]["code"]
    assert isinstance(body["error"]["message"], str)
    assert body["error"]["message"]
    assert "Traceback" not in response.content.decode()
    return body["error"]


@pytest.fixture
def fast_passwords(settings: Any) -> None:
    """MD5 hashing for these tests' sign-ins and password changes (fixture users share one hash anyway,
    tests/factories.py); the password hasher is not what these tests test."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def reset_login_throttle(ip: str | None, username: str) -> None:
    """Forget the failed sign-ins of one address and username (only these keys: Redis is shared)."""
    from django.core.cache import cache

    from apps.accounts import throttle

    keys = throttle._keys(ip, username)
    cache.delete_many([*keys, *(f"{k}:until" for k in keys)])


# --- On call (apps/oncall): schedules, overrides, escalation policies, routing rules ---------------------------------

_ONCALL_NUMBERS = iter(range(1, 10**9))


def _oncall_schedule(tenant: Tenant, user: Any) -> Any:
    """A weekly rotation of the owner and the editor (Paris time), a fresh name each time."""
    from datetime import date

    from apps.oncall import services
    from apps.oncall.types import LayerSpec, ScheduleSpec

    layer = LayerSpec(name="Primary", rotation="weekly", start_date=date(2025, 1, 6), handoff_weekday=0,
                      members=[tenant.owner.pk, tenant.members[Role.EDITOR].pk])  # fmt: skip
    spec = ScheduleSpec(name=f"{tenant.slug} rota {next(_ONCALL_NUMBERS)}", time_zone="Europe/Paris", layers=[layer])
    return services.create_schedule(tenant.organization.pk, tenant.owner, spec)


def _oncall_override(tenant: Tenant, user: Any) -> Any:
    from datetime import UTC, datetime, timedelta

    from apps.oncall import services

    start = datetime.now(tz=UTC)
    schedule = _oncall_schedule(tenant, user)
    return services.create_override(schedule, tenant.owner, user_id=tenant.members[Role.VIEWER].pk, start=start,
                                    end=start + timedelta(hours=4), reason="swap")  # fmt: skip


def _escalation_policy(tenant: Tenant, user: Any) -> Any:
    """Two steps: the owner and whoever is on call in a new schedule, then the editor; repeated once."""
    from apps.oncall import services
    from apps.oncall.types import PolicySpec, StepSpec

    schedule = _oncall_schedule(tenant, user)
    steps = [
        StepSpec(10, users=[tenant.owner.pk], schedules=[schedule.pk]),
        StepSpec(5, users=[tenant.members[Role.EDITOR].pk]),
    ]
    spec = PolicySpec(name=f"{tenant.slug} policy {next(_ONCALL_NUMBERS)}", steps=steps, repeat=1)
    return services.create_policy(tenant.organization.pk, tenant.owner, spec)


def _routing_rule(tenant: Tenant, user: Any) -> Any:
    from apps.oncall import services
    from apps.oncall.types import RuleSpec

    policy = _escalation_policy(tenant, user)
    spec = RuleSpec(order=next(_ONCALL_NUMBERS), name="critical web", severities=["critical"],
                    project_id=tenant.project.pk, labels={"team": "web"}, policy_id=policy.pk)  # fmt: skip
    return services.create_rule(tenant.organization.pk, tenant.owner, spec)


def _oncall_factories() -> dict[type, Callable[[Tenant, Any], Any]]:
    from apps.oncall.models import EscalationPolicy, Override, RoutingRule, Schedule

    return {Schedule: _oncall_schedule, Override: _oncall_override, EscalationPolicy: _escalation_policy,
            RoutingRule: _routing_rule}  # fmt: skip


OBJECT_FACTORIES.update(_oncall_factories())


def _alert_rule(tenant: Tenant, user: Any) -> Any:
    from apps.alerting.services import save_rule

    body = {
        "name": f"checkout latency {next(_CHANNEL_NUMBERS)}",
        "queries": {"a": {"source": "red", "measure": "p95", "service": "checkout", "window_seconds": 300}},
        "conditions": [{"query": "a", "op": ">", "critical": 500}],
    }
    return save_rule(None, body, organization_id=tenant.organization.pk, project_id=tenant.project.pk,
                     actor=tenant.owner)  # fmt: skip


def _incident(tenant: Tenant, user: Any) -> Any:
    """A triggered incident of a rule (as evaluation opens them), so acknowledging and resolving it succeed."""
    from django.utils import timezone

    from apps.alerting.models import Incident

    rule = _alert_rule(tenant, user)
    return Incident.objects.for_organization(tenant.organization.pk).create(
        organization_id=tenant.organization.pk, project=tenant.project, rule=rule, title=rule.name,
        severity="critical", grouping_key=f"rule:{rule.pk}:{{}}", dedup_key=f"vigil-test-{rule.pk}",
        opened_at=timezone.now(), labels={"service": "checkout"}, services=["checkout"],
    )  # fmt: skip


def _silence(tenant: Tenant, user: Any) -> Any:
    from datetime import timedelta

    from django.utils import timezone

    from apps.alerting.services import create_silence

    return create_silence(tenant.organization.pk, matchers=[{"label": "service", "op": "=", "value": "checkout"}],
                          starts_at=None, ends_at=timezone.now() + timedelta(hours=1), comment="deploy",
                          actor=tenant.owner)  # fmt: skip


def _alerting_factories() -> dict[type, Callable[[Tenant, Any], Any]]:
    from apps.alerting.models import AlertRule, Incident, Silence

    return {AlertRule: _alert_rule, Incident: _incident, Silence: _silence}


OBJECT_FACTORIES.update(_alerting_factories())
