"""The local receivers as fixtures, each validating what the real service expects, and the channel configs that
point at them: one place for the notification tests and the alerting tests that notify through real channels.
Registered for every test by tests/conftest.py (``pytest_plugins``)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.notifications.receivers import (
    HttpReceiver,
    SmtpReceiver,
    twilio_validator,
    validate_pagerduty,
    validate_slack,
    validate_teams,
    webhook_validator,
)


@pytest.fixture
def allow_loopback(settings: Any) -> None:
    settings.VIGIL_OUTBOUND_ALLOWLIST = ["127.0.0.1/32"]


ROUTING_KEY = "R0123456789ABCDEF0123456789ABCDE"
ACCOUNT_SID = "AC" + "0123456789abcdef" * 2
AUTH_TOKEN = "f" * 32
WEBHOOK_SECRET = "whsec-0123456789abcdefghijklmnopqrstuv"
SLACK_PATH = "/services/T0000/B0000/XXXXXXXXXXXXXXXXXXXXXXXX"


@pytest.fixture
def slack(allow_loopback: None) -> Iterator[HttpReceiver]:
    with HttpReceiver(validate_slack).running() as receiver:
        yield receiver


@pytest.fixture
def pagerduty(allow_loopback: None) -> Iterator[HttpReceiver]:
    with HttpReceiver(validate_pagerduty).running() as receiver:
        yield receiver


@pytest.fixture
def twilio(allow_loopback: None) -> Iterator[HttpReceiver]:
    with HttpReceiver(twilio_validator(ACCOUNT_SID, AUTH_TOKEN)).running() as receiver:
        yield receiver


@pytest.fixture
def webhook(allow_loopback: None) -> Iterator[HttpReceiver]:
    with HttpReceiver(webhook_validator(WEBHOOK_SECRET)).running() as receiver:
        yield receiver


@pytest.fixture
def teams(allow_loopback: None) -> Iterator[HttpReceiver]:
    with HttpReceiver(validate_teams).running() as receiver:
        yield receiver


@pytest.fixture
def smtp(settings: Any) -> Iterator[SmtpReceiver]:
    with SmtpReceiver().running() as receiver:
        settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
        settings.EMAIL_HOST, settings.EMAIL_PORT = receiver.host, receiver.port
        settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
        settings.EMAIL_HOST_USER = settings.EMAIL_HOST_PASSWORD = ""
        settings.DEFAULT_FROM_EMAIL = "Vigil <alerts@vigil.example.com>"
        yield receiver


def slack_config(receiver: HttpReceiver) -> dict[str, Any]:
    return {"webhook_url": receiver.url + SLACK_PATH}


def pagerduty_config(receiver: HttpReceiver) -> dict[str, Any]:
    return {"routing_key": ROUTING_KEY, "events_url": receiver.url + "/v2/enqueue"}


def sms_config(receiver: HttpReceiver) -> dict[str, Any]:
    return {
        "account_sid": ACCOUNT_SID,
        "auth_token": AUTH_TOKEN,
        "to": "+15005550006",
        "from_number": "+15005550001",
        "api_url": receiver.url,
    }
