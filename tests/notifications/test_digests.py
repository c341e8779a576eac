"""Email digests: warnings and infos to a digest channel wait, then go out as one email per channel and period.

Against the in-process SMTP server of test_transports.py (aiosmtpd), which records every message.
"""

from __future__ import annotations

import threading
from datetime import timedelta
from typing import Any

import pytest
from django.db import connection
from django.utils import timezone

from apps.core.scoping import tenant_scope
from apps.notifications import services, tasks
from apps.notifications.models import Channel, Delivery
from tests.conftest import Tenant, make_tenant
from tests.notifications.receivers import SmtpReceiver
from tests.notifications.test_transports import notification
from tests.support import fast_passwords  # noqa: F401 (fixture)

pytestmark = pytest.mark.usefixtures("fast_passwords")


def email_channel(tenant: Tenant, minutes: int = 10, name: str = "sre mail") -> Channel:
    config = {"recipients": ["oncall@example.com", "sre@example.com"], "digest_minutes": minutes}
    return services.create_channel(tenant.organization.pk, tenant.owner, name=name, kind="email", config=config)


def age(tenant: Tenant, minutes: float) -> None:
    """Make every waiting row of the tenant ``minutes`` old."""
    Delivery.objects.for_organization(tenant.organization.pk).filter(digest=True, status="pending").update(
        created_at=timezone.now() - timedelta(minutes=minutes)
    )


def rows(tenant: Tenant, **filters: Any) -> list[Delivery]:
    return list(Delivery.objects.for_organization(tenant.organization.pk).filter(**filters).order_by("id"))


@pytest.mark.django_db
def test_three_low_severity_notifications_make_one_digest_and_a_critical_one_goes_at_once(
    bob: Tenant, smtp: SmtpReceiver, django_capture_on_commit_callbacks: Any
) -> None:
    channel = email_channel(bob, minutes=10)
    items = [
        notification(severity="warning", title="queue depth above 1000", dedup_key="k1"),
        notification(severity="info", title="disk 80% full on db-2", dedup_key="k2"),
        notification(severity="warning", title="p95 of search above 300 ms", dedup_key="k3", event="resolve"),
    ]
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        for item in items:
            waiting = services.enqueue(channel, item, subject="incident:1")
            assert waiting is not None
            assert waiting.digest is True
    assert callbacks == []  # digest rows queue no sending task
    assert smtp.messages == []

    with django_capture_on_commit_callbacks(execute=True):
        services.enqueue(channel, notification(severity="critical", title="checkout down", dedup_key="k4"),
                         subject="incident:2")  # fmt: skip
    assert [message["Subject"] for message in smtp.messages] == ["[critical] checkout down"]

    assert tasks.send_digests_task() == 0  # the oldest has not waited 10 minutes yet
    age(bob, 9)
    assert tasks.send_digests_task() == 0
    age(bob, 10)
    assert tasks.send_digests_task() == 1

    assert len(smtp.messages) == 2
    digest = smtp.messages[1]
    assert digest["Subject"] == "[digest] 3 notifications from Vigil (acme)"
    assert smtp.envelopes[1][1] == ["oncall@example.com", "sre@example.com"]
    text = digest.get_body(("plain",)).get_content()
    for title in ("queue depth above 1000", "disk 80% full on db-2", "Resolved: p95 of search above 300 ms"):
        assert text.count(title) == 1, title
    assert "checkout down" not in text
    included = rows(bob, digest=True)
    assert [row.status for row in included] == ["sent"] * 3
    assert {row.remote_id for row in included} == {digest["Message-ID"].strip()}  # one email, the same result on each
    assert all(row.finished_at is not None and row.attempts == 1 for row in included)

    assert tasks.send_digests_task() == 0  # nothing waits any more
    assert len(smtp.messages) == 2


@pytest.mark.django_db
def test_digests_are_per_channel_with_each_channels_period(bob: Tenant, smtp: SmtpReceiver) -> None:
    quick = email_channel(bob, minutes=5, name="quick")
    slow = email_channel(bob, minutes=30, name="slow")
    for channel in (quick, slow):
        for n in range(2):
            services.enqueue(channel, notification(severity="info", dedup_key=f"{channel.name}-{n}"), subject="s")
    age(bob, 6)
    assert services.due_digests() == [(bob.organization.pk, quick.pk)]
    tasks.send_digests_task()
    assert [message["Subject"] for message in smtp.messages] == ["[digest] 2 notifications from Vigil (acme)"]
    assert [row.status for row in rows(bob, channel_id=slow.pk)] == ["pending", "pending"]
    age(bob, 31)
    tasks.send_digests_task()
    assert len(smtp.messages) == 2


@pytest.mark.django_db
def test_without_a_period_or_for_tests_nothing_waits(bob: Tenant, smtp: SmtpReceiver,
                                                     django_capture_on_commit_callbacks: Any) -> None:  # fmt: skip
    plain = email_channel(bob, minutes=0, name="plain")
    digesting = email_channel(bob, minutes=10, name="digesting")
    with django_capture_on_commit_callbacks(execute=True):
        assert services.enqueue(plain, notification(severity="info"), subject="s").digest is False  # type: ignore[union-attr]
    assert len(smtp.messages) == 1
    test = services.send_test(digesting, bob.owner)
    assert (test.status, test.digest, test.subject) == ("sent", False, "test")
    assert len(smtp.messages) == 2


@pytest.mark.django_db
def test_disabling_a_digest_channel_skips_what_waits(bob: Tenant, smtp: SmtpReceiver) -> None:
    channel = email_channel(bob)
    services.enqueue(channel, notification(severity="info"), subject="s")
    services.update_channel(channel, bob.owner, enabled=False)
    age(bob, 60)
    assert services.due_digests() == []
    assert [row.status for row in rows(bob)] == ["skipped"]
    assert smtp.messages == []


@pytest.mark.django_db
def test_a_refused_digest_fails_every_row_and_disables_the_channel(bob: Tenant, smtp: SmtpReceiver) -> None:
    channel = email_channel(bob)
    for n in range(2):
        services.enqueue(channel, notification(severity="info", dedup_key=f"k{n}"), subject="s")
    age(bob, 11)
    smtp.refuse_rcpt = "550 5.1.1 no such user"
    tasks.send_digests_task()
    assert [(row.status, row.permanent) for row in rows(bob)] == [("failed", True)] * 2
    assert Channel.objects.for_organization(bob.organization.pk).get(pk=channel.pk).enabled is False


@pytest.mark.django_db(transaction=True)
def test_a_row_is_never_in_two_digests(smtp: SmtpReceiver) -> None:
    """Two workers sending the same channel's digest at once (each with its own connection): one email."""
    tenant = make_tenant("digests")
    channel = email_channel(tenant)
    for n in range(4):
        services.enqueue(channel, notification(severity="warning", dedup_key=f"k{n}"), subject="s")
    age(tenant, 11)
    barrier = threading.Barrier(2)
    claimed: list[int] = []
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            with tenant_scope(tenant.organization.pk):
                barrier.wait(timeout=10)
                claimed.append(services.send_digest(channel.pk))
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert errors == []
    assert sorted(claimed) == [0, 4]
    assert len(smtp.messages) == 1
    assert smtp.messages[0]["Subject"] == "[digest] 4 notifications from Vigil (acme)"
    assert [(row.status, row.claims) for row in rows(tenant)] == [("sent", 1)] * 4
