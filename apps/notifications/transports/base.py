"""What every transport is: a kind, the fields a channel stores, and ``send``.

A transport sends one notification once. It returns a ``Delivery`` when the service accepted it
and raises ``DeliveryError`` otherwise, saying whether trying again can help (``permanent``).
Retries, backoff and logging are ``apps.notifications.delivery``'s job, not the transport's.

HTTP transports go through ``apps.notifications.outbound`` (never ``requests``/``urllib``
directly): channel URLs are typed in by tenants, so every request must pass the SSRF policy.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from django.core.exceptions import ValidationError

from apps.notifications import outbound
from apps.notifications.message import Notification

EXCERPT_CHARS = 500
# A Retry-After longer than this is not waited for inside one delivery: the attempt fails transiently.
MAX_RETRY_AFTER_SECONDS = 60.0


@dataclass(frozen=True)
class Delivery:
    """The service accepted the notification."""

    response_status: int | None  # HTTP status; None for SMTP (Django's mail API does not expose the code)
    response_excerpt: str  # the start of the answer, for the delivery log
    latency_ms: float
    remote_id: str = ""  # the service's id for what was created (PagerDuty dedup_key, Twilio SID, Message-ID)


class DeliveryError(Exception):
    """The service did not accept the notification. ``permanent``: sending it again cannot succeed."""

    def __init__(
        self,
        permanent: bool,
        message: str,
        *,
        response_status: int | None = None,
        response_excerpt: str = "",
        latency_ms: float | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.permanent = permanent
        self.message = message
        self.response_status = response_status
        self.response_excerpt = response_excerpt
        self.latency_ms = latency_ms
        self.retry_after = retry_after  # seconds the service asked us to wait (429/503 Retry-After)


# --- Channel configuration -------------------------------------------------------------------


@dataclass(frozen=True)
class ConfigField:
    """One value a channel stores. ``clean`` returns the normalised value or raises ``ValidationError``."""

    name: str
    label: str
    clean: Callable[[Any], Any]
    required: bool = True
    secret: bool = False  # write-only in the UI and API, never shown back nor logged
    default: Any = None
    help: str = ""


class Transport(Protocol):
    kind: str  # the registry key and what a channel row stores
    label: str
    config_fields: tuple[ConfigField, ...]

    def validate_config(self, raw: Mapping[str, Any]) -> dict[str, Any]:
        """The cleaned config to store, or ``ValidationError`` with a message per field."""
        ...

    def send(self, config: Mapping[str, Any], notification: Notification) -> Delivery: ...


def clean_config(fields: Sequence[ConfigField], raw: Mapping[str, Any]) -> dict[str, Any]:
    """Clean each field, collecting every error, so a form or API can show them all at once."""
    errors: dict[str, list[str]] = {}
    cleaned: dict[str, Any] = {}
    known = {config_field.name for config_field in fields}
    for name in sorted(set(raw) - known):
        errors[name] = ["unknown field"]
    for config_field in fields:
        value = raw.get(config_field.name)
        if value is None or value in ("", []):
            if config_field.required:
                errors[config_field.name] = ["this field is required"]
            elif config_field.default is not None:
                cleaned[config_field.name] = config_field.default
            continue
        try:
            cleaned[config_field.name] = config_field.clean(value)
        except ValidationError as exc:
            errors[config_field.name] = list(exc.messages)
    if errors:
        raise ValidationError(errors)
    return cleaned


class FieldsConfigured:
    """Base of the transports whose channel config is exactly their ``config_fields``: validating it is
    validating each field (a transport with rules across fields extends ``validate_config``)."""

    config_fields: tuple[ConfigField, ...]

    def validate_config(self, raw: Mapping[str, Any]) -> dict[str, Any]:
        return clean_config(self.config_fields, raw)


def url_value(value: Any) -> str:
    """A URL the outbound client will agree to call (scheme, host, SSRF policy)."""
    if not isinstance(value, str) or len(value) > 2000:
        raise ValidationError("enter a URL of at most 2000 characters")
    url = value.strip()
    try:
        outbound.check_url(url)
    except outbound.OutboundError as exc:
        raise ValidationError(str(exc)) from exc
    return url


def string_value(*, pattern: str | None = None, max_length: int = 200, what: str = "value") -> Callable[[Any], str]:
    compiled = re.compile(pattern) if pattern else None

    def clean(value: Any) -> str:
        if not isinstance(value, str) or not value.strip() or len(value.strip()) > max_length:
            raise ValidationError(f"enter a {what} of at most {max_length} characters")
        text = value.strip()
        if compiled is not None and not compiled.fullmatch(text):
            raise ValidationError(f"this is not a valid {what}")
        return text

    return clean


# --- HTTP ---------------------------------------------------------------------------------------


def excerpt(body: bytes) -> str:
    return " ".join(body[: EXCERPT_CHARS * 4].decode("utf-8", "replace").split())[:EXCERPT_CHARS]


def redact(text: str, secrets: Collection[str]) -> str:
    """Remove secrets (webhook URLs carry their token in the path) from what goes to the delivery log."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "[redacted]")
    return text


