"""The outbox: enqueue in the caller's transaction, claim by conditional UPDATE, record the result, recover lost
work, disable a channel after a permanent failure. Real PostgreSQL, real local receivers."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import timedelta
from functools import partial
from typing import Any

import pytest
from django.db import connection, transaction
from django.utils import timezone

from apps.audit.actions import Action
from apps.audit.models import AuditEntry
from apps.core.scoping import tenant_scope
from apps.notifications import delivery as delivery_module
from apps.notifications import services, tasks
from apps.notifications.models import Channel, Delivery
from tests.conftest import Tenant, make_tenant
from tests.notifications.receivers import HttpReceiver, text_answer, webhook_validator
from tests.notifications.test_transports import WEBHOOK_SECRET, notification
from tests.support import fast_passwords  # noqa: F401 (fixture)

pytestmark = pytest.mark.usefixtures("fast_passwords", "allow_loopback")


@pytest.fixture
def webhook() -> Iterator[HttpReceiver]:
    with HttpReceiver(webhook_validator(WEBHOOK_SECRET)).running() as receiver:
        yield receiver


@pytest.fixture
def other_webhook() -> Iterator[HttpReceiver]:
    with HttpReceiver(webhook_validator(WEBHOOK_SECRET)).running() as receiver:
        yield receiver


@pytest.fixture
def no_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    """Retries without the real waits (1 + 4 + 16 s); the number of attempts stays the production one."""
    monkeypatch.setattr(services, "deliver", partial(delivery_module.deliver, sleep=lambda seconds: None))


def webhook_channel(tenant: Tenant, receiver: HttpReceiver, name: str = "hook") -> Channel:
    config = {"url": receiver.url + "/hooks/vigil", "secret": WEBHOOK_SECRET}
    return services.create_channel(tenant.organization.pk, tenant.owner, name=name, kind="webhook", config=config)


def reloaded(delivery: Delivery) -> Delivery:
    return Delivery.objects.for_organization(delivery.organization_id).get(pk=delivery.pk)


@pytest.mark.django_db
def test_enqueue_sends_after_commit_and_records_the_result(
    bob: Tenant, webhook: HttpReceiver, django_capture_on_commit_callbacks: Any
) -> None:
    channel = webhook_channel(bob, webhook)
    note = notification(details={"p95_ms": 1240.5, "ratio": float("nan"), "hosts": ["a", "b"]})
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        delivery = services.enqueue(channel, note, subject="incident:42")
    assert delivery is not None
    assert (delivery.status, delivery.subject, delivery.event, delivery.kind) == ("pending", "incident:42", "trigger",
                                                                                "webhook")  # fmt: skip
    assert webhook.received == []  # nothing leaves before the commit
    assert len(callbacks) == 1
    callbacks[0]()

    row = reloaded(delivery)
    assert webhook.problems == []
    assert len(webhook.received) == 1
    assert (row.status, row.attempts, row.permanent, row.response_status, row.error) == ("sent", 1, False, 200, "")
    assert row.response_excerpt == "ok"
    assert row.latency_ms is not None
    assert row.latency_ms > 0
    assert row.claims == 1
    assert row.claimed_at is not None
    assert row.finished_at is not None
    assert webhook.received[0].json()["dedup_key"] == note.dedup_key
    # The JSON round trip gives the notification back (a NaN detail comes back as JSON carries it: a string).
    again = services.notification_of(row)
    assert again == notification(details={"p95_ms": 1240.5, "ratio": "nan", "hosts": ["a", "b"]})


@pytest.mark.django_db
def test_a_rolled_back_change_notifies_nobody(bob: Tenant, webhook: HttpReceiver,
                                              django_capture_on_commit_callbacks: Any) -> None:  # fmt: skip
    channel = webhook_channel(bob, webhook)
    with django_capture_on_commit_callbacks(execute=True) as callbacks, transaction.atomic():
        services.enqueue(channel, notification(), subject="incident:1")
        transaction.set_rollback(True)
    assert callbacks == []
    assert not Delivery.objects.for_organization(bob.organization.pk).exists()
    assert webhook.received == []


@pytest.mark.django_db
def test_sending_one_row_twice_sends_it_once(bob: Tenant, webhook: HttpReceiver) -> None:
    channel = webhook_channel(bob, webhook)
    delivery = services.enqueue(channel, notification(), subject="incident:1")
    assert delivery is not None
    with tenant_scope(bob.organization.pk):
        services.send_delivery(delivery.pk)
        services.send_delivery(delivery.pk)
    assert len(webhook.received) == 1
    assert reloaded(delivery).claims == 1


@pytest.mark.django_db(transaction=True)
def test_two_workers_racing_for_one_row_send_it_once(webhook: HttpReceiver, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each thread has its own database connection, like two Celery workers; the receiver counts the sends."""
    tenant = make_tenant("race")
    channel = webhook_channel(tenant, webhook)
    monkeypatch.setattr(services, "queue_sending", lambda organization_id, delivery_id: None)  # no task: we race
    rows = [services.enqueue(channel, notification(dedup_key=f"race-{n}"), subject=f"incident:{n}") for n in range(5)]
    errors: list[BaseException] = []

    def worker(barrier: threading.Barrier, delivery_id: int) -> None:
        try:
            with tenant_scope(tenant.organization.pk):
                barrier.wait(timeout=10)
                services.send_delivery(delivery_id)
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)
        finally:
            connection.close()

    for row in rows:
        assert row is not None
        barrier = threading.Barrier(2)
        threads = [threading.Thread(target=worker, args=(barrier, row.pk)) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)
    assert errors == []
    assert sorted(r.json()["dedup_key"] for r in webhook.received) == [f"race-{n}" for n in range(5)]
    for row in rows:
        assert row is not None
        stored = reloaded(row)
        assert (stored.status, stored.claims) == ("sent", 1)


