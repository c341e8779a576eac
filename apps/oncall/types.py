"""Values that cross the app's border: computed shifts and due steps, and the specs services take."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time
from typing import Any


@dataclass(frozen=True)
class Shift:
    """``user`` is on call from ``start`` to ``end`` (UTC) because of ``source``:
    ``"layer:<layer name>"`` or ``"override"``."""

    user: Any
    start: datetime
    end: datetime
    source: str

    @property
    def is_override(self) -> bool:
        return self.source == "override"


@dataclass(frozen=True)
class DueStep:
    """Step ``step_index`` of cycle ``repeat`` (0 = the first run through the steps) falls due at ``due_at``."""

    step_index: int
    repeat: int
    due_at: datetime
    step: Any = field(compare=False, repr=False)


@dataclass(frozen=True)
class LayerSpec:
    name: str
    rotation: str
    start_date: date
    members: list[int]  # user ids, in turn order
    handoff_time: time = time(9, 0)
    handoff_weekday: int | None = None
    shift_hours: int | None = None
    restrict_weekdays: list[int] = field(default_factory=list)
    restrict_start: time | None = None
    restrict_end: time | None = None


@dataclass(frozen=True)
class ScheduleSpec:
    name: str
    time_zone: str = "UTC"
    description: str = ""
    layers: list[LayerSpec] = field(default_factory=list)  # lowest priority first


@dataclass(frozen=True)
class StepSpec:
    delay_minutes: int = 0
    channels: list[int] = field(default_factory=list)
    users: list[int] = field(default_factory=list)
    schedules: list[int] = field(default_factory=list)


@dataclass(frozen=True)
class PolicySpec:
    name: str
    steps: list[StepSpec]
    description: str = ""
    repeat: int = 0


@dataclass(frozen=True)
class RuleSpec:
    order: int = 0
    name: str = ""
    severities: list[str] = field(default_factory=list)
    project_id: int | None = None
    service: str = ""
    labels: dict[str, str] = field(default_factory=dict)
    policy_id: int | None = None
