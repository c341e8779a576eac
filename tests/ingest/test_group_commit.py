"""Group commit (apps/ingest/group_commit.py): trace requests of one project that queue while a transaction runs
are written in the next one, each answered after its own commit, each failing only for its own fault."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from django.db import DataError, OperationalError, connection, transaction

from apps.ingest import group_commit
from apps.ingest.auth import IngestPrincipal
from apps.ingest.pipeline import Outcome, ingest_decoded
from apps.otlp.types import Decoded, Resource, Scope, Span, SpanKind
from apps.tracing.rollups import compact_rollups
from tests.conftest import Tenant

RESOURCE = Resource({"service.name": "frontend"})


@pytest.fixture(autouse=True)
def _grouping(settings: Any) -> None:
    settings.VIGIL_INGEST_GROUP_COMMIT = True  # the default; these tests hold whatever the environment says


def request(count: int, **fields: Any) -> Decoded:
    now = time.time_ns()
    spans = [
        Span(resource=RESOURCE, scope=Scope("tests"), trace_id=os.urandom(16), span_id=os.urandom(8),
             parent_span_id=None, name="GET /", kind=SpanKind.SERVER, start_ns=now, end_ns=now + 5_000_000,
             attributes={"http.route": "/"}, **fields)
        for _ in range(count)
    ]  # fmt: skip
    return Decoded(spans=spans)


def fetch(sql: str, *params: Any) -> list[tuple[Any, ...]]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def transactions_of(sender: Sender) -> set[int]:
    """The transactions that stored the sender's spans (their rows' xmin)."""
    rows = fetch("SELECT DISTINCT xmin::text::bigint FROM tracing_span WHERE span_id = ANY(%s)",
                 sender.span_ids)  # fmt: skip
    return {xmin for (xmin,) in rows}


class Sender(threading.Thread):
    """Sends one request through the pipeline in a thread of its own; keeps its outcome or exception."""

    def __init__(self, tenant: Tenant, decoded: Decoded) -> None:
        super().__init__()
        self.principal = IngestPrincipal(tenant.organization.pk, tenant.project.pk, 0)
        self.decoded = decoded
        self.span_ids = [span.span_id for span in decoded.spans]  # kept: a request written with others is emptied
        self.outcome: Outcome | None = None
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            self.outcome = ingest_decoded(self.principal, self.decoded)
        except BaseException as exc:  # checked by the test
            self.error = exc
        finally:
            connection.close()


def queued(tenant: Tenant) -> int:
    """Requests of the tenant's project waiting for the transaction after the running one (-1: none running)."""
    queue = group_commit._queues.get((tenant.organization.pk, tenant.project.pk))
    return len(queue.waiting) if queue is not None else -1


def wait_for(condition: Callable[[], bool]) -> None:
    deadline = time.monotonic() + 10
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


@contextmanager
def rollup_deltas_locked() -> Iterator[threading.Event]:
    """Another transaction holds a lock that stops every span write at its rollup deltas until the event is set."""
    locked, release = threading.Event(), threading.Event()

    def hold() -> None:
        try:
            with transaction.atomic():
                connection.cursor().execute("LOCK TABLE tracing_red_delta_packed IN SHARE MODE")
                locked.set()
                release.wait(30)
        finally:
            connection.close()

    holder = threading.Thread(target=hold)
    holder.start()
    locked.wait(10)
    try:
        yield release
    finally:
        release.set()
        holder.join(30)


def start(senders: list[Sender]) -> None:
    for sender in senders:
        sender.start()


def join(senders: list[Sender]) -> None:
    for sender in senders:
        sender.join(60)
        assert not sender.is_alive()


@pytest.mark.django_db(transaction=True)
def test_requests_queued_behind_a_transaction_are_written_together_in_the_next(alice: Tenant) -> None:
    first, second, third = (Sender(alice, request(n)) for n in (5, 7, 3))
    with rollup_deltas_locked() as release:
        start([first])
        wait_for(lambda: queued(alice) == 0)  # the first request leads, blocked by the lock
        start([second, third])
        wait_for(lambda: queued(alice) == 2)
        assert first.outcome is second.outcome is third.outcome is None  # nothing answered before its commit
        release.set()
        join([first, second, third])
    assert [s.error for s in (first, second, third)] == [None, None, None]
    assert [s.outcome.accepted for s in (first, second, third)] == [5, 7, 3]  # type: ignore[union-attr]
    assert second.decoded.spans == third.decoded.spans == []  # freed by their group's leader once committed
    assert transactions_of(second) == transactions_of(third)
    assert transactions_of(first).isdisjoint(transactions_of(second))
    assert len(transactions_of(second)) == 1
    compact_rollups()
    assert fetch("SELECT sum(request_count) FROM tracing_red_minute WHERE organization_id = %s",
                 alice.organization.pk) == [(15,)]  # fmt: skip
    assert group_commit._queues == {}