def permanent_status(status: int) -> bool:
    """4xx means the request itself is wrong (redirects are not followed either), except timeout and rate limit."""
    return status < 500 and status not in (408, 429)


def _retry_after(headers: Mapping[str, str]) -> float | None:
    for name, value in headers.items():
        if name.lower() == "retry-after":
            try:
                return min(max(float(value), 0.0), MAX_RETRY_AFTER_SECONDS)
            except ValueError:
                return None  # an HTTP date: rare for these services, use our own backoff
    return None


def status_error(
    service: str,
    response: outbound.Response,
    *,
    describe: Callable[[outbound.Response], str] | None = None,
    secrets: Collection[str] = (),
) -> DeliveryError:
    """The ``DeliveryError`` for a response that is not a success of this service."""
    detail = ""
    if describe is not None:
        try:
            detail = describe(response)
        except (ValueError, KeyError, TypeError, AttributeError):
            detail = ""  # an answer not in the documented shape: the excerpt still shows it
    detail = detail or excerpt(response.body) or "no body"
    return DeliveryError(
        permanent_status(response.status),
        redact(f"{service} answered HTTP {response.status}: {detail}", secrets),
        response_status=response.status,
        response_excerpt=redact(excerpt(response.body), secrets),
        latency_ms=response.latency_ms,
        retry_after=_retry_after(response.headers),
    )


def post(
    service: str,
    url: str,
    *,
    body: bytes,
    headers: Mapping[str, str],
    ok_statuses: Collection[int],
    describe: Callable[[outbound.Response], str] | None = None,
    secrets: Collection[str] = (),
    timeout: float = 10.0,
) -> outbound.Response:
    """POST through the SSRF-safe client; any answer but ``ok_statuses`` becomes a ``DeliveryError``.

    Redirects are not followed: these APIs never redirect, and following one would turn the POST into
    a GET (or send the payload and signature to wherever the redirect points).
    """
    secrets = (url, *secrets)
    try:
        response = outbound.request("POST", url, body=body, headers=headers, timeout=timeout, max_redirects=0)
    except outbound.OutboundError as exc:
        # The outbound client may raise for an HTTP error status and carry the response with it.
        carried = getattr(exc, "response", None)
        if isinstance(carried, outbound.Response):
            raise status_error(service, carried, describe=describe, secrets=secrets) from exc
        raise DeliveryError(exc.permanent, redact(f"{service}: {exc}", secrets)) from exc
    if response.status not in ok_statuses:
        raise status_error(service, response, describe=describe, secrets=secrets)
    return response


def delivered(response: outbound.Response, *, remote_id: str = "", secrets: Collection[str] = ()) -> Delivery:
    return Delivery(
        response_status=response.status,
        response_excerpt=redact(excerpt(response.body), secrets),
        latency_ms=response.latency_ms,
        remote_id=remote_id,
    )


LINK_LABELS = {
    "incident": "View incident",
    "chart": "Chart",
    "traces": "Traces",
    "runbook": "Runbook",
    "acknowledge": "Acknowledge",
}


def links_of(notification: Notification) -> list[tuple[str, str, str]]:
    """(name, label, url) of the notification's links in display order; "acknowledge" only while it helps."""
    return [
        (name, label, notification.links[name])
        for name, label in LINK_LABELS.items()
        if notification.links.get(name) and (name != "acknowledge" or acknowledgeable(notification))
    ]


def acknowledgeable(notification: Notification) -> bool:
    """An acknowledge link only makes sense while the incident is open and not yet acknowledged."""
    return notification.event == "trigger"


def event_prefix(notification: Notification) -> str:
    """A word that tells the event apart in subjects and titles ("" for a new trigger)."""
    return {"trigger": "", "acknowledge": "Acknowledged: ", "resolve": "Resolved: ", "test": "Test: "}[
        notification.event
    ]


def truncate(text: str, limit: int, ellipsis: str = "…") -> str:
    """At most ``limit`` characters, cut at a word boundary when one is near, marked with ``ellipsis``."""
    if len(text) <= limit:
        return text
    cut = text[: max(limit - len(ellipsis), 0)]
    space = cut.rfind(" ")
    if space >= len(cut) * 2 // 3:  # do not throw away a third of the room for a word boundary
        cut = cut[:space]
    return cut.rstrip() + ellipsis
