"""Telling a project's open pages that new telemetry is stored: at most one message per second and signal.

The ingest pipeline calls ``announce`` inside its transaction; the message leaves after the commit, so a page
never refreshes for data that does not exist. Pages then fetch what changed through their usual queries
(static/js/live.js), so a message carries counts, never telemetry.

Throttled per process: within a second of the last message for a (project, signal), further arrivals are
added up and sent once when the second is over (a timer, which touches no database), so the last batch of a
burst is announced too.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from django.db import transaction

from apps.live.services import send

INTERVAL_SECONDS = 1.0

_lock = threading.Lock()
_last_sent: dict[tuple[int, str], float] = {}
_pending: dict[tuple[int, str], dict[str, Any]] = {}


def topic(project_id: int, signal: str) -> str:
    """The live topic of a project's signal ("spans", "logs", "metrics"), within its organization."""
    return f"project-{int(project_id)}.{signal}"


def announce(organization_id: int, project_id: int, signal: str, count: int) -> None:
    """``count`` new records of ``signal`` are being stored (call inside the writing transaction)."""
    transaction.on_commit(lambda: _arrived(organization_id, project_id, signal, count))


def _arrived(organization_id: int, project_id: int, signal: str, count: int) -> None:
    key = (project_id, signal)
    with _lock:
        pending = _pending.get(key)
        if pending is not None:  # a message is already scheduled: add to it
            pending["count"] += count
            return
        wait = _last_sent.get(key, 0.0) + INTERVAL_SECONDS - time.monotonic()
        if wait > 0:
            _pending[key] = {"organization_id": organization_id, "count": count}
            timer = threading.Timer(wait, _flush, args=(key,))
            timer.daemon = True
            timer.start()
            return
        _last_sent[key] = time.monotonic()
    send(organization_id, topic(project_id, signal), {"signal": signal, "count": count})


def _flush(key: tuple[int, str]) -> None:
    with _lock:
        pending = _pending.pop(key, None)
        _last_sent[key] = time.monotonic()
    if pending is not None:
        project_id, signal = key
        send(pending["organization_id"], topic(project_id, signal), {"signal": signal, "count": pending["count"]})
