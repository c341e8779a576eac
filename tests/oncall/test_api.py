"""The on-call API: nested bodies, validation naming the field (and nothing written), who is on call, shifts,
overrides, deletions refused while in use, and other organizations' objects refused."""

from __future__ import annotations

from typing import Any

import pytest

from apps.oncall.models import EscalationPolicy, Layer, Override, RoutingRule, Schedule
from tests.conftest import Tenant, session_client
from tests.support import assert_error_shape

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fast_passwords")]


def base(tenant: Tenant, path: str) -> str:
    return f"/api/v1/orgs/{tenant.slug}/{path}"


def schedule_body(people: dict[str, Any], **changes: Any) -> dict[str, Any]:
    body = {
        "name": "Backend",
        "time_zone": "Europe/Berlin",
        "description": "Backend on call",
        "layers": [
            {"name": "Weekly", "rotation": "weekly", "handoff_time": "09:00", "handoff_weekday": 0,
             "start_date": "2025-03-24", "members": [people["ann"].pk, people["ben"].pk]},
            {"name": "Office", "rotation": "daily", "start_date": "2025-03-24", "members": [people["cat"].pk],
             "restriction": {"weekdays": [0, 1, 2, 3, 4], "start": "09:00", "end": "17:00"}},
        ],
    }  # fmt: skip
    body.update(changes)
    return body


def create_schedule(bob: Tenant, people: dict[str, Any], **changes: Any) -> dict[str, Any]:
    response = session_client(bob.owner).post(base(bob, "schedules/"), schedule_body(people, **changes), format="json")
    assert response.status_code == 201, response.content
    return response.json()


def test_schedule_with_layers_round_trips(bob: Tenant, people: dict[str, Any]) -> None:
    created = create_schedule(bob, people)
    assert [layer["name"] for layer in created["layers"]] == ["Weekly", "Office"]
    assert created["layers"][0]["members"] == [people["ann"].pk, people["ben"].pk]
    assert created["layers"][0]["member_names"] == ["bob-owner", "bob-admin"]
    assert created["layers"][0]["restriction"] is None
    assert created["layers"][1]["restriction"] == {"weekdays": [0, 1, 2, 3, 4], "start": "09:00", "end": "17:00"}
    assert created["layers"][1]["handoff_weekday"] is None  # only weekly rotations keep it
    client = session_client(bob.members["viewer"])
    assert client.get(base(bob, f"schedules/{created['id']}/")).json() == created
    listing = client.get(base(bob, "schedules/")).json()
    assert [s["name"] for s in listing["results"]] == ["Backend"]
    # PATCH of the name keeps the layers; PUT replaces everything.
    url = base(bob, f"schedules/{created['id']}/")
    patched = session_client(bob.owner).patch(url, {"name": "Backend team"}, format="json").json()
    assert patched["name"] == "Backend team"
    assert [layer["name"] for layer in patched["layers"]] == ["Weekly", "Office"]
    put = session_client(bob.owner).put(url, {"name": "Solo", "layers": []}, format="json").json()
    assert (put["time_zone"], put["layers"]) == ("UTC", [])


