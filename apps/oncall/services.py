"""The write API of on-call configuration: validated, atomic, audited.

Every function validates the whole spec first and raises ``OncallInvalid`` (errors by field path, such as
``layers[1].members``) before writing anything, then writes and records one audit entry in one transaction.
The API answers 400 with those errors; the pages show them next to the fields.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict
from datetime import date, datetime, time, timedelta
from typing import Any

from django.db import IntegrityError, transaction

from apps.audit.actions import Action
from apps.audit.services import Origin, record
from apps.oncall import queries
from apps.oncall.models import (
    EscalationPolicy,
    EscalationStep,
    Layer,
    LayerMember,
    Override,
    Rotation,
    RoutingRule,
    Schedule,
    StepTarget,
)
from apps.oncall.schedules import valid_time_zone
from apps.oncall.types import LayerSpec, PolicySpec, RuleSpec, ScheduleSpec, StepSpec

MAX_LAYERS = 10
MAX_MEMBERS = 100
MAX_SHIFT_HOURS = 24 * 90
MAX_OVERRIDE = timedelta(days=366)
MAX_STEPS = 20
MAX_DELAY_MINUTES = 7 * 24 * 60
MAX_REPEAT = 9
MAX_TARGETS = 50
MAX_LABELS = 20
MAX_SEVERITIES = 10
_SEVERITY = re.compile(r"^[a-z][a-z0-9_-]{0,19}$")


class OncallInvalid(ValueError):
    """Input that cannot be saved; ``errors`` maps field paths to messages for people."""

    def __init__(self, errors: dict[str, list[str]]) -> None:
        super().__init__("; ".join(f"{field}: {' '.join(messages)}" for field, messages in errors.items()))
        self.errors = errors


class _Errors:
    def __init__(self) -> None:
        self.found: dict[str, list[str]] = {}

    def add(self, field: str, message: str) -> None:
        self.found.setdefault(field, []).append(message)

    def raise_any(self) -> None:
        if self.found:
            raise OncallInvalid(self.found)


def _actor(actor: Any) -> Any:
    return actor if getattr(actor, "is_authenticated", False) else None


def _changes(before: dict[str, Any], after: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    keys = [key for key in after if before.get(key) != after[key]]
    return {key: before.get(key) for key in keys}, {key: after[key] for key in keys}


def _text(errors: _Errors, field: str, value: str, *, limit: int, required: bool = True) -> None:
    if required and not value.strip():
        errors.add(field, "This field may not be blank.")
    if len(value) > limit:
        errors.add(field, f"At most {limit} characters.")


@contextmanager
def _unique_name(kind: str, name: str) -> Iterator[None]:
    """A savepoint around the write: two requests saving the same name at once get a 400, not a 500."""
    try:
        with transaction.atomic():
            yield
    except IntegrityError:
        raise OncallInvalid({"name": [f"{kind} named “{name}” already exists."]}) from None


def _ids_list(values: list[int]) -> str:
    return ", ".join(str(v) for v in values)


# --- Schedules -----------------------------------------------------------------------------------------------------


def _json_time(value: time | None) -> str | None:
    return value.strftime("%H:%M") if value is not None else None


def layer_json(spec: LayerSpec) -> dict[str, Any]:
    data = asdict(spec)
    data.update(
        start_date=spec.start_date.isoformat(),
        handoff_time=_json_time(spec.handoff_time),
        restrict_start=_json_time(spec.restrict_start),
        restrict_end=_json_time(spec.restrict_end),
    )
    return data


def schedule_json(spec: ScheduleSpec) -> dict[str, Any]:
    """The spec as the audit trail keeps it (times as HH:MM, dates ISO, members as user ids)."""
    return {
        "name": spec.name,
        "time_zone": spec.time_zone,
        "description": spec.description,
        "layers": [layer_json(layer) for layer in spec.layers],
    }


def schedule_spec(schedule: Schedule) -> ScheduleSpec:
    """What is stored, as a spec (members who left the organization are not in it: they are never on call)."""
    layers = [
        LayerSpec(
            name=layer.name,
            rotation=layer.rotation,
            start_date=layer.start_date,
            members=[turn.user_id for turn in layer.loaded_members],  # type: ignore[attr-defined]
            handoff_time=layer.handoff_time,
            handoff_weekday=layer.handoff_weekday,
            shift_hours=layer.shift_hours,
            restrict_weekdays=list(layer.restrict_weekdays or []),
            restrict_start=layer.restrict_start,
            restrict_end=layer.restrict_end,
        )
        for layer in queries.layers_of(schedule)
    ]
    return ScheduleSpec(schedule.name, schedule.time_zone, schedule.description, layers)


def _normalised_layer(spec: LayerSpec) -> LayerSpec:
    """Fields that do not apply to the rotation are cleared, so what is stored and audited is what counts."""
    return LayerSpec(
        name=spec.name.strip(),
        rotation=spec.rotation,
        start_date=spec.start_date,
        members=list(spec.members),
        handoff_time=spec.handoff_time.replace(second=0, microsecond=0),
        handoff_weekday=spec.handoff_weekday if spec.rotation == Rotation.WEEKLY else None,
        shift_hours=spec.shift_hours if spec.rotation == Rotation.CUSTOM else None,
        restrict_weekdays=sorted(set(spec.restrict_weekdays)),
        restrict_start=spec.restrict_start.replace(second=0, microsecond=0) if spec.restrict_start else None,
        restrict_end=spec.restrict_end.replace(second=0, microsecond=0) if spec.restrict_end else None,
    )


def _validate_layer(errors: _Errors, at: str, layer: LayerSpec, members: set[int]) -> None:
    _text(errors, f"{at}.name", layer.name, limit=100)
    if layer.rotation not in Rotation.values:
        errors.add(f"{at}.rotation", f"Use one of {', '.join(Rotation.values)}.")
    if layer.rotation == Rotation.CUSTOM and not (layer.shift_hours and 1 <= layer.shift_hours <= MAX_SHIFT_HOURS):
        errors.add(f"{at}.shift_hours", f"A custom rotation needs a shift length of 1 to {MAX_SHIFT_HOURS} hours.")
    if layer.rotation == Rotation.WEEKLY and layer.handoff_weekday not in range(7):
        errors.add(f"{at}.handoff_weekday", "A weekly rotation needs a hand-off weekday from 0 (Monday) to 6 (Sunday).")
    if not isinstance(layer.start_date, date) or not date(2000, 1, 1) <= layer.start_date <= date(2100, 1, 1):
        errors.add(f"{at}.start_date", "Give a start date between 2000 and 2100.")
    if not layer.members:
        errors.add(f"{at}.members", "A layer needs at least one member.")
    elif len(layer.members) > MAX_MEMBERS:
        errors.add(f"{at}.members", f"At most {MAX_MEMBERS} members.")
    duplicates = sorted({m for m in layer.members if layer.members.count(m) > 1})
    if duplicates:
        errors.add(f"{at}.members", f"User {_ids_list(duplicates)} is listed more than once.")
    strangers = [m for m in dict.fromkeys(layer.members) if m not in members]
    if strangers:
        errors.add(f"{at}.members", f"User {_ids_list(strangers)} is not a member of this organization.")
    if any(day not in range(7) for day in layer.restrict_weekdays):
        errors.add(f"{at}.restrict_weekdays", "Weekdays are 0 (Monday) to 6 (Sunday).")
    if (layer.restrict_start is None) != (layer.restrict_end is None):
        errors.add(f"{at}.restrict_start", "Give both the start and the end of the hours, or neither.")
    elif layer.restrict_start is not None and layer.restrict_start == layer.restrict_end:
        errors.add(f"{at}.restrict_end", "The end of the hours must differ from the start.")


def _validate_schedule(organization_id: int, spec: ScheduleSpec, current: Schedule | None) -> ScheduleSpec:
    errors = _Errors()
    name = spec.name.strip()
    _text(errors, "name", name, limit=100)
    taken = queries.schedules(organization_id).filter(name=name)
    if current is not None:
        taken = taken.exclude(pk=current.pk)
    if name and taken.exists():
        errors.add("name", f"A schedule named “{name}” already exists.")
    if not valid_time_zone(spec.time_zone):
        errors.add("time_zone", f"“{spec.time_zone}” is not a time zone: use an IANA name such as Europe/Paris.")
    _text(errors, "description", spec.description, limit=2000, required=False)
    if len(spec.layers) > MAX_LAYERS:
        errors.add("layers", f"At most {MAX_LAYERS} layers.")
    members = queries.member_ids(organization_id, [m for layer in spec.layers for m in layer.members])
    layers = [_normalised_layer(layer) for layer in spec.layers]
    for n, layer in enumerate(layers):
        _validate_layer(errors, f"layers[{n}]", layer, members)
    names = [layer.name for layer in layers]
    for n, layer in enumerate(layers):
        if layer.name and names.index(layer.name) != n:
            errors.add(f"layers[{n}].name", f"Another layer is already named “{layer.name}”.")
    errors.raise_any()
    return ScheduleSpec(name, spec.time_zone, spec.description, layers)


def _write_layers(schedule: Schedule, layers: list[LayerSpec]) -> None:
    organization_id = schedule.organization_id
    Layer.objects.for_organization(organization_id).filter(schedule_id=schedule.pk).delete()
    rows = Layer.objects.for_organization(organization_id).bulk_create(
        Layer(
            organization_id=organization_id,
            schedule=schedule,
            position=n,
            name=spec.name,
            rotation=spec.rotation,
            shift_hours=spec.shift_hours,
            handoff_time=spec.handoff_time,
            handoff_weekday=spec.handoff_weekday,
            start_date=spec.start_date,
            restrict_weekdays=spec.restrict_weekdays,
            restrict_start=spec.restrict_start,
            restrict_end=spec.restrict_end,
        )
        for n, spec in enumerate(layers)
    )
    LayerMember.objects.for_organization(organization_id).bulk_create(
        LayerMember(organization_id=organization_id, layer=row, user_id=user_id, position=n)
        for row, spec in zip(rows, layers, strict=True)
        for n, user_id in enumerate(spec.members)
    )
    if hasattr(schedule, "loaded_layers"):
        del schedule.loaded_layers  # type: ignore[attr-defined]


@transaction.atomic
def create_schedule(organization_id: int, actor: Any, spec: ScheduleSpec, *, origin: Origin | None = None) -> Schedule:
    spec = _validate_schedule(organization_id, spec, None)
    with _unique_name("A schedule", spec.name):
        schedule = Schedule.objects.for_organization(organization_id).create(
            organization_id=organization_id,
            name=spec.name,
            time_zone=spec.time_zone,
            description=spec.description,
            created_by=_actor(actor),
        )
    _write_layers(schedule, spec.layers)
    record(
        organization_id, Action.SCHEDULE_CREATED, actor=actor, target=schedule, after=schedule_json(spec), origin=origin
    )
    return schedule


@transaction.atomic
def update_schedule(schedule: Schedule, actor: Any, spec: ScheduleSpec, *, origin: Origin | None = None) -> Schedule:
    """Replace the schedule's settings and layers with ``spec``; no entry when nothing changed."""
    before = schedule_spec(schedule)
    spec = _validate_schedule(schedule.organization_id, spec, schedule)
    old, new = _changes(schedule_json(before), schedule_json(spec))
    if not new:
        return schedule
    schedule.name, schedule.time_zone, schedule.description = spec.name, spec.time_zone, spec.description
    with _unique_name("A schedule", spec.name):
        schedule.save(update_fields=["name", "time_zone", "description", "updated_at"])
    if "layers" in new:
        _write_layers(schedule, spec.layers)
    record(
        schedule.organization_id,
        Action.SCHEDULE_UPDATED,
        actor=actor,
        target=schedule,
        before=old,
        after=new,
        origin=origin,
    )
    return schedule


