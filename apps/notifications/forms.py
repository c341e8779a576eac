"""The channel form of the pages, built from the transport's ``config_fields``.

It only collects text; ``services`` (through ``configs.clean``) validates, and ``add_errors`` puts each
``ChannelInvalid`` message on the field it names. Secret fields are plain text inputs when creating (the
value is pasted in, or for a webhook generated here and copied to the receiver) and empty password inputs
when editing: left empty, the stored value is kept.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from typing import Any

from django import forms

from apps.notifications.configs import ChannelInvalid, fields_of

PREFIX = "config_"


def _shown(value: Any) -> str:
    if isinstance(value, list | tuple):
        return ", ".join(str(item) for item in value)
    return "" if value is None else str(value)


class ChannelForm(forms.Form):
    name = forms.CharField(max_length=100, help_text="How people and escalation steps refer to it.")

    def __init__(
        self, kind: str, data: Mapping[str, Any] | None = None, *, channel: Any = None, personal: bool = False
    ) -> None:
        self.kind = kind
        self.editing = channel is not None
        initial: dict[str, Any] = {}
        if channel is not None:
            initial = {"name": channel.name, "enabled": channel.enabled}
        super().__init__(data, initial=initial)
        if personal:
            self.fields["name"].help_text = "For example “Work email” or “Mobile”."
        for config_field in fields_of(kind):
            secret_kept = config_field.secret and self.editing
            help_text = config_field.help
            if secret_kept:
                help_text = (help_text + " " if help_text else "") + "Saved; leave empty to keep it."
            widget: forms.Widget = forms.PasswordInput(render_value=False) if secret_kept else forms.TextInput()
            self.fields[PREFIX + config_field.name] = forms.CharField(
                label=config_field.label,
                required=config_field.required and not secret_kept,
                help_text=help_text,
                widget=widget,
                max_length=4000,
            )
            if channel is not None and not config_field.secret:
                self.initial[PREFIX + config_field.name] = _shown(channel.config.get(config_field.name))
            elif channel is None and kind == "webhook" and config_field.name == "secret":
                self.initial[PREFIX + config_field.name] = "whsec_" + secrets.token_urlsafe(30)
        if self.editing:
            self.fields["enabled"] = forms.BooleanField(
                required=False, label="Enabled", help_text="A disabled channel is skipped when notifying."
            )

    def config(self) -> dict[str, Any]:
        """The config fields that were filled in (empty ones are left to their default, or kept if secret)."""
        return {
            name[len(PREFIX) :]: value
            for name, value in self.cleaned_data.items()
            if name.startswith(PREFIX) and value not in ("", None)
        }

    def config_fields(self) -> list[forms.BoundField]:
        return [self[name] for name in self.fields if name.startswith(PREFIX)]

    def add_errors(self, exc: ChannelInvalid) -> None:
        for where, messages in exc.errors.items():
            name = PREFIX + where.removeprefix("config.") if where.startswith("config.") else where
            for message in messages:
                self.add_error(name if name in self.fields else None, message)
