"""Two real Celery worker processes evaluate the same rule at the same moment: one notification per channel.

The workers run against this test's database and Redis, with the tasks sent through the broker; both take
part (their logs show each ran evaluations), and the claims (a conditional UPDATE of each alert's version,
then of each delivery's status) let exactly one of them act.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.db import connection
from django.utils import timezone

from apps.alerting.models import Incident, StateChange
from apps.core.scoping import tenant_scope
from apps.notifications.models import Delivery
from config.celery_app import app
from tests.alerting.conftest import checkout_rule, pagerduty_channel, slack_channel, spans, store, webhook_channel
from tests.conftest import Tenant
from tests.notifications.receivers import HttpReceiver

ROOT = Path(__file__).resolve().parents[2]
TASKS = 8  # evaluations of the same tick, spread over both workers


def database_url() -> str:
    """This test's database (pytest-django's test_ copy), as a URL for the worker processes."""
    db = connection.settings_dict
    host = db.get("HOST") or db["OPTIONS"].get("host", "")  # the embedded server's socket is an option
    if host.startswith("/"):
        return f"postgresql://{db['USER']}@/{db['NAME']}?host={host}"
    return f"postgresql://{db['USER']}:{db.get('PASSWORD') or ''}@{host}:{db.get('PORT') or 5432}/{db['NAME']}"


@pytest.fixture
def workers(tmp_path: Path) -> Iterator[tuple[str, list[Path]]]:
    queue = f"vigil-test-{uuid.uuid4().hex[:8]}"
    env = {**os.environ, "DATABASE_URL": database_url(), "DJANGO_SETTINGS_MODULE": "config.settings.test",
           "VIGIL_OUTBOUND_ALLOWLIST": "127.0.0.1/32", "VIGIL_PUBLIC_URL": "http://vigil.test"}  # fmt: skip
    logs = [tmp_path / f"worker{n}.log" for n in (1, 2)]
    processes = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "config.celery_app",
                "worker",
                "-Q",
                queue,
                "-c",
                "1",
                "--pool",
                "solo",
                "-n",
                f"w{n}-{queue}@localhost",
                "--without-gossip",
                "--without-mingle",
                "--without-heartbeat",
                "-l",
                "INFO",
            ],
            cwd=ROOT,
            env=env,
            stdout=log.open("w"),
            stderr=subprocess.STDOUT,
        )
        for n, log in zip((1, 2), logs, strict=True)
    ]
    try:
        deadline = time.monotonic() + 60
        while not all("ready." in log.read_text() for log in logs):
            assert time.monotonic() < deadline, "\n".join(log.read_text()[-2000:] for log in logs)
            assert all(p.poll() is None for p in processes), "\n".join(log.read_text()[-2000:] for log in logs)
            time.sleep(0.2)
        yield queue, logs
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            process.wait(timeout=20)


@pytest.mark.filterwarnings("ignore:task_always_eager has no effect on send_task")
def test_two_workers_evaluating_at_once_notify_each_channel_once(
    alice: Tenant,
    transactional_db: Any,
    webhook: HttpReceiver,
    pagerduty: HttpReceiver,
    slack: HttpReceiver,
    workers: tuple[str, list[Path]],
) -> None:
    queue, logs = workers
    store(alice, spans("checkout", [800.0] * 100, errors=10))
    with tenant_scope(alice.organization.pk):
        channels = [webhook_channel(alice, webhook), pagerduty_channel(alice, pagerduty), slack_channel(alice, slack)]
        rule = checkout_rule(alice, channels)
    at = timezone.now().isoformat()
    for _ in range(TASKS):
        app.send_task("vigil.evaluate_rule", args=[alice.organization.pk, rule.pk, at], queue=queue)

    deadline = time.monotonic() + 60
    while sum(log.read_text().count("vigil.evaluate_rule[") for log in logs) < 2 * TASKS:  # received + succeeded
        assert time.monotonic() < deadline, "\n".join(log.read_text()[-3000:] for log in logs)
        time.sleep(0.2)
    time.sleep(1)  # a duplicate, if any, would be on its way now

    ran = [log.read_text().count("succeeded") for log in logs]
    assert all(count > 0 for count in ran), ran  # both workers evaluated
    with tenant_scope(alice.organization.pk):
        assert Incident.objects.count() == 1
        assert StateChange.objects.count() == 1
        assert Delivery.objects.filter(status="sent").count() == 3
    assert (len(webhook.received), len(pagerduty.received), len(slack.received)) == (1, 1, 1)
    assert webhook.problems == pagerduty.problems == slack.problems == []