@transaction.atomic
def delete_schedule(schedule: Schedule, actor: Any, *, origin: Origin | None = None) -> None:
    """Delete a schedule with its layers and overrides; refused while an escalation step names it."""
    users = queries.policies_using_schedule(schedule.organization_id, schedule.pk)
    if users:
        raise OncallInvalid(
            {"schedule": [f"Escalation policies use this schedule ({', '.join(users)}): remove it from them first."]}
        )
    record(
        schedule.organization_id,
        Action.SCHEDULE_DELETED,
        actor=actor,
        target=schedule,
        before=schedule_json(schedule_spec(schedule)),
        origin=origin,
    )
    schedule.delete()


def override_json(override: Override) -> dict[str, Any]:
    return {
        "schedule": override.schedule_id,
        "user": override.user_id,
        "start": override.start.isoformat(),
        "end": override.end.isoformat(),
        "reason": override.reason,
    }


@transaction.atomic
def create_override(
    schedule: Schedule,
    actor: Any,
    *,
    user_id: int,
    start: datetime,
    end: datetime,
    reason: str = "",
    origin: Origin | None = None,
) -> Override:
    """``user_id`` on call in ``schedule`` from ``start`` to ``end`` instead of the rotations."""
    errors = _Errors()
    if not queries.member_ids(schedule.organization_id, [user_id]):
        errors.add("user", f"User {user_id} is not a member of this organization.")
    if start.tzinfo is None or end.tzinfo is None:
        errors.add("start", "Times need a UTC offset.")
    elif end <= start:
        errors.add("end", "The end must be after the start.")
    elif end - start > MAX_OVERRIDE:
        errors.add("end", "An override lasts at most 366 days.")
    _text(errors, "reason", reason, limit=500, required=False)
    errors.raise_any()
    override = Override.objects.for_organization(schedule.organization_id).create(
        organization_id=schedule.organization_id,
        schedule=schedule,
        user_id=user_id,
        start=start,
        end=end,
        reason=reason.strip(),
        created_by=_actor(actor),
    )
    override.refresh_from_db()  # the stored instants (microseconds, UTC), as the audit and API show them
    record(
        schedule.organization_id,
        Action.SCHEDULE_OVERRIDE_CREATED,
        actor=actor,
        target=override,
        after=override_json(override),
        origin=origin,
    )
    return override


