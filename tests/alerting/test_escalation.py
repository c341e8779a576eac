"""Escalation: the on-call person of the current rotation is told first; without an acknowledgement the next
step follows after its delay; an acknowledgement stops it."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.utils import timezone

from apps.alerting import escalation, evaluation, incidents
from apps.alerting.models import Incident
from apps.core.scoping import tenant_scope
from apps.notifications import services as channel_services
from apps.oncall import services as oncall
from apps.oncall.types import LayerSpec, PolicySpec, RuleSpec, ScheduleSpec, StepSpec
from apps.tenants.roles import Role
from tests.alerting.conftest import checkout_rule, spans, store, webhook_channel
from tests.conftest import Tenant
from tests.notifications.receivers import HttpReceiver, SmtpReceiver


def contact(tenant: Tenant, user: Any, address: str) -> None:
    channel_services.create_channel(tenant.organization.pk, user, name="email", kind="email",
                                    config={"recipients": [address]}, user=user)  # fmt: skip


def escalation_setup(tenant: Tenant, webhook: HttpReceiver) -> tuple[Any, Any]:
    """Daily rotation of the editor and the admin starting today (so the editor is on call now), then after
    5 minutes the team webhook."""
    editor, admin = tenant.members[Role.EDITOR], tenant.members[Role.ADMIN]
    contact(tenant, editor, "editor@example.com")
    contact(tenant, admin, "admin@example.com")
    now = timezone.now()
    handoff = (now - timedelta(hours=1)).time().replace(second=0, microsecond=0)
    start = (now - timedelta(hours=1)).date()
    layer = LayerSpec(name="primary", rotation="daily", start_date=start, members=[editor.pk, admin.pk],
                      handoff_time=handoff)  # fmt: skip
    schedule = oncall.create_schedule(tenant.organization.pk, tenant.owner, ScheduleSpec(name="ops", layers=[layer]))
    team = webhook_channel(tenant, webhook)
    policy = oncall.create_policy(tenant.organization.pk, tenant.owner, PolicySpec(name="default", steps=[
        StepSpec(delay_minutes=5, schedules=[schedule.pk]), StepSpec(delay_minutes=0, channels=[team.pk]),
    ]))  # fmt: skip
    oncall.create_rule(tenant.organization.pk, tenant.owner, RuleSpec(name="everything", policy_id=policy.pk))
    return editor, admin


def fire(tenant: Tenant, at: Any, deliveries_run: Any) -> Incident:
    """Checkout slow and failing at ``at``: its rule fires (spans are stored outside the captured commit, whose
    callbacks would otherwise mark partitions created that the test's rollback removes)."""
    store(tenant, spans("checkout", [800.0] * 100, errors=10, at_ns=int(at.timestamp() * 1e9)))
    rule = checkout_rule(tenant, [])
    with deliveries_run():
        evaluation.evaluate(rule, at)
    return Incident.objects.get()


def test_no_acknowledgement_escalates_to_step_two_after_the_delay(
    alice: Tenant, webhook: HttpReceiver, smtp: SmtpReceiver, deliveries_run: Any
) -> None:
    now = timezone.now()
    with tenant_scope(alice.organization.pk):
        escalation_setup(alice, webhook)
        incident = fire(alice, now, deliveries_run)
        # The editor is on call in the current rotation, so the editor (and only the editor) was told.
        assert [envelope[1] for envelope in smtp.envelopes] == [["editor@example.com"]]
        assert webhook.received == []
        incident.refresh_from_db()
        assert incident.next_escalation_at == now + timedelta(minutes=5)

        with deliveries_run():
            assert escalation.run_due(incident, now + timedelta(minutes=4)) == 0
            assert escalation.run_due(incident, now + timedelta(minutes=5)) == 1
            assert escalation.run_due(incident, now + timedelta(minutes=6)) == 0  # sent once
        assert [r.json()["event"] for r in webhook.received] == ["trigger"]
        assert webhook.received[0].json()["dedup_key"] == incident.dedup_key
        assert len(smtp.envelopes) == 1
        incident.refresh_from_db()
        assert incident.next_escalation_at is None  # the policy has no further step


def test_acknowledgement_stops_the_escalation(
    alice: Tenant, webhook: HttpReceiver, smtp: SmtpReceiver, deliveries_run: Any
) -> None:
    now = timezone.now()
    with tenant_scope(alice.organization.pk):
        escalation_setup(alice, webhook)
        incident = fire(alice, now, deliveries_run)
        with deliveries_run():
            assert incidents.acknowledge(incident, at=now + timedelta(minutes=2), actor=alice.members[Role.EDITOR])
            assert not incidents.acknowledge(incident, at=now + timedelta(minutes=3))  # once
            assert escalation.run_due(incident, now + timedelta(minutes=10)) == 0
        assert webhook.received == []  # step two never ran
        # The on-call editor heard about the trigger and then the acknowledgement.
        assert [envelope[1] for envelope in smtp.envelopes] == [["editor@example.com"]] * 2
        assert "Acknowledged" in smtp.messages[1].get_body(("plain",)).get_content()
        assert escalation.due_incidents(now + timedelta(hours=1)) == []


def test_the_next_rotation_is_told_after_the_hand_off(
    alice: Tenant, webhook: HttpReceiver, smtp: SmtpReceiver, deliveries_run: Any
) -> None:
    """A day later the admin has the pager: an incident then goes to the admin."""
    with tenant_scope(alice.organization.pk):
        escalation_setup(alice, webhook)
        tomorrow = timezone.now() + timedelta(days=1)
        fire(alice, tomorrow, deliveries_run)
        assert [envelope[1] for envelope in smtp.envelopes] == [["admin@example.com"]]