@pytest.mark.django_db(transaction=True)
def test_with_grouping_off_each_request_has_a_transaction_of_its_own(alice: Tenant, settings: Any) -> None:
    settings.VIGIL_INGEST_GROUP_COMMIT = False
    senders = [Sender(alice, request(n)) for n in (5, 7, 3)]
    waiting = "SELECT count(DISTINCT pid) FROM pg_locks WHERE NOT granted"  # on the held lock, or behind the first
    with rollup_deltas_locked() as release:
        start(senders)
        wait_for(lambda: fetch(waiting) == [(3,)])  # all three in a transaction at once, none queued
        assert group_commit._queues == {}
        release.set()
        join(senders)
    assert [s.outcome.accepted for s in senders] == [5, 7, 3]  # type: ignore[union-attr]
    assert len(set.union(*(transactions_of(s) for s in senders))) == 3


@pytest.mark.django_db(transaction=True)
def test_a_request_the_database_refuses_fails_alone_and_its_group_is_stored(alice: Tenant) -> None:
    bad = request(2, dropped_attributes_count=2**40)  # more than the int4 column holds
    first, refused, fine = Sender(alice, request(4)), Sender(alice, bad), Sender(alice, request(6))
    with rollup_deltas_locked() as release:
        start([first])
        wait_for(lambda: queued(alice) == 0)
        start([refused])
        wait_for(lambda: queued(alice) == 1)
        start([fine])
        wait_for(lambda: queued(alice) == 2)
        release.set()
        join([first, refused, fine])
    assert isinstance(refused.error, DataError)
    assert "dropped_attributes_count" in str(refused.error)
    assert first.error is None
    assert fine.error is None
    assert fine.outcome is not None
    assert fine.outcome.accepted == 6
    assert fetch("SELECT count(*) FROM tracing_span WHERE organization_id = %s", alice.organization.pk) == [(10,)]
    compact_rollups()
    assert fetch("SELECT sum(request_count) FROM tracing_red_minute WHERE organization_id = %s",
                 alice.organization.pk) == [(10,)]  # fmt: skip


@pytest.mark.django_db(transaction=True)
def test_a_slow_database_fails_every_request_of_the_group_and_stores_nothing(alice: Tenant, settings: Any) -> None:
    settings.VIGIL_INGEST_STATEMENT_TIMEOUT_MS = 700
    senders = [Sender(alice, request(n)) for n in (3, 4, 5)]
    with rollup_deltas_locked():
        start(senders[:1])
        wait_for(lambda: queued(alice) == 0)
        start(senders[1:])
        join(senders)
    assert all(isinstance(s.error, OperationalError) for s in senders), [s.error for s in senders]
    assert fetch("SELECT count(*) FROM tracing_span WHERE organization_id = %s", alice.organization.pk) == [(0,)]
    assert group_commit._queues == {}


@pytest.mark.django_db(transaction=True)
def test_many_concurrent_requests_are_each_stored_and_counted_once(alice: Tenant, bob: Tenant) -> None:
    senders = [Sender(tenant, request(n)) for n in (1, 40, 200, 512, 3, 90) for tenant in (alice, bob, alice)]
    start(senders)
    join(senders)
    assert [s.error for s in senders] == [None] * len(senders)
    assert [s.outcome.accepted for s in senders] == [len(s.span_ids) for s in senders]  # type: ignore[union-attr]
    compact_rollups()
    for tenant, spans in ((alice, 2 * 846), (bob, 846)):
        assert fetch("SELECT count(*) FROM tracing_span WHERE organization_id = %s",
                     tenant.organization.pk) == [(spans,)]  # fmt: skip
        assert fetch("SELECT sum(request_count) FROM tracing_red_minute WHERE organization_id = %s",
                     tenant.organization.pk) == [(spans,)]  # fmt: skip
    assert group_commit._queues == {}


class _Stopped(BaseException):
    """Not an ``Exception``: what a leader's thread meets when it is told to stop (like ``SystemExit``)."""