@transaction.atomic
def delete_override(override: Override, actor: Any, *, origin: Origin | None = None) -> None:
    record(
        override.organization_id,
        Action.SCHEDULE_OVERRIDE_DELETED,
        actor=actor,
        target=override,
        before=override_json(override),
        origin=origin,
    )
    override.delete()


# --- Escalation policies -------------------------------------------------------------------------------------------


def policy_json(spec: PolicySpec) -> dict[str, Any]:
    return {
        "name": spec.name,
        "description": spec.description,
        "repeat": spec.repeat,
        "steps": [asdict(step) for step in spec.steps],
    }


def policy_spec(policy: EscalationPolicy) -> PolicySpec:
    from apps.oncall.escalation import describe

    steps = [StepSpec(step.delay_minutes, **describe(step)) for step in queries.steps_of(policy)]
    return PolicySpec(policy.name, steps, policy.description, policy.repeat)


def _validate_step(errors: _Errors, at: str, step: StepSpec, found: dict[str, Any]) -> None:
    if not 0 <= step.delay_minutes <= MAX_DELAY_MINUTES:
        errors.add(f"{at}.delay_minutes", f"Wait 0 to {MAX_DELAY_MINUTES} minutes (a week).")
    if len(step.channels) + len(step.users) + len(step.schedules) > MAX_TARGETS:
        errors.add(at, f"At most {MAX_TARGETS} targets per step.")
    missing = [c for c in step.channels if c not in found["channels"]]
    if missing:
        errors.add(f"{at}.channels", f"Channel {_ids_list(missing)} does not exist in this organization.")
    personal = [c for c in step.channels if c in found["channels"] and found["channels"][c].user_id is not None]
    if personal:
        errors.add(
            f"{at}.channels",
            f"Channel {_ids_list(personal)} is a person's contact method: name the person in users instead.",
        )
    strangers = [u for u in step.users if u not in found["users"]]
    if strangers:
        errors.add(f"{at}.users", f"User {_ids_list(strangers)} is not a member of this organization.")
    unknown = [s for s in step.schedules if s not in found["schedules"]]
    if unknown:
        errors.add(f"{at}.schedules", f"Schedule {_ids_list(unknown)} does not exist in this organization.")


