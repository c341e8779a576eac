"""The schedule page's calendar: a grid of days with one bar per shift, positioned in percent of the range.

Rows: the resulting on-call line (what ``shifts`` says), each layer's own rotation (lowest priority last, as
it is shadowed by the layers above), and the overrides. Days are the schedule's local days, so a DST day is
23 or 25 hours wide. Each person keeps one colour across rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from apps.oncall import queries
from apps.oncall.models import Schedule
from apps.oncall.schedules import layer_shifts, shifts, zone
from apps.oncall.types import Shift

PALETTE = (
    "#2f5fd0",
    "#1d7a46",
    "#b3541e",
    "#8e44ad",
    "#c0392b",
    "#16838f",
    "#7a6a00",
    "#a0306e",
    "#2c3e50",
    "#5b4bd0",
    "#3d7a1d",
    "#d35400",
)
DAYS = (7, 14)


@dataclass(frozen=True)
class Bar:
    left: float
    width: float
    user: Any
    color: str
    label: str
    override: bool


@dataclass(frozen=True)
class Row:
    label: str
    kind: str  # "final", "layer" or "overrides"
    bars: list[Bar]


@dataclass(frozen=True)
class Day:
    left: float
    width: float
    label: str  # "Mon 24": the month is in the grid's corner
    title: str  # "Mon 24 Mar 2025"
    today: bool


@dataclass(frozen=True)
class Calendar:
    first_day: date
    days: int
    start: datetime
    end: datetime
    rows: list[Row]
    day_columns: list[Day]
    legend: list[tuple[Any, str]]
    now_left: float | None
    shifts: list[Shift]
    previous: date
    next: date
    today: date

    @property
    def last_day(self) -> date:
        return self.first_day + timedelta(days=self.days - 1)


def local_text(moment: datetime, schedule: Schedule) -> str:
    return moment.astimezone(zone(schedule.time_zone)).strftime("%a %d %b %H:%M")


def build(schedule: Schedule, first_day: date, days: int, now: datetime) -> Calendar:
    """The calendar of ``days`` local days from ``first_day`` (loads the schedule's plan for the range)."""
    tz = zone(schedule.time_zone)
    start = datetime.combine(first_day, datetime.min.time()).replace(tzinfo=tz).astimezone(UTC)
    end = datetime.combine(first_day + timedelta(days=days), datetime.min.time()).replace(tzinfo=tz).astimezone(UTC)
    queries.load_plans([schedule], start, end)
    span = (end - start).total_seconds()

    def pct(moment: datetime) -> float:
        return round(100 * (moment - start).total_seconds() / span, 3)

    layers = sorted(queries.layers_of(schedule), key=lambda layer: layer.position, reverse=True)
    overrides = queries.overrides_of(schedule, start, end)
    people: dict[int, Any] = {}
    for layer in sorted(layers, key=lambda layer: layer.position):
        for turn in layer.loaded_members:  # type: ignore[attr-defined]
            people.setdefault(turn.user_id, turn.user)
    for override in overrides:
        people.setdefault(override.user_id, override.user)
    colors = {user_id: PALETTE[n % len(PALETTE)] for n, user_id in enumerate(people)}

    def bars(items: list[Shift]) -> list[Bar]:
        return [
            Bar(
                pct(item.start),
                round(pct(item.end) - pct(item.start), 3),
                item.user,
                colors.get(item.user.pk, "#5b6571"),
                f"{item.user.get_username()}: {local_text(item.start, schedule)} → {local_text(item.end, schedule)}"
                + (" (override)" if item.is_override else ""),
                item.is_override,
            )
            for item in items
        ]

    final = shifts(schedule, start, end)
    rows = [Row("On call", "final", bars(final))]
    rows += [Row(f"Layer “{layer.name}”", "layer", bars(layer_shifts(schedule, layer, start, end))) for layer in layers]
    override_shifts = [Shift(o.user, max(o.start, start), min(o.end, end), "override") for o in overrides]
    rows.append(Row("Overrides", "overrides", bars(override_shifts)))
    local_today = now.astimezone(tz).date()
    columns = []
    for n in range(days):
        day = first_day + timedelta(days=n)
        lo = datetime.combine(day, datetime.min.time()).replace(tzinfo=tz).astimezone(UTC)
        hi = datetime.combine(day + timedelta(days=1), datetime.min.time()).replace(tzinfo=tz).astimezone(UTC)
        columns.append(
            Day(
                pct(lo),
                round(pct(hi) - pct(lo), 3),
                day.strftime("%a %d"),
                day.strftime("%a %d %b %Y"),
                day == local_today,
            )
        )
    return Calendar(
        first_day=first_day,
        days=days,
        start=start,
        end=end,
        rows=rows,
        day_columns=columns,
        legend=[(user, colors[user_id]) for user_id, user in people.items()],
        now_left=pct(now) if start <= now < end else None,
        shifts=final,
        previous=first_day - timedelta(days=days),
        next=first_day + timedelta(days=days),
        today=local_today,
    )


def week_start(moment: datetime, schedule: Schedule) -> date:
    """Monday of the local week holding ``moment``."""
    local = moment.astimezone(zone(schedule.time_zone)).date()
    return local - timedelta(days=local.weekday())
