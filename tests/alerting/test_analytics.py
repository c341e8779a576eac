"""Alert analytics equal the figures worked out by hand from a known history."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from apps.alerting import analytics
from apps.alerting.models import AlertInstance, AlertRule, Incident, StateChange
from apps.core.scoping import tenant_scope
from apps.notifications.models import Channel, Delivery
from apps.tenants.roles import Role
from tests.alerting.conftest import checkout_rule
from tests.conftest import Tenant, session_client

DAY = datetime(2026, 11, 20, tzinfo=UTC)


def t(hh: int, mm: int, ss: int = 0) -> datetime:
    return DAY + timedelta(hours=hh, minutes=mm, seconds=ss)


def history(tenant: Tenant) -> tuple[AlertRule, AlertRule]:
    """Rule A fired three times (real, noise, noise); rule B once (expected), still firing.

    incident  opened  breach    first sent  ack    resolved  feedback  value
    1 (A)     10:00   09:58     10:00:30    10:05  10:30     real      900
    2 (A)     11:00   11:00     11:00:10    11:02  11:03     noise     520
    3 (A)     12:00   11:59     12:01       -      12:04     noise     560
    4 (B)     13:00   12:57     13:00       13:10  -         expected  -
    """
    org = tenant.organization.pk
    a = checkout_rule(tenant, [])
    b = checkout_rule(tenant, [], name="checkout errors")
    team = Channel.objects.create(organization_id=org, name="team", kind="webhook", config={})
    editor = tenant.members[Role.EDITOR]
    personal = Channel.objects.create(organization_id=org, name="mine", kind="email", config={}, user=editor)
    rows = [
        (a, t(10, 0), t(9, 58), t(10, 0, 30), t(10, 5), t(10, 30), "real", 900.0),
        (a, t(11, 0), t(11, 0), t(11, 0, 10), t(11, 2), t(11, 3), "noise", 520.0),
        (a, t(12, 0), t(11, 59), t(12, 1), None, t(12, 4), "noise", 560.0),
        (b, t(13, 0), t(12, 57), t(13, 0), t(13, 10), None, "expected", None),
    ]
    for rule, opened, breach, sent, acked, resolved, feedback, value in rows:
        instance, _ = AlertInstance.objects.get_or_create(organization_id=org, rule=rule, group_key="{}",
                                                          defaults={"state_since": opened})  # fmt: skip
        incident = Incident.objects.create(
            organization_id=org, project=tenant.project, rule=rule, title=rule.name, severity="critical",
            status="resolved" if resolved else "acknowledged", grouping_key="k", dedup_key=f"d{opened:%H}",
            opened_at=opened, breach_started_at=breach, acknowledged_at=acked, resolved_at=resolved, feedback=feedback,
        )  # fmt: skip
        StateChange.objects.create(organization_id=org, instance=instance, rule=rule, from_state="ok", at=opened,
                                   to_state="firing", values={"latency": value}, incident=incident)  # fmt: skip
        if resolved:
            StateChange.objects.create(organization_id=org, instance=instance, rule=rule, from_state="firing",
                                       to_state="resolved", at=resolved, incident=incident)  # fmt: skip
        for channel, finished in ((team, sent), (personal, sent + timedelta(seconds=5))):
            Delivery.objects.create(organization_id=org, channel=channel, kind=channel.kind,
                                    subject=f"incident:{incident.pk}", event="trigger", dedup_key=incident.dedup_key,
                                    notification={}, status="sent", finished_at=finished)  # fmt: skip
    return a, b


def test_analytics_match_the_figures_worked_out_by_hand(alice: Tenant) -> None:
    with tenant_scope(alice.organization.pk):
        a, b = history(alice)
    report = analytics.report(alice.organization.pk, DAY, DAY + timedelta(days=1))

    org = report["organization"]
    assert (org["fires"], org["incidents"]) == (4, 4)
    # MTTA: 300, 120, 600 s; MTTR: 1800, 180, 240 s; MTTD: 150, 10, 120, 180 s (nearest-rank percentiles).
    assert org["mtta_seconds"] == {"count": 3, "mean": 340.0, "p50": 300.0, "p90": 600.0}
    assert org["mttr_seconds"] == {"count": 3, "mean": 740.0, "p50": 240.0, "p90": 1800.0}
    assert org["mttd_seconds"] == {"count": 4, "mean": 115.0, "p50": 120.0, "p90": 180.0}
    assert org["precision"] == 0.5  # real + expected = 2 of 4 judged
    assert org["feedback"] == {"real": 1, "noise": 2, "expected": 1}

    rows = {row["rule"]: row for row in report["rules"]}
    assert rows[a.name]["fires"] == 3
    assert rows[a.name]["precision"] == pytest.approx(1 / 3)
    assert rows[a.name]["flapping_score"] == pytest.approx(0.667)  # two of three episodes ended within 5 min
    assert rows[a.name]["mtta_seconds"]["mean"] == 210.0  # (300 + 120) / 2
    assert (rows[b.name]["fires"], rows[b.name]["precision"], rows[b.name]["flapping_score"]) == (1, 1.0, 0.0)

    assert [row["rule"] for row in report["noisiest"]] == [a.name, b.name]  # 3 × 2/3 noise before 1 × 0
    suggestion = report["noisiest"][0]["suggested"]
    assert suggestion["suggested"] == 730.0  # between the noise (≤ 560) and the real (900) values
    assert suggestion["current"] == 500

    assert report["responders"] == [{"user": alice.members[Role.EDITOR].email, "notifications": 4}]
    hours = report["hours"]
    assert (hours[10], hours[11], hours[12], hours[13], sum(hours)) == (2, 2, 2, 2, 8)


def test_the_api_serves_the_same_report_and_refuses_bad_ranges(alice: Tenant, bob: Tenant) -> None:
    with tenant_scope(alice.organization.pk):
        history(alice)
    client = session_client(alice.owner)
    url = f"/api/v1/orgs/{alice.slug}/alert-analytics/"
    response = client.get(url, {"from": DAY.isoformat(), "to": (DAY + timedelta(days=1)).isoformat()})
    assert response.status_code == 200, response.content
    assert response.json()["organization"]["mtta_seconds"]["mean"] == 340.0
    assert client.get(url, {"from": "2026-11-21T00:00:00Z", "to": "2026-11-20T00:00:00Z"}).status_code == 400
    foreign: Any = session_client(bob.owner).get(url)
    assert foreign.status_code == 404