def _validate_policy(organization_id: int, spec: PolicySpec, current: EscalationPolicy | None) -> PolicySpec:
    errors = _Errors()
    name = spec.name.strip()
    _text(errors, "name", name, limit=100)
    taken = queries.policies(organization_id).filter(name=name)
    if current is not None:
        taken = taken.exclude(pk=current.pk)
    if name and taken.exists():
        errors.add("name", f"An escalation policy named “{name}” already exists.")
    _text(errors, "description", spec.description, limit=2000, required=False)
    if not 0 <= spec.repeat <= MAX_REPEAT:
        errors.add("repeat", f"Repeat 0 to {MAX_REPEAT} times.")
    if not spec.steps:
        errors.add("steps", "A policy needs at least one step.")
    elif len(spec.steps) > MAX_STEPS:
        errors.add("steps", f"At most {MAX_STEPS} steps.")
    steps = [
        StepSpec(
            step.delay_minutes,
            list(dict.fromkeys(step.channels)),
            list(dict.fromkeys(step.users)),
            list(dict.fromkeys(step.schedules)),
        )
        for step in spec.steps
    ]
    found = {
        "channels": queries.channels_by_id(organization_id, [c for s in steps for c in s.channels]),
        "users": queries.member_ids(organization_id, [u for s in steps for u in s.users]),
        "schedules": queries.schedules_by_id(organization_id, [x for s in steps for x in s.schedules]),
    }
    for n, step in enumerate(steps):
        _validate_step(errors, f"steps[{n}]", step, found)
    if spec.repeat and steps and sum(step.delay_minutes for step in steps) == 0:
        errors.add("repeat", "Repeating needs time between the cycles: give the last step a delay.")
    errors.raise_any()
    return PolicySpec(name, steps, spec.description, spec.repeat)


