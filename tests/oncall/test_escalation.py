"""Escalation timing (due_steps, next_due) and who a step notifies (step_channels)."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest

from apps.oncall import services
from apps.oncall.escalation import due_steps, next_due, step_channels
from apps.oncall.models import EscalationPolicy
from apps.oncall.queries import steps_of
from apps.oncall.types import PolicySpec, StepSpec
from apps.tenants.models import Membership
from tests.conftest import Tenant
from tests.oncall.conftest import layer, utc

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fast_passwords")]

T = utc(2025, 5, 1, 12)


def policy(bob: Tenant, delays: list[int], repeat: int, **step_targets: Any) -> EscalationPolicy:
    steps = [StepSpec(delay, **step_targets) for delay in delays]
    created = services.create_policy(
        bob.organization.pk, bob.owner, PolicySpec(f"p{delays}{repeat}", steps, repeat=repeat)
    )
    return EscalationPolicy.objects.for_organization(bob.organization.pk).get(pk=created.pk)  # nothing preloaded


def pairs(found: list[Any]) -> list[tuple[int, int, Any]]:
    return [(d.step_index, d.repeat, d.due_at) for d in found]


def test_steps_fall_due_after_the_delays_and_repeat(bob: Tenant) -> None:
    p = policy(bob, [5, 10, 20], repeat=1)  # one cycle: 35 minutes
    m = timedelta(minutes=1)
    everything = [(0, 0, T), (1, 0, T + 5 * m), (2, 0, T + 15 * m), (0, 1, T + 35 * m), (1, 1, T + 40 * m),
                  (2, 1, T + 50 * m)]  # fmt: skip
    assert due_steps(p, triggered_at=T, now=T - timedelta(seconds=1)) == []
    assert pairs(due_steps(p, triggered_at=T, now=T)) == everything[:1]
    assert pairs(due_steps(p, triggered_at=T, now=T + 14 * m)) == everything[:2]
    assert pairs(due_steps(p, triggered_at=T, now=T + 35 * m)) == everything[:4]
    assert pairs(due_steps(p, triggered_at=T, now=T + 10_000 * m)) == everything  # nothing after the last repeat
    assert [d.step.pk for d in due_steps(p, triggered_at=T, now=T + 5 * m)] == [s.pk for s in steps_of(p)[:2]]


def test_next_due_is_the_next_instant_or_none(bob: Tenant) -> None:
    p = policy(bob, [5, 10, 20], repeat=1)
    m = timedelta(minutes=1)
    assert next_due(p, triggered_at=T, after=T - m) == T
    assert next_due(p, triggered_at=T, after=T) == T + 5 * m  # strictly after
    assert next_due(p, triggered_at=T, after=T + 6 * m) == T + 15 * m
    assert next_due(p, triggered_at=T, after=T + 15 * m) == T + 35 * m
    assert next_due(p, triggered_at=T, after=T + 50 * m) is None


def test_without_repeat_nothing_follows_the_last_step(bob: Tenant) -> None:
    p = policy(bob, [0, 30], repeat=0)
    m = timedelta(minutes=1)
    assert pairs(due_steps(p, triggered_at=T, now=T)) == [(0, 0, T), (1, 0, T)]  # a step without delay: at once
    assert pairs(due_steps(p, triggered_at=T, now=T + 1000 * m)) == [(0, 0, T), (1, 0, T)]
    assert next_due(p, triggered_at=T, after=T) is None


def test_step_channels_resolve_targets_at_the_instant(bob: Tenant, people: dict[str, Any], make_channel: Any,
                                                     make_schedule: Any) -> None:  # fmt: skip
    ann, ben, cat, eve = people["ann"], people["ben"], people["cat"], people["eve"]
    team = make_channel("ops")
    muted = make_channel("muted", enabled=False)
    ann_mail, ann_sms = make_channel("ann-mail", user=ann), make_channel("ann-sms", user=ann)
    make_channel("ann-old", user=ann, enabled=False)
    ben_mail, cat_mail, eve_mail = make_channel("ben-mail", user=ben), make_channel("cat-mail", user=cat), make_channel(
        "eve-mail", user=eve)  # fmt: skip
    rota = make_schedule(layer("P", "daily", date(2025, 5, 1), [ben, cat, ann]))  # 09:00 UTC hand-offs
    p = services.create_policy(bob.organization.pk, bob.owner, PolicySpec("all kinds", [
        StepSpec(5, channels=[muted.pk, team.pk], users=[ann.pk, eve.pk], schedules=[rota.pk])]))  # fmt: skip
    step = steps_of(p)[0]
    # 2025-05-01 12:00: ben is on call. Order: team channels, named people, then whoever is on call.
    assert [c.name for c in step_channels(step, T)] == ["ops", "ann-mail", "ann-sms", "eve-mail", "ben-mail"]
    # A day later cat is; ann is on call on 05-03 but already named: her methods come once.
    assert [c.pk for c in step_channels(step, T + timedelta(days=1))] == [team.pk, ann_mail.pk, ann_sms.pk,
                                                                         eve_mail.pk, cat_mail.pk]  # fmt: skip
    assert [c.pk for c in step_channels(step, T + timedelta(days=2))] == [team.pk, ann_mail.pk, ann_sms.pk, eve_mail.pk]
    # Someone who left the organization is notified no more.
    Membership.objects.for_organization(bob.organization.pk).filter(user=eve).delete()
    assert eve_mail.pk not in [c.pk for c in step_channels(steps_of(p)[0], T)]
    assert ben_mail.pk in [c.pk for c in step_channels(step, T)]


def test_a_disabled_channel_is_skipped_when_disabled_later(
    bob: Tenant, people: dict[str, Any], make_channel: Any
) -> None:
    team = make_channel("pager")
    p = services.create_policy(bob.organization.pk, bob.owner, PolicySpec("pager", [StepSpec(0, channels=[team.pk])]))
    assert [c.pk for c in step_channels(steps_of(p)[0], T)] == [team.pk]
    team.enabled = False
    team.save(update_fields=["enabled"])
    fresh = EscalationPolicy.objects.for_organization(bob.organization.pk).get(pk=p.pk)
    assert step_channels(steps_of(fresh)[0], T) == []