def test_who_is_on_call_and_the_calendar(bob: Tenant, people: dict[str, Any]) -> None:
    created = create_schedule(bob, people)
    client = session_client(bob.members["viewer"])
    url = base(bob, f"schedules/{created['id']}/")
    # Tuesday 2025-03-25 10:00 Berlin (09:00 UTC): the office layer (cat) is above the weekly one (ann).
    now = client.get(url + "on-call/", {"at": "2025-03-25T09:00:00Z"}).json()
    assert [p["username"] for p in now["on_call"]] == ["bob-editor"]
    assert now["shifts"][0]["source"] == "layer:Office"
    assert now["shifts"][0]["start"] == "2025-03-25T08:00:00Z"  # 09:00 Berlin
    assert now["shifts"][0]["end"] == "2025-03-25T16:00:00Z"
    evening = client.get(url + "on-call/", {"at": "2025-03-25T18:00:00Z"}).json()
    assert [p["username"] for p in evening["on_call"]] == ["bob-owner"]
    assert evening["shifts"][0]["end"] == "2025-03-26T08:00:00Z"  # the office layer takes over again
    week = client.get(url + "shifts/", {"from": "2025-03-29T00:00:00Z", "to": "2025-04-01T00:00:00Z"}).json()
    assert [(s["username"], s["start"], s["end"], s["source"]) for s in week["shifts"]] == [
        ("bob-owner", "2025-03-29T00:00:00Z", "2025-03-31T07:00:00Z", "layer:Weekly"),
        ("bob-editor", "2025-03-31T07:00:00Z", "2025-03-31T15:00:00Z", "layer:Office"),  # summer time now
        ("bob-admin", "2025-03-31T15:00:00Z", "2025-04-01T00:00:00Z", "layer:Weekly"),
    ]
    everyone = client.get(base(bob, "on-call/"), {"at": "2025-03-25T09:00:00Z"}).json()
    assert everyone["count"] == 1
    assert [p["username"] for p in everyone["results"][0]["on_call"]] == ["bob-editor"]


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"from": "2025-03-29T00:00:00Z", "to": "2025-03-28T00:00:00Z"}, "from"),
        ({"from": "2025-01-01T00:00:00Z", "to": "2025-06-01T00:00:00Z"}, "to"),
        ({"from": "yesterday"}, "from"),
    ],
)
def test_bad_calendar_ranges_are_400(bob: Tenant, people: dict[str, Any], query: dict[str, str], field: str) -> None:
    created = create_schedule(bob, people)
    response = session_client(bob.owner).get(base(bob, f"schedules/{created['id']}/shifts/"), query)
    assert field in assert_error_shape(response, 400)["details"]


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"time_zone": "Mars/Olympus"}, "time_zone"),
        ({"time_zone": "../../etc/passwd"}, "time_zone"),
        ({"name": ""}, "name"),
        ({"layers": [{"name": "L", "rotation": "custom", "start_date": "2025-01-01", "members": [1]}]},
         "layers[0].shift_hours"),
        ({"layers": [{"name": "L", "rotation": "weekly", "start_date": "2025-01-01", "members": []}]},
         "layers[0].handoff_weekday"),
        ({"layers": [{"name": "L", "rotation": "daily", "start_date": "2025-01-01", "members": []}]},
         "layers[0].members"),
        ({"layers": [{"name": "L", "rotation": "daily", "start_date": "2025-01-01",
                      "restriction": {"start": "09:00"}, "members": []}]}, "layers[0].restrict_start"),
    ],
)  # fmt: skip
def test_invalid_schedules_are_refused_naming_the_field(bob: Tenant, people: dict[str, Any], changes: dict[str, Any],
                                                        field: str) -> None:  # fmt: skip
    response = session_client(bob.owner).post(base(bob, "schedules/"), schedule_body(people, **changes), format="json")
    assert field in assert_error_shape(response, 400)["details"]
    assert not Schedule.objects.for_organization(bob.organization.pk).exists()


def test_members_must_belong_to_the_organization(alice: Tenant, bob: Tenant, people: dict[str, Any]) -> None:
    body = schedule_body(people)
    body["layers"][1]["members"] = [people["cat"].pk, alice.owner.pk, people["cat"].pk]
    error = assert_error_shape(session_client(bob.owner).post(base(bob, "schedules/"), body, format="json"), 400)
    messages = " ".join(error["details"]["layers[1].members"])
    assert f"User {alice.owner.pk} is not a member" in messages
    assert "more than once" in messages
    # An update that fails leaves the schedule as it was (no partial writes).
    created = create_schedule(bob, people)
    url = base(bob, f"schedules/{created['id']}/")
    assert session_client(bob.owner).put(url, {**body, "name": "Other"}, format="json").status_code == 400
    assert session_client(bob.owner).get(url).json() == created


