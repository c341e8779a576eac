"""The per-project rate limit: shared by every process through Redis, served from per-process reservations."""

from __future__ import annotations

import itertools
import random
from typing import Any

import pytest

from apps.ingest import ratelimit

# Project ids of this run only: the counts of a fixed second stay in Redis for a few seconds after a run
_project_ids = itertools.count(random.randrange(10**12, 2 * 10**12, 10**6))


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The time ratelimit sees, settable (a fixed second unless a test moves it)."""
    now = [1_900_000_000.25]
    monkeypatch.setattr(ratelimit.time, "time", lambda: now[0])
    return now


@pytest.fixture
def round_trips(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """How many times Redis was asked."""
    count = [0]
    client = ratelimit._client

    def counting() -> Any:
        count[0] += 1
        return client()

    monkeypatch.setattr(ratelimit, "_client", counting)
    return count


def _accepted(project_id: int, items: int) -> bool:
    try:
        ratelimit.charge(project_id, items)
    except ratelimit.RateLimited as exc:
        if exc.retry_after != 1:  # a refusal always says: retry after a second
            raise AssertionError(f"Retry-After {exc.retry_after}, expected 1") from exc
        return False
    return True


def _as_another_process(monkeypatch: pytest.MonkeyPatch) -> None:
    """What a second ingest process knows: its own (empty) reservations, the same Redis."""
    monkeypatch.setattr(ratelimit, "_reserved", {})


def test_requests_are_served_from_a_reservation_with_one_round_trip_per_share(
    settings: Any, clock: list[float], round_trips: list[int]
) -> None:
    settings.VIGIL_INGEST_RATE_LIMIT_PER_SECOND = 16 * 100  # a share is 100 items
    project = next(_project_ids)
    assert all(_accepted(project, 10) for _ in range(30))
    assert round_trips[0] == 3  # 300 items: three reservations of 100


def test_the_limit_holds_across_processes_and_nothing_beyond_it_is_accepted(
    settings: Any, clock: list[float], monkeypatch: pytest.MonkeyPatch
) -> None:
    settings.VIGIL_INGEST_RATE_LIMIT_PER_SECOND = 16 * 10
    project = next(_project_ids)
    first = sum(7 for _ in range(12) if _accepted(project, 7))  # 84 items
    _as_another_process(monkeypatch)
    second = sum(7 for _ in range(30) if _accepted(project, 7))
    assert first == 84
    # each process holds less than a share (10 items) unused; the second gets the rest, never more
    assert 160 - 2 * 10 <= first + second <= 160
    assert not _accepted(project, 1)


def test_a_request_larger_than_a_share_reserves_itself_and_one_over_the_limit_is_refused(
    settings: Any, clock: list[float]
) -> None:
    settings.VIGIL_INGEST_RATE_LIMIT_PER_SECOND = 1000
    project = next(_project_ids)
    assert _accepted(project, 600)
    assert not _accepted(project, 600)  # 1,200 > 1,000
    assert _accepted(project, 400)  # the refused request's reservation is not held against the next
    assert not _accepted(project, 1)


def test_each_second_starts_anew_and_a_changed_limit_applies_at_once(settings: Any, clock: list[float]) -> None:
    settings.VIGIL_INGEST_RATE_LIMIT_PER_SECOND = 1600
    project = next(_project_ids)
    assert _accepted(project, 1)  # reserves 100
    settings.VIGIL_INGEST_RATE_LIMIT_PER_SECOND = 1
    assert not _accepted(project, 50)  # not served from the reservation made under the old limit
    settings.VIGIL_INGEST_RATE_LIMIT_PER_SECOND = 1000
    assert _accepted(project, 900)
    assert not _accepted(project, 900)
    clock[0] += 1
    assert _accepted(project, 900)


def test_no_limit_asks_nothing(settings: Any, round_trips: list[int]) -> None:
    settings.VIGIL_INGEST_RATE_LIMIT_PER_SECOND = 0
    assert _accepted(next(_project_ids), 10**9)
    assert round_trips[0] == 0


def test_one_projects_reservation_never_serves_another(settings: Any, clock: list[float]) -> None:
    """Reservations are per project: a project that used up its limit is refused while another, reserving in the
    same process and second, is served from its own count."""
    settings.VIGIL_INGEST_RATE_LIMIT_PER_SECOND = 16 * 10
    first, second = next(_project_ids), next(_project_ids)
    assert _accepted(first, 1)  # reserves a share of 10: 9 left, for the first project only
    assert _accepted(first, 150)  # 160 counted for the first project, 9 of them still reserved
    assert not _accepted(first, 10)
    assert _accepted(second, 10)  # not refused by the first project's count...
    assert _accepted(second, 150)
    assert not _accepted(second, 1)  # ...nor served from its reservation
    assert _accepted(first, 9)  # which the first project still has
