"""Who is on call: rotation maths over a schedule's layers and overrides (semantics in docs/oncall.md).

All rotation arithmetic is done on the schedule's wall clock (``zoneinfo``): the k-th hand-off of a layer is
at ``anchor + k × length`` local time, converted to UTC only at the end, so a daily 09:00 hand-off stays at
09:00 across a DST change (that day's shift is an hour shorter or longer). A local time that does not exist
(skipped by a spring-forward change) is read with the offset before the change, i.e. it happens as much later
as the clocks jumped; a local time that occurs twice is its first occurrence.

At an instant: everyone with an override covering it is on call; otherwise the person of the highest layer
(last in order) that has someone then; otherwise nobody. ``shifts`` computes exactly that over a range and
``on_call`` is ``shifts`` over one instant, so the two always agree.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import cache
from itertools import pairwise
from typing import Any
from zoneinfo import ZoneInfo, available_timezones

from apps.oncall import queries
from apps.oncall.models import Layer, Rotation, Schedule
from apps.oncall.types import Shift

__all__ = ["Shift", "layer_shifts", "on_call", "shifts", "valid_time_zone"]

_TICK = timedelta(microseconds=1)
_MIDNIGHT = datetime.min.time()


@cache
def _zone_names() -> frozenset[str]:
    return frozenset(available_timezones())


def time_zone_names() -> list[str]:
    return sorted(_zone_names())


def valid_time_zone(name: str) -> bool:
    """Whether ``name`` is an IANA time zone this system knows (checked by name, never by opening a path)."""
    return name in _zone_names() or name == "UTC"


def zone(name: str) -> ZoneInfo:
    return ZoneInfo(name if valid_time_zone(name) else "UTC")


def _to_utc(wall: datetime, tz: ZoneInfo) -> datetime:
    return wall.replace(tzinfo=tz).astimezone(UTC)


def _wall(moment: datetime, tz: ZoneInfo) -> datetime:
    return moment.astimezone(tz).replace(tzinfo=None)


def _aware(moment: datetime, name: str) -> datetime:
    if moment.tzinfo is None:
        raise ValueError(f"{name} must be timezone-aware")
    return moment.astimezone(UTC)


@dataclass(frozen=True)
class _Rotation:
    """A layer's turns: interval k is ``[boundary(k), boundary(k + 1))`` (k ≥ 0, the first cut at ``start``),
    held by ``members[k % len(members)]``."""

    tz: ZoneInfo
    anchor: datetime  # wall clock of boundary 0 (for weekly: the hand-off on or before the start date)
    length: timedelta  # wall-clock length of one turn
    start: datetime  # UTC: the rotation starts here
    members: tuple[Any, ...]

    @classmethod
    def of(cls, layer: Layer, tz: ZoneInfo) -> _Rotation:
        start_wall = datetime.combine(layer.start_date, layer.handoff_time)
        if layer.rotation == Rotation.WEEKLY:
            weekday = layer.handoff_weekday if layer.handoff_weekday is not None else layer.start_date.weekday()
            anchor = start_wall - timedelta(days=(layer.start_date.weekday() - weekday) % 7)
            length = timedelta(days=7)
        elif layer.rotation == Rotation.CUSTOM:
            anchor, length = start_wall, timedelta(hours=max(1, layer.shift_hours or 24))
        else:
            anchor, length = start_wall, timedelta(days=1)
        members = tuple(turn.user for turn in getattr(layer, "loaded_members", ()))
        return cls(tz, anchor, length, _to_utc(start_wall, tz), members)

    def boundary(self, k: int) -> datetime:
        return _to_utc(self.anchor + k * self.length, self.tz)

    def index_at(self, moment: datetime) -> int:
        """The k whose interval holds ``moment`` (estimated on the wall clock, then checked in UTC)."""
        k = (_wall(moment, self.tz) - self.anchor) // self.length
        while self.boundary(k) > moment:
            k -= 1
        while self.boundary(k + 1) <= moment:
            k += 1
        return k

    def turns(self, start: datetime, end: datetime) -> Iterator[tuple[Any, datetime, datetime]]:
        if not self.members or end <= self.start:
            return
        k = max(self.index_at(max(start, self.start)), 0)
        while True:
            lo, hi = max(self.boundary(k), self.start, start), min(self.boundary(k + 1), end)
            if lo >= end:
                return
            if lo < hi:  # a turn can be empty when a DST gap swallows it
                yield self.members[k % len(self.members)], lo, hi
            k += 1


def _windows(layer: Layer, tz: ZoneInfo, start: datetime, end: datetime) -> list[tuple[datetime, datetime]]:
    """The parts of ``[start, end)`` the layer's restriction lets it cover (all of it without a restriction).

    Each allowed day d gives ``[d at restrict_start, d at restrict_end)``, running past midnight into d + 1 when
    the end is not after the start; days only (no hours) give whole local days."""
    days = set(layer.restrict_weekdays or [])
    if not days and layer.restrict_start is None:
        return [(start, end)]
    windows = []
    day: date = _wall(start, tz).date() - timedelta(days=1)
    last = _wall(end, tz).date()
    while day <= last:
        if not days or day.weekday() in days:
            if layer.restrict_start is None or layer.restrict_end is None:
                lo_wall, hi_wall = (
                    datetime.combine(day, _MIDNIGHT),
                    datetime.combine(day + timedelta(days=1), _MIDNIGHT),
                )
            else:
                lo_wall = datetime.combine(day, layer.restrict_start)
                end_day = day if layer.restrict_end > layer.restrict_start else day + timedelta(days=1)
                hi_wall = datetime.combine(end_day, layer.restrict_end)
            lo, hi = max(_to_utc(lo_wall, tz), start), min(_to_utc(hi_wall, tz), end)
            if lo < hi:
                windows.append((lo, hi))
        day += timedelta(days=1)
    return windows


def _intersect(
    turns: list[tuple[Any, datetime, datetime]], windows: list[tuple[datetime, datetime]]
) -> list[tuple[Any, datetime, datetime]]:
    out = []
    i = j = 0
    while i < len(turns) and j < len(windows):
        user, a, b = turns[i]
        c, d = windows[j]
        lo, hi = max(a, c), min(b, d)
        if lo < hi:
            out.append((user, lo, hi))
        if b <= d:
            i += 1
        else:
            j += 1
    return out


def _layer_turns(layer: Layer, tz: ZoneInfo, start: datetime, end: datetime) -> list[tuple[Any, datetime, datetime]]:
    turns = list(_Rotation.of(layer, tz).turns(start, end))
    return _intersect(turns, _windows(layer, tz, start, end))


def layer_shifts(schedule: Schedule, layer: Layer, start: datetime, end: datetime) -> list[Shift]:
    """One layer's own turns in ``[start, end)``, before layers above it and overrides take precedence."""
    start, end = _aware(start, "start"), _aware(end, "end")
    tz = zone(schedule.time_zone)
    return [Shift(user, lo, hi, f"layer:{layer.name}") for user, lo, hi in _layer_turns(layer, tz, start, end)]