def test_overrides_sub_resource(alice: Tenant, bob: Tenant, people: dict[str, Any]) -> None:
    created = create_schedule(bob, people)
    client = session_client(bob.members["editor"])
    url = base(bob, f"schedules/{created['id']}/overrides/")
    mine = client.post(url, {"start": "2025-03-25T09:00:00+01:00", "end": "2025-03-25T12:00:00Z"}, format="json")
    assert mine.status_code == 201, mine.content
    assert (mine.json()["username"], mine.json()["created_by"]) == ("bob-editor", "bob-editor")  # default: the caller
    assert mine.json()["start"] == "2025-03-25T08:00:00Z"
    eve = client.post(url, {"user": people["eve"].pk, "start": "2025-03-25T10:00:00Z", "end": "2025-03-25T11:00:00Z",
                            "reason": "learning"}, format="json").json()  # fmt: skip
    now = client.get(base(bob, f"schedules/{created['id']}/on-call/"), {"at": "2025-03-25T10:30:00Z"}).json()
    assert sorted(p["username"] for p in now["on_call"]) == ["bob-editor", "bob-viewer"]
    listing = client.get(url).json()
    assert [o["id"] for o in listing["results"]] == [eve["id"], mine.json()["id"]]  # latest start first
    for bad, field in [
        ({"start": "2025-03-25T12:00:00Z", "end": "2025-03-25T11:00:00Z"}, "end"),
        ({"user": alice.owner.pk, "start": "2025-03-25T10:00:00Z", "end": "2025-03-25T11:00:00Z"}, "user"),
        ({"start": "2025-03-25T10:00:00Z"}, "end"),
    ]:
        assert field in assert_error_shape(client.post(url, bad, format="json"), 400)["details"]
    assert client.delete(base(bob, f"schedule-overrides/{eve['id']}/")).status_code == 204
    assert not Override.objects.for_organization(bob.organization.pk).filter(pk=eve["id"]).exists()


def test_policy_targets_must_be_of_the_organization(alice: Tenant, bob: Tenant, people: dict[str, Any],
                                                    make_channel: Any) -> None:  # fmt: skip
    theirs = make_channel("alice-ops", organization_id=alice.organization.pk)
    personal = make_channel("ann-mail", user=people["ann"])
    team = make_channel("ops")
    alice_schedule = Schedule.objects.for_organization(alice.organization.pk).create(
        organization_id=alice.organization.pk, name="Alice rota"
    )
    client = session_client(bob.owner)
    url = base(bob, "escalation-policies/")
    cases = [
        ({"channels": [theirs.pk]}, "steps[0].channels"),
        ({"channels": [personal.pk]}, "steps[0].channels"),
        ({"users": [alice.owner.pk]}, "steps[0].users"),
        ({"schedules": [alice_schedule.pk]}, "steps[0].schedules"),
    ]
    for step, field in cases:
        body = {"name": "P", "steps": [{"delay_minutes": 5, **step}]}
        assert field in assert_error_shape(client.post(url, body, format="json"), 400)["details"], step
    assert "steps" in assert_error_shape(client.post(url, {"name": "P", "steps": []}, format="json"), 400)["details"]
    negative = client.post(url, {"name": "P", "steps": [{"delay_minutes": -1}]}, format="json")
    assert "delay_minutes" in str(assert_error_shape(negative, 400)["details"]["steps"])
    no_cycle = client.post(url, {"name": "P", "repeat": 2, "steps": [{"delay_minutes": 0}]}, format="json")
    assert "repeat" in assert_error_shape(no_cycle, 400)["details"]
    assert not EscalationPolicy.objects.for_organization(bob.organization.pk).exists()
    ok = client.post(url, {"name": "P", "repeat": 1, "steps": [
        {"delay_minutes": 10, "channels": [team.pk], "users": [people["ann"].pk]},
        {"delay_minutes": 15, "schedules": [create_schedule(bob, people)["id"]]}]}, format="json")  # fmt: skip
    assert ok.status_code == 201, ok.content
    assert ok.json()["steps"][0] == {"delay_minutes": 10, "channels": [team.pk], "users": [people["ann"].pk],
                                     "schedules": []}  # fmt: skip


