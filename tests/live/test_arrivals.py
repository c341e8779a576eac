"""New telemetry is announced to the project's live topic after the commit, at most once a second, never lost."""

from __future__ import annotations

import asyncio
import contextlib
import queue
import threading
import time
from typing import Any

import pytest
from channels.layers import get_channel_layer
from django.db import transaction

from apps.core.consumers import organization_group
from apps.live import arrivals
from tests.conftest import Tenant


@pytest.fixture
def listen() -> Any:
    """``listen(org, topic)`` subscribes and returns ``receive(timeout)`` -> the next message or None.

    The channel layer binds a channel's receive buffer to one event loop, so one thread with one loop
    receives everything and hands messages over through a queue; the threads stop after the test."""
    stop = threading.Event()
    threads: list[threading.Thread] = []

    def subscribe(organization_id: int, topic: str) -> Any:
        layer = get_channel_layer()
        messages: queue.Queue[dict[str, Any]] = queue.Queue()
        ready = threading.Event()

        async def run() -> None:
            channel = await layer.new_channel()
            await layer.group_add(organization_group(organization_id, topic), channel)
            ready.set()
            while not stop.is_set():
                with contextlib.suppress(TimeoutError):
                    messages.put(await asyncio.wait_for(layer.receive(channel), 0.2))

        thread = threading.Thread(target=lambda: asyncio.run(run()), daemon=True)
        thread.start()
        threads.append(thread)
        assert ready.wait(5)

        def receive(timeout: float = 3.0) -> dict[str, Any] | None:
            try:
                return messages.get(timeout=timeout)
            except queue.Empty:
                return None

        return receive

    yield subscribe
    stop.set()
    for thread in threads:
        thread.join(5)


@pytest.mark.django_db(transaction=True)
def test_announced_after_commit_only_and_coalesced(alice: Tenant, monkeypatch: Any, listen: Any) -> None:
    monkeypatch.setattr(arrivals, "_last_sent", {})
    monkeypatch.setattr(arrivals, "_pending", {})
    org, project = alice.organization.pk, alice.project.pk
    receive = listen(org, arrivals.topic(project, "spans"))
    with transaction.atomic():
        arrivals.announce(org, project, "spans", 5)
        transaction.set_rollback(True)
    assert receive(timeout=0.5) is None  # rolled back: nothing to see
    with transaction.atomic():
        arrivals.announce(org, project, "spans", 5)
    message = receive()
    assert message is not None
    assert message["payload"] == {"signal": "spans", "count": 5}
    started = time.monotonic()
    for count in (1, 2, 3):  # within the second: one more message, with the sum, when the second is over
        with transaction.atomic():
            arrivals.announce(org, project, "spans", count)
    coalesced = receive()
    assert coalesced is not None
    assert coalesced["payload"]["count"] == 6
    assert time.monotonic() - started >= 0.5
    assert receive(timeout=1.5) is None


@pytest.mark.django_db(transaction=True)
def test_other_organizations_hear_nothing(alice: Tenant, bob: Tenant, monkeypatch: Any, listen: Any) -> None:
    monkeypatch.setattr(arrivals, "_last_sent", {})
    monkeypatch.setattr(arrivals, "_pending", {})
    receive_bob = listen(bob.organization.pk, arrivals.topic(alice.project.pk, "spans"))
    with transaction.atomic():
        arrivals.announce(alice.organization.pk, alice.project.pk, "spans", 1)
    assert receive_bob(timeout=1.0) is None
