"""A channel's config as people and the API handle it: validated by its transport, secrets never shown back.

Secret fields (``ConfigField.secret``: webhook URLs that carry their token, integration keys, auth
tokens) are write-only: ``public`` replaces them with ``MASK``, and ``clean`` keeps the stored value of
a secret field that an update leaves out, sends empty or sends back as ``MASK``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.core.exceptions import ValidationError

from apps.notifications.transports import registry
from apps.notifications.transports.base import ConfigField

MASK = "********"
# What a person's own contact method may be: their email address or their phone (SMS).
PERSONAL_KINDS = ("email", "sms")


class ChannelInvalid(ValueError):
    """Input that cannot make a channel; ``errors`` maps each field (``config.<name>`` for config fields)
    to its messages, so a form or the API names the field."""

    def __init__(self, errors: Mapping[str, list[str]]) -> None:
        super().__init__("; ".join(f"{field}: {' '.join(messages)}" for field, messages in errors.items()))
        self.errors = dict(errors)


def kind_choices(personal: bool = False) -> list[tuple[str, str]]:
    """(kind, label) of the transports a channel (or a contact method) may use."""
    return [
        (kind, transport.label)
        for kind, transport in registry.TRANSPORTS.items()
        if not personal or kind in PERSONAL_KINDS
    ]


def fields_of(kind: str) -> tuple[ConfigField, ...]:
    """The config fields of ``kind``; none for an unknown kind (a transport removed since)."""
    transport = registry.TRANSPORTS.get(kind)
    return transport.config_fields if transport is not None else ()


def check_kind(kind: Any, *, personal: bool = False) -> str:
    known = [k for k, _ in kind_choices(personal)]
    if not isinstance(kind, str) or kind not in known:
        what = "a contact method" if personal else "a channel"
        raise ChannelInvalid({"kind": [f"{kind!r} is not a kind of {what}; use one of: {', '.join(known)}"]})
    return kind


def clean(kind: str, raw: Any, previous: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The config to store for ``kind``, or ``ChannelInvalid`` naming each bad field.

    ``previous`` (the stored config, on an update) supplies the secret fields the input leaves out.
    """
    if not isinstance(raw, Mapping):
        raise ChannelInvalid({"config": ["enter an object with the channel's settings"]})
    transport = registry.get(kind)
    merged = dict(raw)
    for config_field in transport.config_fields:
        kept = previous is not None and config_field.name in previous
        if config_field.secret and kept and merged.get(config_field.name) in (None, "", MASK):
            merged[config_field.name] = previous[config_field.name]  # type: ignore[index]
    try:
        return transport.validate_config(merged)
    except ValidationError as exc:
        if hasattr(exc, "error_dict"):
            errors = {f"config.{name}": list(messages) for name, messages in exc.message_dict.items()}
            raise ChannelInvalid(errors) from exc
        raise ChannelInvalid({"config": list(exc.messages)}) from exc


def public(kind: str, config: Mapping[str, Any]) -> dict[str, Any]:
    """``config`` as it may be shown: secret values replaced by ``MASK``."""
    secret = {config_field.name for config_field in fields_of(kind) if config_field.secret}
    if kind not in registry.TRANSPORTS:
        return {}  # nothing known about its fields: show none rather than a secret
    return {name: MASK if name in secret else value for name, value in config.items()}


def changed_secrets(kind: str, before: Mapping[str, Any], after: Mapping[str, Any]) -> list[str]:
    """The secret fields whose value differs (``public`` shows both sides as ``MASK``)."""
    return [f.name for f in fields_of(kind) if f.secret and before.get(f.name) != after.get(f.name)]


def digest_minutes(config: Mapping[str, Any]) -> int:
    """The digest period of an email channel's config; 0 when it sends every notification at once."""
    value = config.get("digest_minutes") or 0
    return value if isinstance(value, int) and value > 0 else 0
