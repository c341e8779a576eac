"""Every transport by kind. Adding one is one module exposing ``TRANSPORT`` plus one line in ``MODULES``."""

from __future__ import annotations

from importlib import import_module

from apps.notifications.transports.base import Transport

MODULES = (
    "apps.notifications.transports.slack",
    "apps.notifications.transports.pagerduty",
    "apps.notifications.transports.email",
    "apps.notifications.transports.sms",
    "apps.notifications.transports.webhook",
    "apps.notifications.transports.teams",
)


def _load() -> dict[str, Transport]:
    transports: dict[str, Transport] = {}
    for name in MODULES:
        transport: Transport = import_module(name).TRANSPORT
        if transport.kind in transports:
            raise ImportError(f"two transports of kind {transport.kind!r}")
        transports[transport.kind] = transport
    return transports


TRANSPORTS: dict[str, Transport] = _load()


def get(kind: str) -> Transport:
    """The transport of ``kind``; ``KeyError`` for an unknown kind."""
    try:
        return TRANSPORTS[kind]
    except KeyError:
        raise KeyError(f"no transport of kind {kind!r}") from None