def test_a_request_whose_leader_stopped_short_is_never_acknowledged() -> None:
    """Only a commit acknowledges: if the leader's write ends in something that is not an error, the requests it
    took into its group answer 503 (OperationalError), never success."""
    started, release = threading.Event(), threading.Event()
    calls: list[int] = []

    def write(merged: Decoded, before_commit: Callable[[], None]) -> None:
        calls.append(len(merged.spans))
        if len(calls) == 1:  # the leader's own request, alone: hold it until two more have queued
            started.set()
            release.wait(10)
            return
        raise _Stopped

    project = (10**9, 10**9)  # no such tenant: nothing here touches the database
    outcomes: dict[str, BaseException | None] = {}

    def send(name: str, decoded: Decoded) -> None:
        try:
            group_commit.write_together(project, decoded, write)
            outcomes[name] = None
        except BaseException as exc:  # checked below
            outcomes[name] = exc

    threads = {
        name: threading.Thread(target=send, args=(name, request(n))) for name, n in (("a", 1), ("b", 2), ("c", 3))
    }
    threads["a"].start()
    started.wait(10)
    threads["b"].start()
    threads["c"].start()
    wait_for(lambda: len(group_commit._queues[project].waiting) == 2)
    release.set()
    for thread in threads.values():
        thread.join(10)
    assert calls == [1, 5]  # b and c in one group, which stopped short
    assert outcomes["a"] is None
    assert isinstance(outcomes["b"], _Stopped)  # the leader's own thread sees what stopped it
    assert isinstance(outcomes["c"], OperationalError)
    assert "not written" in str(outcomes["c"])
    assert group_commit._queues == {}


def leader_then_follower(project: tuple[int, int], send: Callable[[str, int], None]) -> None:
    """``send("a", 1)`` leads a group of ``project``, ``send("b", 2)`` queues behind it; returns when both ended."""
    a = threading.Thread(target=send, args=("a", 1))
    a.start()
    wait_for(lambda: project in group_commit._queues)
    b = threading.Thread(target=send, args=("b", 2))
    b.start()
    a.join(10)
    b.join(10)


def test_the_next_group_is_written_while_the_one_before_commits() -> None:
    """A leader hands the lead on just before its commit, so that commit's WAL flush and the next group's writes
    overlap; each request is still answered only after its own commit."""
    project = (10**9, 10**9 + 1)  # no such tenant: nothing here touches the database
    next_started = threading.Event()
    order: list[str] = []

    def write(merged: Decoded, before_commit: Callable[[], None]) -> None:
        name = "a" if len(merged.spans) == 1 else "b"
        if name == "a":  # the first leader: commits slowly, until the next group has started
            wait_for(lambda: len(group_commit._queues[project].waiting) == 1)
            before_commit()
            assert next_started.wait(10)
        else:
            next_started.set()
            before_commit()
        order.append(f"{name} committed")

    def send(name: str, spans: int) -> None:
        group_commit.write_together(project, request(spans), write)
        order.append(f"{name} answered")

    leader_then_follower(project, send)
    assert order.index("b committed") < order.index("a committed") < order.index("a answered")
    assert order.index("b committed") < order.index("b answered")
    assert group_commit._queues == {}


def test_a_commit_failing_after_the_hand_over_acknowledges_nothing_of_its_group() -> None:
    """The lead is handed on before the commit; if that commit then fails, the group's requests answer its error
    (503 for an unavailable database), never success, and the next group is written all the same."""
    project = (10**9, 10**9 + 2)  # no such tenant: nothing here touches the database
    calls: list[int] = []

    def write(merged: Decoded, before_commit: Callable[[], None]) -> None:
        calls.append(len(merged.spans))
        if len(calls) == 1:  # the first leader: its commit fails once the next request has queued and taken over
            wait_for(lambda: len(group_commit._queues[project].waiting) == 1)
            before_commit()
            wait_for(lambda: len(calls) == 2)
            raise OperationalError("the server closed the connection during COMMIT")
        before_commit()

    outcomes: dict[str, BaseException | None] = {}

    def send(name: str, spans: int) -> None:
        try:
            group_commit.write_together(project, request(spans), write)
            outcomes[name] = None
        except BaseException as exc:  # checked below
            outcomes[name] = exc

    leader_then_follower(project, send)
    assert calls == [1, 2]
    assert isinstance(outcomes["a"], OperationalError)
    assert outcomes["b"] is None
    assert group_commit._queues == {}
