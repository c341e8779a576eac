"""Rotation maths: daily, weekly and custom rotations, hand-off times in a time zone (DST weeks included),
layers, restrictions and overrides. Expected instants are written out by hand."""

from __future__ import annotations

import random
from datetime import date, time, timedelta
from itertools import pairwise
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from apps.oncall.models import Schedule
from apps.oncall.schedules import layer_shifts, on_call, shifts
from apps.oncall.services import create_override
from apps.tenants.models import Membership
from tests.conftest import Tenant
from tests.oncall.conftest import layer, table, utc

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fast_passwords")]

BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")


def fresh(schedule: Schedule) -> Schedule:
    """The schedule as a caller gets it: nothing preloaded."""
    return Schedule.objects.for_organization(schedule.organization_id).get(pk=schedule.pk)


def test_daily_rotation_hands_off_at_the_handoff_time(make_schedule: Any, people: dict[str, Any]) -> None:
    ann, ben, cat = people["ann"], people["ben"], people["cat"]
    schedule = fresh(make_schedule(layer("Primary", "daily", date(2025, 1, 6), [ann, ben, cat], handoff_time=time(9))))
    assert table(shifts(schedule, utc(2025, 1, 6), utc(2025, 1, 10))) == [
        ("bob-owner", utc(2025, 1, 6, 9), utc(2025, 1, 7, 9), "layer:Primary"),
        ("bob-admin", utc(2025, 1, 7, 9), utc(2025, 1, 8, 9), "layer:Primary"),
        ("bob-editor", utc(2025, 1, 8, 9), utc(2025, 1, 9, 9), "layer:Primary"),
        ("bob-owner", utc(2025, 1, 9, 9), utc(2025, 1, 10), "layer:Primary"),
    ]
    assert on_call(schedule, utc(2025, 1, 6, 8, 59)) == []  # before the rotation starts
    assert on_call(schedule, utc(2025, 1, 6, 9)) == [ann]
    assert on_call(schedule, utc(2025, 1, 8, 8, 59, 59)) == [ben]
    assert on_call(schedule, utc(2025, 1, 6, 10) + timedelta(days=300)) == [ann]  # 300 turns later: 300 % 3 == 0
    assert on_call(schedule, utc(2025, 1, 6, 10) + timedelta(days=301)) == [ben]


def test_weekly_rotation_starting_mid_week(make_schedule: Any, people: dict[str, Any]) -> None:
    """Hand-off on Mondays at 09:00 Paris time; the rotation starts on a Thursday, so the first turn is short."""
    ann, ben = people["ann"], people["ben"]
    spec = layer("Week", "weekly", date(2025, 1, 9), [ann, ben], handoff_time=time(9), handoff_weekday=0)
    schedule = fresh(make_schedule(spec, tz="Europe/Paris"))
    assert table(shifts(schedule, utc(2025, 1, 9), utc(2025, 1, 27))) == [
        ("bob-owner", utc(2025, 1, 9, 8), utc(2025, 1, 13, 8), "layer:Week"),
        ("bob-admin", utc(2025, 1, 13, 8), utc(2025, 1, 20, 8), "layer:Week"),
        ("bob-owner", utc(2025, 1, 20, 8), utc(2025, 1, 27), "layer:Week"),
    ]


def test_custom_rotation_of_twelve_hours(make_schedule: Any, people: dict[str, Any]) -> None:
    ann, ben, cat = people["ann"], people["ben"], people["cat"]
    spec = layer("Halves", "custom", date(2025, 1, 6), [ann, ben, cat], handoff_time=time(8), shift_hours=12)
    schedule = fresh(make_schedule(spec))
    assert [(u, s.hour, e.hour) for u, s, e, _ in table(shifts(schedule, utc(2025, 1, 6, 8), utc(2025, 1, 8, 8)))] == [
        ("bob-owner", 8, 20), ("bob-admin", 20, 8), ("bob-editor", 8, 20), ("bob-owner", 20, 8),
    ]  # fmt: skip


