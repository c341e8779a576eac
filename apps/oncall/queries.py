"""The read API of on-call configuration: loaders that fetch a whole page of objects in a fixed number of queries.

Loaded objects carry their related rows in ``loaded_*`` attributes (Prefetch ``to_attr``), which the pure
functions of schedules.py, escalation.py and routing.py read instead of querying again. Members, override
holders and people named in steps who are no longer members of the organization are left out here, so
nobody who left is ever on call or notified.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from django.contrib.auth import get_user_model
from django.db.models import Exists, OuterRef, Prefetch, QuerySet, prefetch_related_objects

from apps.notifications.models import Channel
from apps.oncall.models import (
    EscalationPolicy,
    EscalationStep,
    Layer,
    LayerMember,
    Override,
    RoutingRule,
    Schedule,
    StepTarget,
)
from apps.tenants.models import Membership, Project


def _is_member(organization_id: int, user_field: str = "user_id") -> Exists:
    return Exists(Membership.objects.for_organization(organization_id).filter(user_id=OuterRef(user_field)))


def members(organization_id: int) -> list[Any]:
    """The organization's users, by username (form choices, name lookups)."""
    return list(
        get_user_model()
        .objects.filter(_is_member(organization_id, "pk"))
        .order_by("username")
        .only("id", "username", "email")
    )


def member_ids(organization_id: int, user_ids: Iterable[int]) -> set[int]:
    """Those of ``user_ids`` who are members of the organization."""
    wanted = set(user_ids)
    if not wanted:
        return set()
    return set(
        Membership.objects.for_organization(organization_id)
        .filter(user_id__in=wanted)
        .values_list("user_id", flat=True)
    )


def users_by_id(organization_id: int, user_ids: Iterable[int]) -> dict[int, Any]:
    """Members among ``user_ids``, by id."""
    wanted = set(user_ids)
    if not wanted:
        return {}
    users = get_user_model().objects.filter(pk__in=wanted).filter(_is_member(organization_id, "pk"))
    return {user.pk: user for user in users}


# --- Schedules -----------------------------------------------------------------------------------------------------


def schedules(organization_id: int) -> QuerySet[Schedule]:
    return Schedule.objects.for_organization(organization_id).order_by("name", "id")


def schedule(organization_id: int, schedule_id: int) -> Schedule:
    """One schedule; ``Schedule.DoesNotExist`` for another organization's."""
    return Schedule.objects.for_organization(organization_id).get(pk=schedule_id)


def _layers(organization_id: int) -> QuerySet[Layer]:
    turns = (
        LayerMember.objects.for_organization(organization_id)
        .filter(_is_member(organization_id))
        .select_related("user")
        .order_by("position")
    )
    return (
        Layer.objects.for_organization(organization_id)
        .prefetch_related(Prefetch("members", queryset=turns, to_attr="loaded_members"))
        .order_by("position")
    )


def _overrides(organization_id: int, start: datetime, end: datetime) -> QuerySet[Override]:
    return (
        Override.objects.for_organization(organization_id)
        .filter(end__gt=start, start__lt=end)
        .filter(_is_member(organization_id))
        .select_related("user")
        .order_by("start", "id")
    )


def load_plans(items: Sequence[Schedule], start: datetime, end: datetime) -> Sequence[Schedule]:
    """Attach layers (with their members) and the overrides overlapping ``[start, end)`` to every schedule,
    in three queries whatever the number of schedules. All schedules must be of one organization."""
    if not items:
        return items
    organization_id = items[0].organization_id
    prefetch_related_objects(
        list(items),
        Prefetch("layers", queryset=_layers(organization_id), to_attr="loaded_layers"),
        Prefetch("overrides", queryset=_overrides(organization_id, start, end), to_attr="loaded_overrides"),
    )
    for item in items:
        item.loaded_range = (start, end)  # type: ignore[attr-defined]
    return items


def layers_of(schedule: Schedule) -> list[Layer]:
    """The schedule's layers with ``loaded_members`` (from the loaded plan when there is one)."""
    loaded = getattr(schedule, "loaded_layers", None)
    if loaded is None:
        loaded = list(_layers(schedule.organization_id).filter(schedule_id=schedule.pk))
        schedule.loaded_layers = loaded  # type: ignore[attr-defined]
    return list(loaded)


def overrides_of(schedule: Schedule, start: datetime, end: datetime) -> list[Override]:
    """Overrides overlapping ``[start, end)``; from the loaded plan when it covers the range."""
    loaded_range = getattr(schedule, "loaded_range", None)
    if loaded_range is not None and loaded_range[0] <= start and end <= loaded_range[1]:
        return [o for o in schedule.loaded_overrides if o.end > start and o.start < end]  # type: ignore[attr-defined]
    return list(_overrides(schedule.organization_id, start, end).filter(schedule_id=schedule.pk))


def overrides_listing(organization_id: int, schedule_id: int) -> QuerySet[Override]:
    """Every override of a schedule, newest first, with the people involved."""
    return (
        Override.objects.for_organization(organization_id)
        .filter(schedule_id=schedule_id)
        .select_related("user", "created_by")
        .order_by("-start", "-id")
    )


