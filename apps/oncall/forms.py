"""Forms of the on-call pages. They check input shapes and turn it into specs; apps.oncall.services checks the
rest (membership, same organization, unique names), and its errors are put back on these forms by field path."""

from __future__ import annotations

import re
from datetime import date, datetime, time
from typing import Any
from zoneinfo import ZoneInfo

from django import forms
from django.forms import formset_factory
from django.utils import timezone

from apps.oncall.models import Rotation
from apps.oncall.types import LayerSpec, RuleSpec, StepSpec

WEEKDAYS = [
    (0, "Monday"),
    (1, "Tuesday"),
    (2, "Wednesday"),
    (3, "Thursday"),
    (4, "Friday"),
    (5, "Saturday"),
    (6, "Sunday"),
]
TIME_WIDGET = forms.TimeInput(attrs={"type": "time"}, format="%H:%M")
DATE_WIDGET = forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")
LOCAL_DATETIME_WIDGET = forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M")
_PATH = re.compile(r"^(?P<group>layers|steps)\[(?P<index>\d+)\]\.(?P<field>\w+)$")


def _split(text: str) -> list[str]:
    return [part.strip() for part in re.split(r"[,\n]", text) if part.strip()]


class ScheduleForm(forms.Form):
    name = forms.CharField(max_length=100)
    time_zone = forms.CharField(
        max_length=64,
        initial="UTC",
        help_text="Hand-offs follow this clock, e.g. Europe/Paris.",
        widget=forms.TextInput(attrs={"list": "time-zones"}),
    )
    description = forms.CharField(max_length=2000, required=False, widget=forms.Textarea(attrs={"rows": 2}))