def test_daily_handoff_stays_at_nine_local_through_spring_forward(make_schedule: Any, people: dict[str, Any]) -> None:
    """Berlin moves from UTC+1 to UTC+2 on 2025-03-30 at 02:00: that day's turn is 23 hours long."""
    ann, ben = people["ann"], people["ben"]
    schedule = fresh(make_schedule(layer("P", "daily", date(2025, 3, 28), [ann, ben]), tz="Europe/Berlin"))
    found = shifts(schedule, utc(2025, 3, 28, 8), utc(2025, 3, 31, 7))
    assert table(found) == [
        ("bob-owner", utc(2025, 3, 28, 8), utc(2025, 3, 29, 8), "layer:P"),
        ("bob-admin", utc(2025, 3, 29, 8), utc(2025, 3, 30, 7), "layer:P"),
        ("bob-owner", utc(2025, 3, 30, 7), utc(2025, 3, 31, 7), "layer:P"),
    ]
    assert [s.end - s.start for s in found] == [timedelta(hours=24), timedelta(hours=23), timedelta(hours=24)]
    assert {s.start.astimezone(BERLIN).time() for s in found} == {time(9)}


def test_weekly_turn_in_the_dst_week_is_an_hour_short(make_schedule: Any, people: dict[str, Any]) -> None:
    ann, ben = people["ann"], people["ben"]
    spec = layer("W", "weekly", date(2025, 3, 24), [ann, ben], handoff_weekday=0)
    schedule = fresh(make_schedule(spec, tz="Europe/Berlin"))
    found = shifts(schedule, utc(2025, 3, 24, 8), utc(2025, 4, 7, 7))
    assert table(found) == [
        ("bob-owner", utc(2025, 3, 24, 8), utc(2025, 3, 31, 7), "layer:W"),
        ("bob-admin", utc(2025, 3, 31, 7), utc(2025, 4, 7, 7), "layer:W"),
    ]
    assert found[0].end - found[0].start == timedelta(hours=167)
    assert on_call(schedule, utc(2025, 3, 31, 6, 59)) == [ann]  # 08:59 Berlin summer time: not yet handed off
    assert on_call(schedule, utc(2025, 3, 31, 7)) == [ben]


def test_daily_handoff_through_fall_back(make_schedule: Any, people: dict[str, Any]) -> None:
    """New York goes from UTC-4 to UTC-5 on 2025-11-02: that day's turn is 25 hours long."""
    ann, ben = people["ann"], people["ben"]
    schedule = fresh(make_schedule(layer("P", "daily", date(2025, 11, 1), [ann, ben]), tz="America/New_York"))
    assert table(shifts(schedule, utc(2025, 11, 1, 13), utc(2025, 11, 3, 14))) == [
        ("bob-owner", utc(2025, 11, 1, 13), utc(2025, 11, 2, 14), "layer:P"),
        ("bob-admin", utc(2025, 11, 2, 14), utc(2025, 11, 3, 14), "layer:P"),
    ]


def test_handoff_time_skipped_by_dst_happens_when_the_clocks_have_jumped(
    make_schedule: Any, people: dict[str, Any]
) -> None:
    """02:30 does not exist in Berlin on 2025-03-30: the hand-off is at 03:30 summer time (01:30 UTC)."""
    ann, ben = people["ann"], people["ben"]
    spec = layer("Night", "daily", date(2025, 3, 29), [ann, ben], handoff_time=time(2, 30))
    schedule = fresh(make_schedule(spec, tz="Europe/Berlin"))
    found = shifts(schedule, utc(2025, 3, 29, 1, 30), utc(2025, 3, 31, 0, 30))
    assert table(found) == [
        ("bob-owner", utc(2025, 3, 29, 1, 30), utc(2025, 3, 30, 1, 30), "layer:Night"),
        ("bob-admin", utc(2025, 3, 30, 1, 30), utc(2025, 3, 31, 0, 30), "layer:Night"),
    ]
    assert found[1].start.astimezone(BERLIN).time() == time(3, 30)