def _merge(pieces: list[Shift]) -> list[Shift]:
    """Join touching pieces of the same person from the same source; order by start, then source."""
    merged: list[Shift] = []
    for piece in sorted(pieces, key=lambda s: (s.user.pk, s.source, s.start)):
        last = merged[-1] if merged else None
        if (
            last is not None
            and last.user.pk == piece.user.pk
            and last.source == piece.source
            and last.end == piece.start
        ):
            merged[-1] = Shift(last.user, last.start, piece.end, last.source)
        else:
            merged.append(piece)
    return sorted(merged, key=lambda s: (s.start, s.source != "override", s.user.pk))


def shifts(schedule: Schedule, start: datetime, end: datetime) -> list[Shift]:
    """Who is on call in ``[start, end)``, as shifts clipped to the range, ordered by start.

    Overlapping shifts happen only when overrides overlap (everyone overriding is on call together)."""
    start, end = _aware(start, "start"), _aware(end, "end")
    if end <= start:
        return []
    tz = zone(schedule.time_zone)
    overrides = [(o.user, max(o.start, start), min(o.end, end)) for o in queries.overrides_of(schedule, start, end)]
    layers = [
        (f"layer:{layer.name}", _layer_turns(layer, tz, start, end))
        for layer in sorted(queries.layers_of(schedule), key=lambda layer: layer.position, reverse=True)
    ]
    points = {start, end}
    for _, lo, hi in overrides:
        points.update((lo, hi))
    for _, turns in layers:
        for _, lo, hi in turns:
            points.update((lo, hi))
    starts = [[lo for _, lo, _ in turns] for _, turns in layers]
    pieces: list[Shift] = []
    for lo, hi in pairwise(sorted(points)):
        covering = [user for user, a, b in overrides if a <= lo and hi <= b]
        if covering:
            pieces.extend(Shift(user, lo, hi, "override") for user in covering)
            continue
        for (source, turns), turn_starts in zip(layers, starts, strict=True):
            n = bisect_right(turn_starts, lo) - 1
            if n >= 0 and turns[n][2] >= hi:
                pieces.append(Shift(turns[n][0], lo, hi, source))
                break
    return _merge(pieces)


def on_call(schedule: Schedule, at: datetime) -> list[Any]:
    """The people on call at ``at``: usually one; several when overrides overlap; none when nobody is scheduled."""
    at = _aware(at, "at")
    people: dict[int, Any] = {}
    for shift in shifts(schedule, at, at + _TICK):
        people.setdefault(shift.user.pk, shift.user)
    return list(people.values())


def current_shifts(schedule: Schedule, at: datetime, horizon: timedelta = timedelta(days=31)) -> list[Shift]:
    """The shifts running at ``at``, with their real start and end when within ``horizon`` of ``at``."""
    at = _aware(at, "at")
    window = shifts(schedule, at - horizon, at + horizon)
    return [s for s in window if s.start <= at < s.end]