@pytest.mark.django_db
def test_a_permanent_failure_disables_the_channel_and_never_blocks_another(
    bob: Tenant, webhook: HttpReceiver, other_webhook: HttpReceiver, django_capture_on_commit_callbacks: Any
) -> None:
    broken = webhook_channel(bob, webhook, name="broken")
    working = webhook_channel(bob, other_webhook, name="working")
    webhook.script(text_answer(410, "this hook was deleted"))
    with django_capture_on_commit_callbacks(execute=True):
        first = services.enqueue(broken, notification(dedup_key="one"), subject="incident:1")
        sent = services.enqueue(working, notification(dedup_key="one"), subject="incident:1")
        waiting = services.enqueue(broken, notification(dedup_key="two"), subject="incident:2")
    assert first is not None
    assert sent is not None
    assert waiting is not None

    failed = reloaded(first)
    assert (failed.status, failed.permanent, failed.response_status) == ("failed", True, 410)
    assert "410" in failed.error
    assert len(webhook.received) == 1  # the second one was skipped, not sent to the broken hook
    skipped = reloaded(waiting)
    assert skipped.status == "skipped"
    assert "disabled" in skipped.error
    assert reloaded(sent).status == "sent"
    assert [r.json()["dedup_key"] for r in other_webhook.received] == ["one"]

    channel = Channel.objects.for_organization(bob.organization.pk).get(pk=broken.pk)
    assert channel.enabled is False
    assert channel.disabled_at is not None
    assert "410" in channel.disabled_reason
    assert Channel.objects.for_organization(bob.organization.pk).get(pk=working.pk).enabled
    entry = AuditEntry.objects.for_organization(bob.organization.pk).get(action=str(Action.CHANNEL_DISABLED))
    assert (entry.actor_id, entry.actor_label, entry.target_id) == (None, "system", str(broken.pk))

    # Once disabled, the channel gets skipped rows (with the reason) and nothing is queued.
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        assert services.enqueue(channel, notification(dedup_key="three"), subject="incident:3") is None
    assert callbacks == []
    later = Delivery.objects.for_organization(bob.organization.pk).filter(dedup_key="three").get()
    assert later.status == "skipped"
    assert "410" in later.error
    assert len(webhook.received) == 1


@pytest.mark.django_db
@pytest.mark.usefixtures("no_backoff")
def test_transient_failures_are_retried_and_never_disable(
    bob: Tenant, webhook: HttpReceiver, django_capture_on_commit_callbacks: Any
) -> None:
    channel = webhook_channel(bob, webhook)
    webhook.script(*[text_answer(503, "busy")] * 4)
    with django_capture_on_commit_callbacks(execute=True):
        delivery = services.enqueue(channel, notification(), subject="incident:1")
    assert delivery is not None
    row = reloaded(delivery)
    assert (row.status, row.permanent, row.attempts, row.response_status) == ("failed", False, 4, 503)
    assert len(webhook.received) == 4
    assert Channel.objects.for_organization(bob.organization.pk).get(pk=channel.pk).enabled
    assert not AuditEntry.objects.for_organization(bob.organization.pk).filter(action=str(Action.CHANNEL_DISABLED))