def test_highest_layer_with_someone_wins(make_schedule: Any, people: dict[str, Any]) -> None:
    """Base: ann and ben day by day. Above it: cat on weekdays 09:00-17:00 only (2025-01-10 is a Friday)."""
    ann, ben, cat = people["ann"], people["ben"], people["cat"]
    base = layer("Base", "daily", date(2025, 1, 6), [ann, ben])
    office = layer("Office", "weekly", date(2025, 1, 6), [cat], handoff_weekday=0, restrict_weekdays=[0, 1, 2, 3, 4],
                   restrict_start=time(9), restrict_end=time(17))  # fmt: skip
    schedule = fresh(make_schedule(base, office))
    assert table(shifts(schedule, utc(2025, 1, 10), utc(2025, 1, 13))) == [
        ("bob-admin", utc(2025, 1, 10), utc(2025, 1, 10, 9), "layer:Base"),
        ("bob-editor", utc(2025, 1, 10, 9), utc(2025, 1, 10, 17), "layer:Office"),
        ("bob-owner", utc(2025, 1, 10, 17), utc(2025, 1, 11, 9), "layer:Base"),
        ("bob-admin", utc(2025, 1, 11, 9), utc(2025, 1, 12, 9), "layer:Base"),  # Saturday: Office is off
        ("bob-owner", utc(2025, 1, 12, 9), utc(2025, 1, 13), "layer:Base"),
    ]
    assert on_call(schedule, utc(2025, 1, 10, 12)) == [cat]
    assert on_call(schedule, utc(2025, 1, 11, 12)) == [ben]
    # The layer's own rotation, before precedence, is what the calendar shows on its row.
    office_layer = next(x for x in schedule.loaded_layers if x.name == "Office")  # type: ignore[attr-defined]
    assert len(layer_shifts(schedule, office_layer, utc(2025, 1, 6), utc(2025, 1, 13))) == 5


def test_restriction_running_overnight(make_schedule: Any, people: dict[str, Any]) -> None:
    ann, cat = people["ann"], people["cat"]
    base = layer("Day", "daily", date(2025, 1, 6), [ann])
    night = layer("Night", "daily", date(2025, 1, 6), [cat], restrict_start=time(22), restrict_end=time(6))
    schedule = fresh(make_schedule(base, night, tz="Europe/Berlin"))
    assert on_call(schedule, utc(2025, 1, 8, 22)) == [cat]  # 23:00 in Berlin
    assert on_call(schedule, utc(2025, 1, 9, 4, 59)) == [cat]  # 05:59
    assert on_call(schedule, utc(2025, 1, 9, 5)) == [ann]  # 06:00
    assert on_call(schedule, utc(2025, 1, 9, 20, 59)) == [ann]  # 21:59


def test_overrides_win_and_overlapping_ones_add_up(bob: Tenant, make_schedule: Any, people: dict[str, Any]) -> None:
    ann, ben, dan, eve = people["ann"], people["ben"], people["dan"], people["eve"]
    base = layer("Base", "daily", date(2025, 1, 6), [ann, ben])
    schedule = make_schedule(base, layer("Top", "daily", date(2025, 1, 6), [ann]))
    create_override(schedule, bob.owner, user_id=eve.pk, start=utc(2025, 1, 7, 12), end=utc(2025, 1, 7, 15))
    create_override(schedule, bob.owner, user_id=dan.pk, start=utc(2025, 1, 7, 14), end=utc(2025, 1, 7, 16))
    schedule = fresh(schedule)
    assert table(shifts(schedule, utc(2025, 1, 7, 9), utc(2025, 1, 8, 9))) == [
        ("bob-owner", utc(2025, 1, 7, 9), utc(2025, 1, 7, 12), "layer:Top"),
        ("bob-viewer", utc(2025, 1, 7, 12), utc(2025, 1, 7, 15), "override"),
        ("bob-analyst", utc(2025, 1, 7, 14), utc(2025, 1, 7, 16), "override"),
        ("bob-owner", utc(2025, 1, 7, 16), utc(2025, 1, 8, 9), "layer:Top"),
    ]
    assert on_call(schedule, utc(2025, 1, 7, 13)) == [eve]
    assert {u.pk for u in on_call(schedule, utc(2025, 1, 7, 14, 30))} == {eve.pk, dan.pk}
    assert on_call(schedule, utc(2025, 1, 7, 15, 30)) == [dan]
    assert on_call(schedule, utc(2025, 1, 7, 16)) == [ann]