def test_in_use_objects_cannot_be_deleted(bob: Tenant, people: dict[str, Any]) -> None:
    client = session_client(bob.owner)
    schedule = create_schedule(bob, people)
    policy = client.post(base(bob, "escalation-policies/"), {"name": "P", "steps": [
        {"delay_minutes": 5, "schedules": [schedule["id"]]}]}, format="json").json()  # fmt: skip
    rule = client.post(base(bob, "routing-rules/"), {"name": "all", "policy": policy["id"]}, format="json").json()
    error = assert_error_shape(client.delete(base(bob, f"schedules/{schedule['id']}/")), 400)
    assert "P" in str(error["details"]["schedule"])
    error = assert_error_shape(client.delete(base(bob, f"escalation-policies/{policy['id']}/")), 400)
    assert "all" in str(error["details"]["policy"])
    assert client.delete(base(bob, f"routing-rules/{rule['id']}/")).status_code == 204
    assert client.delete(base(bob, f"escalation-policies/{policy['id']}/")).status_code == 204
    assert client.delete(base(bob, f"schedules/{schedule['id']}/")).status_code == 204
    assert not Layer.objects.for_organization(bob.organization.pk).exists()


def test_routing_rules_api(alice: Tenant, bob: Tenant) -> None:
    client = session_client(bob.owner)
    url = base(bob, "routing-rules/")
    policy = client.post(base(bob, "escalation-policies/"), {"name": "P", "steps": [{}]}, format="json").json()
    alice_policy = session_client(alice.owner).post(base(alice, "escalation-policies/"),
                                                    {"name": "A", "steps": [{}]}, format="json").json()  # fmt: skip
    body = {"order": 3, "name": "db", "severities": ["Critical"], "project": "app", "service": "db",
            "labels": {"team": "db"}, "policy": policy["id"]}  # fmt: skip
    created = client.post(url, body, format="json")
    assert created.status_code == 201, created.content
    assert {k: created.json()[k] for k in body} == {**body, "severities": ["critical"]}
    for bad, field in [({"project": "nope"}, "project"), ({"policy": alice_policy["id"]}, "policy"),
                       ({"severities": ["not a word!"]}, "severities")]:  # fmt: skip
        assert field in assert_error_shape(client.post(url, {**body, **bad}, format="json"), 400)["details"]
    patched = client.patch(f"{url}{created.json()['id']}/", {"project": None, "policy": None}, format="json").json()
    assert (patched["project"], patched["policy"], patched["service"]) == (None, None, "db")
    assert RoutingRule.objects.for_organization(bob.organization.pk).count() == 1


def test_viewers_read_but_cannot_write(bob: Tenant, people: dict[str, Any]) -> None:
    viewer = session_client(bob.members["viewer"])
    assert viewer.get(base(bob, "schedules/")).status_code == 200
    error = assert_error_shape(viewer.post(base(bob, "schedules/"), schedule_body(people), format="json"), 403)
    assert "alerts:write" in error["message"]


def test_names_are_unique_in_the_organization(alice: Tenant, bob: Tenant, people: dict[str, Any]) -> None:
    create_schedule(bob, people)
    again = session_client(bob.owner).post(base(bob, "schedules/"), schedule_body(people), format="json")
    assert "already exists" in str(assert_error_shape(again, 400)["details"]["name"])
    elsewhere = session_client(alice.owner).post(base(alice, "schedules/"), {"name": "Backend"}, format="json")
    assert elsewhere.status_code == 201  # another organization may use the name
