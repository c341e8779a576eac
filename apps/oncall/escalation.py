"""When each escalation step falls due, and which channels it notifies.

Timeline of a policy with steps s0 … s(m-1) and delays d0 … d(m-1) (``delay_minutes``: the wait *after* the
step): step i of repeat r is due at ``triggered_at + r × C + (d0 + … + d(i-1))`` where ``C = d0 + … + d(m-1)``
is one cycle, for r = 0 … ``repeat``. The caller remembers which (step_index, repeat) pairs it already
notified and stops asking once the incident is acknowledged; these functions keep no state.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

from apps.notifications.models import Channel
from apps.oncall import queries
from apps.oncall.models import EscalationPolicy, EscalationStep
from apps.oncall.schedules import on_call
from apps.oncall.types import DueStep

__all__ = ["DueStep", "due_steps", "next_due", "step_channels", "timeline"]


def timeline(policy: EscalationPolicy, *, triggered_at: datetime) -> Iterator[DueStep]:
    """Every step of every repeat, in due order (finite: ``len(steps) × (repeat + 1)`` items)."""
    steps = queries.steps_of(policy)
    cycle = timedelta(minutes=sum(step.delay_minutes for step in steps))
    for repeat in range(policy.repeat + 1):
        due_at = triggered_at + repeat * cycle
        for index, step in enumerate(steps):
            yield DueStep(index, repeat, due_at, step)
            due_at += timedelta(minutes=step.delay_minutes)


def due_steps(policy: EscalationPolicy, *, triggered_at: datetime, now: datetime) -> list[DueStep]:
    """Every (step_index, repeat, due_at) with ``due_at <= now``, in order; step 0 of repeat 0 is due at
    ``triggered_at``. Empty before that, and never more than the policy's steps × (repeat + 1)."""
    return [due for due in timeline(policy, triggered_at=triggered_at) if due.due_at <= now]


def next_due(policy: EscalationPolicy, *, triggered_at: datetime, after: datetime) -> datetime | None:
    """When the next step falls due strictly after ``after``; None once the last step of the last repeat is due."""
    return next((due.due_at for due in timeline(policy, triggered_at=triggered_at) if due.due_at > after), None)


def step_channels(step: EscalationStep, at: datetime) -> list[Channel]:
    """The enabled channels step ``step`` notifies at ``at``, each once: its team channels, then the contact
    methods of the people it names, then those of whoever is on call at ``at`` in the schedules it names."""
    organization_id = step.organization_id
    found: list[Channel] = []
    people: list[int] = []
    for target in queries.targets_of(step):
        if target.channel_id is not None and target.channel is not None and target.channel.enabled:
            found.append(target.channel)
        elif target.user_id is not None:
            people.append(target.user_id)
    for target in queries.targets_of(step):
        if target.schedule_id is not None and target.schedule is not None:
            people.extend(user.pk for user in on_call(target.schedule, at))
    found.extend(queries.contact_methods(organization_id, list(dict.fromkeys(people))))
    unique: dict[int, Channel] = {}
    for channel in found:
        unique.setdefault(channel.pk, channel)
    return list(unique.values())


def describe(step: EscalationStep) -> dict[str, list[Any]]:
    """A step's targets by kind (ids), in the order they were given."""
    kinds: dict[str, list[Any]] = {"channels": [], "users": [], "schedules": []}
    for target in queries.targets_of(step):
        if target.channel_id is not None:
            kinds["channels"].append(target.channel_id)
        elif target.user_id is not None:
            kinds["users"].append(target.user_id)
        elif target.schedule_id is not None:
            kinds["schedules"].append(target.schedule_id)
    return kinds