def test_people_who_left_are_never_on_call(bob: Tenant, make_schedule: Any, people: dict[str, Any]) -> None:
    ann, ben, cat = people["ann"], people["ben"], people["cat"]
    schedule = make_schedule(layer("P", "daily", date(2025, 1, 6), [ann, ben, cat]))
    create_override(schedule, bob.owner, user_id=ben.pk, start=utc(2025, 1, 6, 9), end=utc(2025, 1, 20))
    Membership.objects.for_organization(bob.organization.pk).filter(user=ben).delete()
    found = shifts(fresh(schedule), utc(2025, 1, 6, 9), utc(2025, 1, 8, 9))
    assert [name for name, *_ in table(found)] == ["bob-owner", "bob-editor"]  # the rotation goes on without ben


def test_a_schedule_without_layers_has_nobody(make_schedule: Any) -> None:
    schedule = fresh(make_schedule())
    assert shifts(schedule, utc(2025, 1, 1), utc(2025, 2, 1)) == []
    assert on_call(schedule, utc(2025, 1, 1)) == []


def test_on_call_agrees_with_shifts_at_any_instant(bob: Tenant, make_schedule: Any, people: dict[str, Any]) -> None:
    """A month across the spring DST change, three layers (one restricted), two overrides: random instants."""
    ann, ben, cat, dan, eve = (people[n] for n in ("ann", "ben", "cat", "dan", "eve"))
    schedule = make_schedule(
        layer("Base", "weekly", date(2025, 3, 3), [ann, ben, cat], handoff_weekday=2, handoff_time=time(10, 15)),
        layer("Nights", "custom", date(2025, 3, 5), [dan, eve], shift_hours=7, restrict_start=time(20),
              restrict_end=time(7), handoff_time=time(1, 45)),
        layer("Weekend", "daily", date(2025, 3, 1), [eve], restrict_weekdays=[5, 6]),
        tz="Europe/Berlin",
    )  # fmt: skip
    create_override(schedule, bob.owner, user_id=cat.pk, start=utc(2025, 3, 29, 23), end=utc(2025, 3, 30, 5))
    create_override(schedule, bob.owner, user_id=ann.pk, start=utc(2025, 3, 30, 3), end=utc(2025, 3, 31, 3))
    schedule = fresh(schedule)
    start, end = utc(2025, 3, 15), utc(2025, 4, 15)
    found = shifts(schedule, start, end)
    assert found
    for earlier, later in pairwise(found):
        assert earlier.start <= later.start
    rng = random.Random(5)
    instants = [start + timedelta(seconds=rng.randrange(int((end - start).total_seconds()))) for _ in range(150)]
    instants += [s.start for s in found] + [s.end - timedelta(microseconds=1) for s in found]
    for at in instants:
        expected = {s.user.pk for s in found if s.start <= at < s.end}
        assert {u.pk for u in on_call(schedule, at)} == expected, at


def test_times_must_carry_a_time_zone(make_schedule: Any) -> None:
    from datetime import datetime

    with pytest.raises(ValueError, match="timezone-aware"):
        on_call(make_schedule(), datetime(2025, 1, 1, 12))