def _write_steps(policy: EscalationPolicy, steps: list[StepSpec]) -> None:
    organization_id = policy.organization_id
    EscalationStep.objects.for_organization(organization_id).filter(policy_id=policy.pk).delete()
    rows = EscalationStep.objects.for_organization(organization_id).bulk_create(
        EscalationStep(organization_id=organization_id, policy=policy, position=n, delay_minutes=spec.delay_minutes)
        for n, spec in enumerate(steps)
    )
    targets = []
    for row, spec in zip(rows, steps, strict=True):
        targets += [StepTarget(organization_id=organization_id, step=row, channel_id=c) for c in spec.channels]
        targets += [StepTarget(organization_id=organization_id, step=row, user_id=u) for u in spec.users]
        targets += [StepTarget(organization_id=organization_id, step=row, schedule_id=s) for s in spec.schedules]
    StepTarget.objects.for_organization(organization_id).bulk_create(targets)
    if hasattr(policy, "loaded_steps"):
        del policy.loaded_steps  # type: ignore[attr-defined]


@transaction.atomic
def create_policy(
    organization_id: int, actor: Any, spec: PolicySpec, *, origin: Origin | None = None
) -> EscalationPolicy:
    spec = _validate_policy(organization_id, spec, None)
    with _unique_name("An escalation policy", spec.name):
        policy = EscalationPolicy.objects.for_organization(organization_id).create(
            organization_id=organization_id,
            name=spec.name,
            description=spec.description,
            repeat=spec.repeat,
            created_by=_actor(actor),
        )
    _write_steps(policy, spec.steps)
    record(
        organization_id,
        Action.ESCALATION_POLICY_CREATED,
        actor=actor,
        target=policy,
        after=policy_json(spec),
        origin=origin,
    )
    return policy


@transaction.atomic
def update_policy(
    policy: EscalationPolicy, actor: Any, spec: PolicySpec, *, origin: Origin | None = None
) -> EscalationPolicy:
    before = policy_spec(policy)
    spec = _validate_policy(policy.organization_id, spec, policy)
    old, new = _changes(policy_json(before), policy_json(spec))
    if not new:
        return policy
    policy.name, policy.description, policy.repeat = spec.name, spec.description, spec.repeat
    with _unique_name("An escalation policy", spec.name):
        policy.save(update_fields=["name", "description", "repeat", "updated_at"])
    if "steps" in new:
        _write_steps(policy, spec.steps)
    record(
        policy.organization_id,
        Action.ESCALATION_POLICY_UPDATED,
        actor=actor,
        target=policy,
        before=old,
        after=new,
        origin=origin,
    )
    return policy