class LayerForm(forms.Form):
    name = forms.CharField(max_length=100, initial="Primary")
    rotation = forms.ChoiceField(choices=Rotation.choices, initial=Rotation.WEEKLY)
    shift_hours = forms.IntegerField(
        required=False, min_value=1, label="Shift length (hours)", help_text="Custom rotations only."
    )
    handoff_time = forms.TimeField(initial=time(9, 0), widget=TIME_WIDGET, label="Hand-off time")
    handoff_weekday = forms.TypedChoiceField(
        choices=[("", "—"), *WEEKDAYS],
        coerce=int,
        required=False,
        empty_value=None,
        label="Hand-off day",
        initial=0,
        help_text="Weekly rotations only.",
    )
    start_date = forms.DateField(widget=DATE_WIDGET, label="Rotation start date")
    members = forms.CharField(
        max_length=2000, label="Members, in turn order", help_text="Usernames separated by commas."
    )
    restrict_weekdays = forms.TypedMultipleChoiceField(
        choices=WEEKDAYS,
        coerce=int,
        required=False,
        widget=forms.CheckboxSelectMultiple,
        label="Only on these days",
        help_text="Optional. None ticked: every day.",
    )
    restrict_start = forms.TimeField(required=False, widget=TIME_WIDGET, label="Only from")
    restrict_end = forms.TimeField(
        required=False,
        widget=TIME_WIDGET,
        label="Only until",
        help_text="Optional hours of the day; an end before the start runs overnight.",
    )

    def __init__(self, *args: Any, today: date, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["start_date"].initial = today  # an untouched extra layer stays unchanged, hence ignored

    def spec(self, user_ids: dict[str, int]) -> LayerSpec | None:
        """The layer as a spec, or None (with errors on the form) when a username is unknown."""
        data = self.cleaned_data
        names = _split(data.get("members") or "")
        unknown = [name for name in names if name not in user_ids]
        if unknown:
            known = ", ".join(sorted(user_ids)) or "none"
            self.add_error("members", f"No member named {', '.join(unknown)} (members: {known}).")
            return None
        return LayerSpec(
            name=data["name"],
            rotation=data["rotation"],
            start_date=data["start_date"],
            members=[user_ids[name] for name in names],
            handoff_time=data["handoff_time"],
            handoff_weekday=data.get("handoff_weekday"),
            shift_hours=data.get("shift_hours"),
            restrict_weekdays=list(data.get("restrict_weekdays") or []),
            restrict_start=data.get("restrict_start"),
            restrict_end=data.get("restrict_end"),
        )


class _OrderedFormSet(forms.BaseFormSet):  # type: ignore[type-arg]
    order_help = ""

    def add_fields(self, form: forms.Form, index: int | None) -> None:
        super().add_fields(form, index)
        if "ORDER" in form.fields:
            form.fields["ORDER"].help_text = self.order_help
        if "DELETE" in form.fields:
            form.fields["DELETE"].label = "Remove"


class _LayerFormSet(_OrderedFormSet):
    order_help = "Layers are stacked by this number: where several have someone on call, the highest wins."


class _StepFormSet(_OrderedFormSet):
    order_help = "Steps run in this order."


LayerFormSet = formset_factory(
    LayerForm, formset=_LayerFormSet, extra=1, can_delete=True, can_order=True, max_num=10, validate_max=True
)


def layer_initial(spec: LayerSpec, usernames: dict[int, str]) -> dict[str, Any]:
    return {
        "name": spec.name,
        "rotation": spec.rotation,
        "shift_hours": spec.shift_hours,
        "handoff_time": spec.handoff_time,
        "handoff_weekday": spec.handoff_weekday,
        "start_date": spec.start_date,
        "members": ", ".join(usernames.get(user_id, str(user_id)) for user_id in spec.members),
        "restrict_weekdays": spec.restrict_weekdays,
        "restrict_start": spec.restrict_start,
        "restrict_end": spec.restrict_end,
    }


class OverrideForm(forms.Form):
    """Times are read in the schedule's time zone (the label says which)."""

    user = forms.TypedChoiceField(coerce=int, label="Who is on call")
    start = forms.DateTimeField(widget=LOCAL_DATETIME_WIDGET)
    end = forms.DateTimeField(widget=LOCAL_DATETIME_WIDGET)
    reason = forms.CharField(
        max_length=500, required=False, help_text="Optional, e.g. “swap with Ann for her holiday”."
    )

    def __init__(self, *args: Any, people: list[Any], time_zone: str, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["user"].choices = [(user.pk, user.get_username()) for user in people]  # type: ignore[attr-defined]
        self.fields["start"].label = f"From ({time_zone})"
        self.fields["end"].label = f"Until ({time_zone})"
        self.zone = ZoneInfo(time_zone)

    def moment(self, name: str) -> datetime:
        """The field's wall-clock value read in the schedule's time zone (Django read it in the site's)."""
        value: datetime = self.cleaned_data[name]
        wall = timezone.make_naive(value) if timezone.is_aware(value) else value
        return wall.replace(tzinfo=self.zone)


class PolicyForm(forms.Form):
    name = forms.CharField(max_length=100)
    description = forms.CharField(max_length=2000, required=False, widget=forms.Textarea(attrs={"rows": 2}))
    repeat = forms.IntegerField(
        min_value=0,
        max_value=9,
        initial=0,
        label="Repeat the steps",
        help_text="How many more times to run all steps when nobody acknowledges.",
    )


class StepForm(forms.Form):
    delay_minutes = forms.IntegerField(
        min_value=0,
        initial=15,
        label="Then wait (minutes)",
        help_text="Before the next step, or before repeating after the last.",
    )
    channels = forms.TypedMultipleChoiceField(
        coerce=int, required=False, widget=forms.CheckboxSelectMultiple, label="Team channels"
    )
    users = forms.TypedMultipleChoiceField(
        coerce=int, required=False, widget=forms.CheckboxSelectMultiple, label="People (their contact methods)"
    )
    schedules = forms.TypedMultipleChoiceField(
        coerce=int, required=False, widget=forms.CheckboxSelectMultiple, label="Whoever is on call in"
    )

    def __init__(self, *args: Any, choices: dict[str, list[tuple[int, str]]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for name in ("channels", "users", "schedules"):
            self.fields[name].choices = choices[name]  # type: ignore[attr-defined]

    def spec(self) -> StepSpec:
        data = self.cleaned_data
        return StepSpec(data["delay_minutes"], list(data["channels"]), list(data["users"]), list(data["schedules"]))


StepFormSet = formset_factory(
    StepForm, formset=_StepFormSet, extra=1, can_delete=True, can_order=True, max_num=20, validate_max=True
)


class RuleForm(forms.Form):
    order = forms.IntegerField(initial=0, help_text="Rules are tried from the lowest order; the first match wins.")
    name = forms.CharField(max_length=100, required=False)
    severities = forms.CharField(
        max_length=200, required=False, help_text="Comma-separated, e.g. critical, warning. Empty: any severity."
    )
    project = forms.TypedChoiceField(coerce=int, required=False, empty_value=None, help_text="Empty: any project.")
    service = forms.CharField(max_length=200, required=False, help_text="Empty: any service.")
    labels = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="One key=value per line; all must match. Empty: any labels.",
    )
    policy = forms.TypedChoiceField(coerce=int, required=False, empty_value=None, label="Escalation policy")

    def __init__(self, *args: Any, projects: list[Any], policies: list[Any], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["project"].choices = [("", "Any project"), *((p.pk, p.name) for p in projects)]  # type: ignore[attr-defined]
        self.fields["policy"].choices = [("", "None: do not escalate"), *((p.pk, p.name) for p in policies)]  # type: ignore[attr-defined]

    def clean_labels(self) -> dict[str, str]:
        labels = {}
        for line in (self.cleaned_data.get("labels") or "").splitlines():
            if not line.strip():
                continue
            key, sep, value = line.partition("=")
            if not sep or not key.strip():
                raise forms.ValidationError(f"“{line.strip()}” is not key=value.")
            labels[key.strip()] = value.strip()
        return labels

    def spec(self) -> RuleSpec:
        data = self.cleaned_data
        return RuleSpec(
            data["order"],
            data["name"],
            _split(data["severities"] or ""),
            data.get("project"),
            data["service"],
            data["labels"],
            data.get("policy"),
        )


def rule_initial(spec: RuleSpec) -> dict[str, Any]:
    return {
        "order": spec.order,
        "name": spec.name,
        "severities": ", ".join(spec.severities),
        "project": spec.project_id,
        "service": spec.service,
        "labels": "\n".join(f"{k}={v}" for k, v in spec.labels.items()),
        "policy": spec.policy_id,
    }


def put_errors(errors: dict[str, list[str]], form: forms.Form, nested: list[forms.Form]) -> None:
    """Put a service's errors by field path (``name``, ``layers[1].members``) on the form or the nested forms
    they name (in the order the specs were made); anything else goes to the form's non-field errors."""
    for path, messages in errors.items():
        match = _PATH.match(path)
        for message in messages:
            if match and int(match["index"]) < len(nested) and match["field"] in nested[int(match["index"])].fields:
                nested[int(match["index"])].add_error(match["field"], message)
            elif path in form.fields:
                form.add_error(path, message)
            else:
                form.add_error(None, message)
