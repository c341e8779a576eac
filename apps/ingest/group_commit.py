"""Group commit: the trace requests of one project that wait while a transaction runs are written in the next one.

Why: besides its spans, a request's transaction has a fixed cost of about ten statements and round trips (its
settings, the rollup deltas' COPYs, the service-map edge statement, the errors, the commit): ~18 µs per span of a
512-span request, between this process and PostgreSQL. Under load several requests of a project are in flight in
an ingest process at once; written three to a transaction, a span cost 89 µs of CPU instead of 107
(bench/ingest_phases.py, docs/benchmarks.md). A request that finds no transaction of its project running is written
at once, as before, so grouping adds no wait when there is no load.

How: per process and project, the request that finds no writer becomes the leader and writes every request queued
by then (itself first) in one transaction; requests arriving meanwhile queue. A leader first waits (at most
``VIGIL_INGEST_GROUP_WAIT_MS``) for the requests of its project this process is still decoding (``arriving``): the
requests in flight in a process are decoded one after another under its one lock, so without the wait nearly every
group was one request (bench/ingest.py: ~500 spans per commit at saturation) and paid a transaction's fixed cost
alone. Nothing waits when no other request of the project is on its way. When everything is written, just
before its commit, the leader hands the lead to the oldest queued request, whose thread writes all that queued
meanwhile (on its own connection), and so on: a commit waits for PostgreSQL to flush the WAL, and the next
group's writes need not wait for that (+5 to +15 % spans/s at saturation, docs/benchmarks.md). A request is
answered only after the commit of the transaction holding it, so an acknowledged span is as durable as before.

Failures keep each request's own answer: an unavailable or slow database (``OperationalError``,
``InterfaceError``) fails every request of the group alike (each answers 503, retry later); anything else (a value
of one request that PostgreSQL refuses, a bug) makes the leader write the group's requests again one by one, so
only the request at fault fails.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from django.conf import settings
from django.db import InterfaceError, OperationalError

from apps.otlp.types import Decoded

# ``write(merged, before_commit)``: writes and commits ``merged``, calling ``before_commit()`` just before committing.
Write = Callable[[Decoded, Callable[[], None]], object]

# At most this many spans in one group's transaction (a request larger than that is written alone): bounds the
# transaction's time and the memory of its rows; eight of the OTel SDK's default 512-span batches.
MAX_GROUP_SPANS = 4096
_UNAVAILABLE = (OperationalError, InterfaceError)


class _Request:
    __slots__ = ("decoded", "done", "error", "leads", "written")

    def __init__(self, decoded: Decoded) -> None:
        self.decoded = decoded
        self.done = threading.Event()  # set when written (or failed), or when handed the lead
        self.leads = False
        self.written = False  # committed: only then is the request answered with success
        self.error: BaseException | None = None


class _Queue:
    __slots__ = ("waiting", "writing")

    def __init__(self) -> None:
        self.waiting: deque[_Request] = deque()
        self.writing = False


class Arrival:
    """A request of a project on its way to ``write_together`` (being decoded): a leader of the project waits for it."""

    __slots__ = ("pending", "project")

    def __init__(self, project: tuple[int, int]) -> None:
        self.project = project
        self.pending = True

    def settle(self) -> None:
        """Queued or given up: no leader waits for it any more. Call with ``_lock`` held."""
        if self.pending:
            self.pending = False
            left = _arriving[self.project] - 1
            if left:
                _arriving[self.project] = left
            else:
                del _arriving[self.project]
            _settled.notify_all()


_lock = threading.Lock()
_settled = threading.Condition(_lock)  # notified when an arrival settles
_queues: dict[tuple[int, int], _Queue] = {}  # a project's entry lives while it has a writer
_arriving: dict[tuple[int, int], int] = {}  # per project: its requests on their way (pending arrivals)


@contextmanager
def arriving(project: tuple[int, int]) -> Iterator[Arrival]:
    """Announce a request of ``project`` from the moment it is decoded until ``write_together`` queues it (pass it
    the arrival) or the block ends (refused, not a trace request...)."""
    arrival = Arrival(project)
    with _lock:
        _arriving[project] = _arriving.get(project, 0) + 1
    try:
        yield arrival
    finally:
        with _lock:
            arrival.settle()


def write_together(project: tuple[int, int], decoded: Decoded, write: Write, arrival: Arrival | None = None) -> None:
    """Write ``decoded`` (the spans of one request of ``project``, (organization id, project id)) with ``write``,
    in one transaction with the other requests of the project queued meanwhile; returns after the commit. A request
    written with others has its ``spans`` emptied once committed.

    ``write(merged)`` writes and commits a ``Decoded`` holding the spans of one or more requests. Raises what
    writing this request raised. ``arrival``: the request's announcement (``arriving``), settled as it queues.
    """
    request = _Request(decoded)
    with _lock:
        queue = _queues.get(project)
        if queue is None:
            queue = _queues[project] = _Queue()
        queue.waiting.append(request)
        if arrival is not None:
            arrival.settle()
        if not queue.writing:
            queue.writing = request.leads = True
    if not request.leads:
        request.done.wait()  # written by a leader, or made the leader
    if request.leads:
        _lead(project, queue, write)
    if request.error is not None:
        raise request.error
    if not request.written:  # its leader stopped short (an exception that is not an error): never acknowledge
        raise OperationalError("The request was not written; retry.")


def _lead(project: tuple[int, int], queue: _Queue, write: Write) -> None:
    """Write what is queued (the leader's own request first: the oldest), then pass the lead on or end it."""
    with _lock:
        _await_arrivals(project, queue)
        group = [queue.waiting.popleft()]
        spans = len(group[0].decoded.spans)
        while queue.waiting and spans + len(queue.waiting[0].decoded.spans) <= MAX_GROUP_SPANS:
            group.append(queue.waiting.popleft())
            spans += len(group[-1].decoded.spans)
    handed_on = False

    def hand_on() -> None:
        """The next group may start: called before this group's commit, whose WAL flush it need not wait for."""
        nonlocal handed_on
        if handed_on:
            return
        handed_on = True
        with _lock:
            if queue.waiting:
                successor = queue.waiting[0]
                successor.leads = True
                successor.done.set()
            else:
                queue.writing = False
                del _queues[project]

    try:
        _write_group(group, lambda merged: write(merged, hand_on))
    finally:
        hand_on()
        for request in group[1:]:
            request.done.set()


def _await_arrivals(project: tuple[int, int], queue: _Queue) -> None:
    """Wait (``_lock`` held) until no request of ``project`` is on its way, the queue holds a full group, or
    ``VIGIL_INGEST_GROUP_WAIT_MS`` have passed."""
    deadline = time.monotonic() + settings.VIGIL_INGEST_GROUP_WAIT_MS / 1000
    while _arriving.get(project) and sum(len(r.decoded.spans) for r in queue.waiting) < MAX_GROUP_SPANS:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return
        _settled.wait(remaining)


def _write_group(group: list[_Request], write: Callable[[Decoded], object]) -> None:
    """One transaction for the group; on a failure other than an unavailable database, each request alone."""
    if len(group) == 1:
        _write_alone(group[0], write)
        return
    try:
        write(Decoded(spans=[span for request in group for span in request.decoded.spans]))
        for request in group:
            request.written = True
            # Committed: the spans are freed here, in the thread that just read them all (while they are in its
            # core's cache; the requests' own threads freeing them later cost twice as much), and then answered.
            request.decoded.spans.clear()
    except _UNAVAILABLE as exc:
        for request in group:  # each raises its own exception, chained to the one that happened
            request.error = exc if request is group[0] else _copy_of(exc)
    except Exception:  # attributed below: each request is written again alone
        for request in group:
            _write_alone(request, write)


def _write_alone(request: _Request, write: Callable[[Decoded], object]) -> None:
    try:
        write(request.decoded)
        request.written = True
    except Exception as exc:  # raised in the request's own thread by write_together
        request.error = exc


def _copy_of(exc: BaseException) -> BaseException:
    copy = type(exc)(*exc.args)
    copy.__cause__ = exc
    return copy