@transaction.atomic
def delete_policy(policy: EscalationPolicy, actor: Any, *, origin: Origin | None = None) -> None:
    """Delete a policy with its steps; refused while a routing rule sends incidents to it."""
    rules = queries.rules_using_policy(policy.organization_id, policy.pk)
    if rules:
        raise OncallInvalid(
            {"policy": [f"Routing rules send incidents to this policy ({', '.join(rules)}): change them first."]}
        )
    record(
        policy.organization_id,
        Action.ESCALATION_POLICY_DELETED,
        actor=actor,
        target=policy,
        before=policy_json(policy_spec(policy)),
        origin=origin,
    )
    policy.delete()


# --- Routing rules -------------------------------------------------------------------------------------------------


def rule_json(spec: RuleSpec) -> dict[str, Any]:
    return asdict(spec)


def rule_spec(rule: RoutingRule) -> RuleSpec:
    return RuleSpec(
        rule.order,
        rule.name,
        list(rule.severities or []),
        rule.project_id,
        rule.service,
        dict(rule.labels or {}),
        rule.policy_id,
    )


def _validate_rule(organization_id: int, spec: RuleSpec) -> RuleSpec:
    errors = _Errors()
    if not -1_000_000 <= spec.order <= 1_000_000:
        errors.add("order", "Use an order between -1000000 and 1000000.")
    _text(errors, "name", spec.name, limit=100, required=False)
    severities = list(dict.fromkeys(s.strip().lower() for s in spec.severities if s.strip()))
    if len(severities) > MAX_SEVERITIES:
        errors.add("severities", f"At most {MAX_SEVERITIES} severities.")
    bad = [s for s in severities if not _SEVERITY.match(s)]
    if bad:
        errors.add("severities", f"“{bad[0]}” is not a severity: a word such as critical, warning or info.")
    if spec.project_id is not None and spec.project_id not in {
        p.pk for p in queries.projects_by_slug(organization_id).values()
    }:
        errors.add("project", "No such project in this organization.")
    _text(errors, "service", spec.service, limit=200, required=False)
    labels = {str(k).strip(): str(v).strip() for k, v in spec.labels.items()}
    if len(labels) > MAX_LABELS:
        errors.add("labels", f"At most {MAX_LABELS} labels.")
    if any(not key or len(key) > 100 or len(value) > 200 for key, value in labels.items()):
        errors.add("labels", "Label keys are 1 to 100 characters, values at most 200.")
    if spec.policy_id is not None and not queries.policy_exists(organization_id, spec.policy_id):
        errors.add("policy", f"Escalation policy {spec.policy_id} does not exist in this organization.")
    errors.raise_any()
    return RuleSpec(
        spec.order, spec.name.strip(), severities, spec.project_id, spec.service.strip(), labels, spec.policy_id
    )


def _apply_rule(rule: RoutingRule, spec: RuleSpec) -> None:
    rule.order, rule.name, rule.severities = spec.order, spec.name, spec.severities
    rule.project_id, rule.service, rule.labels, rule.policy_id = (
        spec.project_id,
        spec.service,
        spec.labels,
        spec.policy_id,
    )


@transaction.atomic
def create_rule(organization_id: int, actor: Any, spec: RuleSpec, *, origin: Origin | None = None) -> RoutingRule:
    spec = _validate_rule(organization_id, spec)
    rule = RoutingRule(organization_id=organization_id, created_by=_actor(actor))
    _apply_rule(rule, spec)
    rule.save()
    record(organization_id, Action.ROUTING_RULE_CREATED, actor=actor, target=rule, after=rule_json(spec), origin=origin)
    return rule


@transaction.atomic
def update_rule(rule: RoutingRule, actor: Any, spec: RuleSpec, *, origin: Origin | None = None) -> RoutingRule:
    spec = _validate_rule(rule.organization_id, spec)
    old, new = _changes(rule_json(rule_spec(rule)), rule_json(spec))
    if not new:
        return rule
    _apply_rule(rule, spec)
    rule.save()
    record(
        rule.organization_id,
        Action.ROUTING_RULE_UPDATED,
        actor=actor,
        target=rule,
        before=old,
        after=new,
        origin=origin,
    )
    return rule


@transaction.atomic
def delete_rule(rule: RoutingRule, actor: Any, *, origin: Origin | None = None) -> None:
    record(
        rule.organization_id,
        Action.ROUTING_RULE_DELETED,
        actor=actor,
        target=rule,
        before=rule_json(rule_spec(rule)),
        origin=origin,
    )
    rule.delete()