@pytest.mark.django_db
def test_recovery_requeues_lost_rows_and_releases_stale_claims(bob: Tenant, webhook: HttpReceiver,
                                                               settings: Any) -> None:  # fmt: skip
    """The beat task, as a killed worker leaves things: a row whose task never ran, a row claimed by a worker that
    died, a row that lost its worker too often. A fresh row and a row waiting for a digest are left alone."""
    settings.VIGIL_NOTIFICATION_CLAIM_TIMEOUT_SECONDS = 600
    settings.VIGIL_NOTIFICATION_REQUEUE_SECONDS = 60
    channel = webhook_channel(bob, webhook)
    now = timezone.now()

    def row(key: str, age: timedelta, **values: Any) -> Delivery:
        delivery = services.enqueue(channel, notification(dedup_key=key), subject=key)  # no commit: no task ran
        assert delivery is not None
        Delivery.objects.for_organization(bob.organization.pk).filter(pk=delivery.pk).update(
            created_at=now - age, **values
        )
        return delivery

    lost = row("lost", timedelta(minutes=2))
    stale = row("stale", timedelta(minutes=30), status="sending", claimed_at=now - timedelta(minutes=11), claims=1)
    hopeless = row("hopeless", timedelta(hours=1), status="sending", claimed_at=now - timedelta(minutes=11), claims=3)
    busy = row("busy", timedelta(minutes=5), status="sending", claimed_at=now - timedelta(minutes=1), claims=1)
    fresh = row("fresh", timedelta(seconds=5))
    waiting = row("waiting", timedelta(hours=1), digest=True)
    in_digest = row("in digest", timedelta(hours=1), digest=True, status="sending",
                    claimed_at=now - timedelta(minutes=11), claims=1)  # fmt: skip

    report = tasks.recover_deliveries_task()

    assert report == {"abandoned": 1, "released": 2, "requeued": 2}
    assert sorted(r.json()["dedup_key"] for r in webhook.received) == ["lost", "stale"]
    assert reloaded(lost).status == reloaded(stale).status == "sent"
    assert reloaded(stale).claims == 2
    gave_up = reloaded(hopeless)
    assert gave_up.status == "failed"
    assert "3 times" in gave_up.error
    assert reloaded(busy).status == "sending"  # its worker may still be at it
    assert reloaded(fresh).status == "pending"  # its own task is probably just queued
    assert reloaded(waiting).status == "pending"  # for the digest task
    assert reloaded(in_digest).status == "pending"  # released, for the next digest
    assert Channel.objects.for_organization(bob.organization.pk).get(pk=channel.pk).enabled  # none was permanent


@pytest.mark.django_db
def test_recovery_queues_a_pending_row_again_at_most_once_per_claim_timeout(
    bob: Tenant, monkeypatch: pytest.MonkeyPatch, webhook: HttpReceiver
) -> None:
    """A long queue is not flooded: the row's task may just be waiting behind others."""
    queued: list[tuple[int, int]] = []
    monkeypatch.setattr(tasks.send_delivery_task, "delay", lambda *args: queued.append(args))
    delivery = services.enqueue(webhook_channel(bob, webhook), notification(), subject="incident:1")
    assert delivery is not None
    Delivery.objects.for_organization(bob.organization.pk).filter(pk=delivery.pk).update(
        created_at=timezone.now() - timedelta(minutes=5)
    )
    tasks.recover_deliveries_task()
    tasks.recover_deliveries_task()
    assert queued == [(bob.organization.pk, delivery.pk)]
    later = timezone.now() + timedelta(minutes=11)
    assert services.recover_deliveries(now=later).requeue == [(bob.organization.pk, delivery.pk)]
    assert reloaded(delivery).status == "pending"


@pytest.mark.django_db
def test_a_deleted_channels_pending_rows_are_skipped_and_its_log_kept(bob: Tenant, webhook: HttpReceiver) -> None:
    channel = webhook_channel(bob, webhook)
    delivery = services.enqueue(channel, notification(), subject="incident:1")
    assert delivery is not None
    services.delete_channel(channel, bob.owner)
    row = reloaded(delivery)
    assert (row.status, row.channel_id, row.kind) == ("skipped", None, "webhook")
    with tenant_scope(bob.organization.pk):
        services.send_delivery(delivery.pk)
    assert webhook.received == []


@pytest.mark.django_db
def test_a_long_dedup_key_is_kept_whole_in_the_stored_notification(bob: Tenant, webhook: HttpReceiver) -> None:
    key = "k" * 400
    delivery = services.enqueue(webhook_channel(bob, webhook), notification(dedup_key=key), subject="s" * 300)
    assert delivery is not None
    row = reloaded(delivery)
    assert (len(row.dedup_key), len(row.subject)) == (255, 100)
    assert services.notification_of(row).dedup_key == key


def test_the_beat_schedule_runs_the_outbox_tasks(settings: Any) -> None:
    from config.celery_app import app

    entries = {entry["task"]: entry for entry in settings.CELERY_BEAT_SCHEDULE.values()}
    for name in ("vigil.notifications.recover_deliveries", "vigil.notifications.send_digests"):
        assert name in app.tasks
        assert entries[name]["schedule"] == 60.0
        assert entries[name]["options"]["expires"] < 60
