"""The on-call pages: lists with empty states, the schedule form with layers, the calendar, overrides, policies and
routing rules; writers edit, viewers only see."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from typing import Any

import pytest
from django.test import Client

from apps.oncall import services
from apps.oncall.models import EscalationPolicy, Override, RoutingRule, Schedule
from apps.oncall.types import PolicySpec, StepSpec
from tests.conftest import Tenant
from tests.oncall.conftest import layer, utc

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fast_passwords")]


def browser(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def layer_post(n: int, **fields: str) -> dict[str, str]:
    defaults = {"name": "", "rotation": "weekly", "shift_hours": "", "handoff_time": "09:00", "handoff_weekday": "0",
                "start_date": "2025-01-06", "members": "", "restrict_start": "", "restrict_end": "",
                "ORDER": str(n + 1)}  # fmt: skip
    return {f"layers-{n}-{key}": value for key, value in {**defaults, **fields}.items()}


def untouched(n: int) -> dict[str, str]:
    """An extra layer as the browser sends it when nobody filled it in: its initial values."""
    return layer_post(n, name="Primary", start_date=datetime.now(tz=UTC).date().isoformat(), ORDER="")


def schedule_post(*layers: dict[str, str], **fields: str) -> dict[str, str]:
    data = {"name": "Web", "time_zone": "Europe/Paris", "description": "", "layers-TOTAL_FORMS": str(len(layers)),
            "layers-INITIAL_FORMS": "0", "layers-MIN_NUM_FORMS": "0", "layers-MAX_NUM_FORMS": "10"}  # fmt: skip
    for item in layers:
        data.update(item)
    data.update(fields)
    return data


def test_empty_states_explain_what_to_do(bob: Tenant) -> None:
    for path, text in [("on-call/", "No on-call schedules yet"), ("escalation-policies/", "No escalation policies yet"),
                       ("routing-rules/", "No routing rules yet")]:  # fmt: skip
        editor_page = browser(bob.members["editor"]).get(f"/o/{bob.slug}/{path}").content.decode()
        assert text in editor_page
        assert "Create the first" in editor_page
        viewer_page = browser(bob.members["viewer"]).get(f"/o/{bob.slug}/{path}").content.decode()
        assert "editor role or above" in viewer_page
        assert "Create the first" not in viewer_page


def test_create_a_schedule_with_the_form(bob: Tenant, people: dict[str, Any]) -> None:
    client = browser(bob.members["editor"])
    assert client.get(f"/o/{bob.slug}/on-call/new/").status_code == 200
    data = schedule_post(layer_post(0, name="Primary", members="bob-admin, bob-owner"),
                         layer_post(1, name="Nights", rotation="custom", shift_hours="12", members="bob-editor",
                                    restrict_start="20:00", restrict_end="08:00"),
                         untouched(2))  # fmt: skip
    response = client.post(f"/o/{bob.slug}/on-call/new/", data)
    assert response.status_code == 302, response.content.decode()[:3000]
    schedule = Schedule.objects.for_organization(bob.organization.pk).get(name="Web")
    assert response["Location"] == f"/o/{bob.slug}/on-call/{schedule.pk}/"
    spec = services.schedule_spec(schedule)
    assert [(x.name, x.members) for x in spec.layers] == [("Primary", [people["ben"].pk, people["ann"].pk]),
                                                         ("Nights", [people["cat"].pk])]  # fmt: skip
    assert spec.layers[1].shift_hours == 12
    assert spec.layers[1].handoff_weekday is None


def test_form_errors_are_shown_next_to_the_fields(bob: Tenant) -> None:
    client = browser(bob.owner)
    response = client.post(f"/o/{bob.slug}/on-call/new/", schedule_post(layer_post(0, name="P", members="nobody-here")))
    assert response.status_code == 400
    assert "No member named nobody-here" in response.content.decode()
    response = client.post(f"/o/{bob.slug}/on-call/new/", schedule_post(layer_post(0, name="P", members="bob-owner"),
                                                                        time_zone="Nowhere/City"))  # fmt: skip
    assert response.status_code == 400
    assert "is not a time zone" in response.content.decode()
    response = client.post(f"/o/{bob.slug}/on-call/new/", schedule_post(
        layer_post(0, name="P", rotation="custom", members="bob-owner")))  # fmt: skip
    assert "custom rotation needs a shift length" in response.content.decode()
    assert not Schedule.objects.for_organization(bob.organization.pk).exists()


def test_calendar_shows_two_weeks_of_shifts(bob: Tenant, people: dict[str, Any], make_schedule: Any) -> None:
    schedule = make_schedule(layer("Primary", "daily", date(2025, 3, 24), [people["ann"], people["ben"]]),
                             tz="Europe/Berlin", name="Payments")  # fmt: skip
    services.create_override(schedule, bob.owner, user_id=people["eve"].pk, start=utc(2025, 3, 26, 12),
                             end=utc(2025, 3, 26, 18), reason="swap")  # fmt: skip
    page = browser(bob.members["viewer"]).get(f"/o/{bob.slug}/on-call/{schedule.pk}/", {"start": "2025-03-24"})
    html = page.content.decode()
    assert page.status_code == 200
    assert 'title="Mon 24 Mar 2025">Mon 24</div>' in html
    assert 'title="Sun 06 Apr 2025">Sun 06</div>' in html  # 14 days
    final = html.split('data-testid="calendar-row-final"')[1].split('data-testid="calendar-row-layer"')[0]
    assert final.count('data-testid="shift"') == 16  # 14 daily turns, the override splitting one of them in three
    assert "oc-bar-override" in final
    assert "bob-viewer: Wed 26 Mar 13:00 → Wed 26 Mar 19:00 (override)" in html  # Berlin time
    assert 'value="2025-03-10"' in html  # previous two weeks
    assert 'value="2025-04-07"' in html  # next two weeks
    week = browser(bob.members["viewer"]).get(f"/o/{bob.slug}/on-call/{schedule.pk}/", {"start": "2025-03-31",
                                                                                        "days": "7"})  # fmt: skip
    assert 'title="Sun 06 Apr 2025"' in week.content.decode()
    assert 'title="Mon 07 Apr 2025"' not in week.content.decode()
    # Viewers see no editing controls; the edit page refuses them.
    assert "Edit schedule" not in html
    assert 'data-testid="override-form"' not in html
    assert browser(bob.members["viewer"]).get(f"/o/{bob.slug}/on-call/{schedule.pk}/edit/").status_code == 403


def test_list_says_who_is_on_call_now(bob: Tenant, people: dict[str, Any], make_schedule: Any) -> None:
    make_schedule(layer("Everyone", "daily", date(2020, 1, 1), [people["dan"]]), name="Always dan")
    html = browser(bob.members["viewer"]).get(f"/o/{bob.slug}/on-call/").content.decode()
    row = html.split("Always dan")[1]
    assert re.search(r"bob-analyst</span>\s*<span class=\"muted\">until", row)


def test_add_and_remove_an_override_in_the_schedule_time_zone(bob: Tenant, people: dict[str, Any],
                                                               make_schedule: Any) -> None:  # fmt: skip
    schedule = make_schedule(layer("P", "daily", date(2025, 1, 6), [people["ann"]]), tz="Asia/Tokyo")
    client = browser(bob.members["editor"])
    form = {"user": people["cat"].pk, "start": "2025-02-01T09:00", "end": "2025-02-01T18:00", "reason": "cover"}
    response = client.post(f"/o/{bob.slug}/on-call/{schedule.pk}/overrides/", form)
    assert response.status_code == 302
    override = Override.objects.for_organization(bob.organization.pk).get()
    assert (override.start, override.end) == (utc(2025, 2, 1, 0), utc(2025, 2, 1, 9))  # Tokyo is UTC+9
    bad = client.post(f"/o/{bob.slug}/on-call/{schedule.pk}/overrides/", {
        "user": people["cat"].pk, "start": "2025-02-01T09:00", "end": "2025-02-01T08:00"})  # fmt: skip
    assert bad.status_code == 400
    assert "The end must be after the start." in bad.content.decode()
    assert client.post(f"/o/{bob.slug}/on-call/overrides/{override.pk}/delete/").status_code == 302
    assert not Override.objects.for_organization(bob.organization.pk).exists()


def test_policy_and_rule_forms(bob: Tenant, people: dict[str, Any], make_channel: Any, make_schedule: Any) -> None:
    team = make_channel("ops")
    schedule = make_schedule(layer("P", "daily", date(2025, 1, 6), [people["ann"]]), name="Primary")
    client = browser(bob.members["editor"])
    page = client.get(f"/o/{bob.slug}/escalation-policies/new/").content.decode()
    assert "ops (email)" in page
    assert "Primary" in page
    data = {"name": "Standard", "description": "", "repeat": "1", "steps-TOTAL_FORMS": "2", "steps-INITIAL_FORMS": "0",
            "steps-MIN_NUM_FORMS": "0", "steps-MAX_NUM_FORMS": "20",
            "steps-0-delay_minutes": "10", "steps-0-channels": [str(team.pk)], "steps-0-schedules": [str(schedule.pk)],
            "steps-0-ORDER": "1",
            "steps-1-delay_minutes": "20", "steps-1-users": [str(people["ben"].pk)], "steps-1-ORDER": "2"}  # fmt: skip
    assert client.post(f"/o/{bob.slug}/escalation-policies/new/", data).status_code == 302
    policy = EscalationPolicy.objects.for_organization(bob.organization.pk).get(name="Standard")
    assert services.policy_spec(policy) == PolicySpec(
        "Standard", [StepSpec(10, [team.pk], [], [schedule.pk]), StepSpec(20, [], [people["ben"].pk], [])], "", 1
    )
    listing = browser(bob.members["viewer"]).get(f"/o/{bob.slug}/escalation-policies/").content.decode()
    assert "on call in <em>Primary</em>" in listing
    assert "/edit/" not in listing
    rule = {"order": "5", "name": "critical", "severities": "critical, warning", "project": str(bob.project.pk),
            "service": "", "labels": "team=web\nenv = prod", "policy": str(policy.pk)}  # fmt: skip
    assert client.post(f"/o/{bob.slug}/routing-rules/new/", rule).status_code == 302
    saved = RoutingRule.objects.for_organization(bob.organization.pk).get()
    assert (saved.severities, saved.labels) == (["critical", "warning"], {"team": "web", "env": "prod"})
    assert saved.policy_id == policy.pk
    bad = client.post(f"/o/{bob.slug}/routing-rules/new/", {**rule, "labels": "oops"})
    assert bad.status_code == 400
    assert "is not key=value" in bad.content.decode()
    rules_page = browser(bob.members["viewer"]).get(f"/o/{bob.slug}/routing-rules/").content.decode()
    assert "Standard" in rules_page
    assert "team=web" in rules_page
    assert "Delete" not in rules_page


def test_deleting_a_schedule_in_use_is_refused_with_a_message(bob: Tenant, people: dict[str, Any],
                                                               make_schedule: Any) -> None:  # fmt: skip
    schedule = make_schedule(layer("P", "daily", date(2025, 1, 6), [people["ann"]]))
    services.create_policy(
        bob.organization.pk, bob.owner, PolicySpec("Uses it", [StepSpec(0, schedules=[schedule.pk])])
    )
    client = browser(bob.owner)
    response = client.post(f"/o/{bob.slug}/on-call/{schedule.pk}/delete/", follow=True)
    assert "Escalation policies use this schedule (Uses it)" in response.content.decode()
    assert Schedule.objects.for_organization(bob.organization.pk).filter(pk=schedule.pk).exists()