def override(organization_id: int, override_id: int) -> Override:
    return Override.objects.for_organization(organization_id).select_related("user", "schedule").get(pk=override_id)


def policies_using_schedule(organization_id: int, schedule_id: int) -> list[str]:
    return sorted(
        set(
            StepTarget.objects.for_organization(organization_id)
            .filter(schedule_id=schedule_id)
            .values_list("step__policy__name", flat=True)
        )
    )


# --- Escalation policies -------------------------------------------------------------------------------------------


def policies(organization_id: int) -> QuerySet[EscalationPolicy]:
    return EscalationPolicy.objects.for_organization(organization_id).order_by("name", "id")


def policy(organization_id: int, policy_id: int) -> EscalationPolicy:
    return EscalationPolicy.objects.for_organization(organization_id).get(pk=policy_id)


def _steps(organization_id: int) -> QuerySet[EscalationStep]:
    targets = (
        StepTarget.objects.for_organization(organization_id)
        .select_related("channel", "user", "schedule")
        .order_by("id")
    )
    return (
        EscalationStep.objects.for_organization(organization_id)
        .prefetch_related(Prefetch("targets", queryset=targets, to_attr="loaded_targets"))
        .order_by("position")
    )


def load_steps(items: Sequence[EscalationPolicy]) -> Sequence[EscalationPolicy]:
    """Attach ``loaded_steps`` (each with ``loaded_targets``) to every policy, in two queries."""
    if items:
        prefetch_related_objects(
            list(items), Prefetch("steps", queryset=_steps(items[0].organization_id), to_attr="loaded_steps")
        )
    return items


def steps_of(policy: EscalationPolicy) -> list[EscalationStep]:
    loaded = getattr(policy, "loaded_steps", None)
    if loaded is None:
        loaded = list(_steps(policy.organization_id).filter(policy_id=policy.pk))
        policy.loaded_steps = loaded  # type: ignore[attr-defined]
    return list(loaded)


def targets_of(step: EscalationStep) -> list[StepTarget]:
    loaded = getattr(step, "loaded_targets", None)
    if loaded is None:
        loaded = list(
            StepTarget.objects.for_organization(step.organization_id)
            .filter(step_id=step.pk)
            .select_related("channel", "user", "schedule")
            .order_by("id")
        )
        step.loaded_targets = loaded  # type: ignore[attr-defined]
    return list(loaded)


def rules_using_policy(organization_id: int, policy_id: int) -> list[str]:
    rules = RoutingRule.objects.for_organization(organization_id).filter(policy_id=policy_id).order_by("order", "id")
    return [str(rule) for rule in rules]


# --- Channels ------------------------------------------------------------------------------------------------------


def channels(organization_id: int, *, team: bool | None = None) -> list[Channel]:
    """The organization's channels by name; ``team=True`` only team channels, ``False`` only contact methods."""
    queryset = Channel.objects.for_organization(organization_id).order_by("name", "id")
    if team is not None:
        queryset = queryset.filter(user__isnull=team)
    return list(queryset)


def channels_by_id(organization_id: int, channel_ids: Iterable[int]) -> dict[int, Channel]:
    wanted = set(channel_ids)
    if not wanted:
        return {}
    return {c.pk: c for c in Channel.objects.for_organization(organization_id).filter(pk__in=wanted)}


def contact_methods(organization_id: int, user_ids: Sequence[int]) -> list[Channel]:
    """Enabled contact methods of those of ``user_ids`` who are members, in the order of ``user_ids``."""
    if not user_ids:
        return []
    rank = {user_id: n for n, user_id in enumerate(user_ids)}
    found = (
        Channel.objects.for_organization(organization_id)
        .filter(user_id__in=set(user_ids), enabled=True)
        .filter(_is_member(organization_id))
        .order_by("id")
    )
    return sorted(found, key=lambda channel: rank[channel.user_id])


# --- Routing -------------------------------------------------------------------------------------------------------


def routing_rules(organization_id: int) -> QuerySet[RoutingRule]:
    """Rules in evaluation order, with their policies and projects."""
    return (
        RoutingRule.objects.for_organization(organization_id)
        .select_related("policy", "project")
        .order_by("order", "id")
    )


def routing_rule(organization_id: int, rule_id: int) -> RoutingRule:
    return RoutingRule.objects.for_organization(organization_id).select_related("policy", "project").get(pk=rule_id)


def projects_by_slug(organization_id: int) -> dict[str, Project]:
    return {p.slug: p for p in Project.objects.for_organization(organization_id).order_by("name")}


def schedules_by_id(organization_id: int, schedule_ids: Iterable[int]) -> dict[int, Schedule]:
    wanted = set(schedule_ids)
    if not wanted:
        return {}
    return {s.pk: s for s in Schedule.objects.for_organization(organization_id).filter(pk__in=wanted)}


def policy_exists(organization_id: int, policy_id: int) -> bool:
    return EscalationPolicy.objects.for_organization(organization_id).filter(pk=policy_id).exists()
