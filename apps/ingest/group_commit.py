"""Group commit: the trace requests of one project that wait while a transaction runs are written in the next one.

Why: besides its spans, a request's transaction has a fixed cost of about ten statements and round trips (its
settings, the rollup deltas' COPYs, the service-map edge statement, the errors, the commit): ~18 µs per span of a
512-span request, between this process and PostgreSQL. Under load several requests of a project are in flight in
an ingest process at once; written three to a transaction, a span cost 89 µs of CPU instead of 107
(bench/ingest_phases.py, docs/benchmarks.md). A request that finds no transaction of its project running is written
at once, as before, so grouping adds no wait when there is no load.

How: per process and project, the request that finds no writer becomes the leader and writes every request queued
by then (itself first) in one transaction; requests arriving meanwhile queue. When everything is written, just
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
from collections import deque
from collections.abc import Callable

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


_lock = threading.Lock()
_queues: dict[tuple[int, int], _Queue] = {}  # a project's entry lives while it has a writer


def write_together(project: tuple[int, int], decoded: Decoded, write: Write) -> None:
    """Write ``decoded`` (the spans of one request of ``project``, (organization id, project id)) with ``write``,
    in one transaction with the other requests of the project queued meanwhile; returns after the commit. A request
    written with others has its ``spans`` emptied once committed.

    ``write(merged)`` writes and commits a ``Decoded`` holding the spans of one or more requests. Raises what
    writing this request raised.
    """
    request = _Request(decoded)
    with _lock:
        queue = _queues.get(project)
        if queue is None:
            queue = _queues[project] = _Queue()
        queue.waiting.append(request)
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


def _write_group(group: list[_Request], write: Callable[[Decoded], object]) -> None:
    """One transaction for the group; on a failure other than an unavailable database, each request alone."""
    if len(group) == 1:
        _write_alone(group[0], write)
        return
    try:
        write(Decoded(spans=[span for request in group for span in request.decoded.spans]))
        for request in group:
            request.written = True
            # Committed: the spans are freed here, by the thread that last read them, before the requests are
            # answered. Meant to free them while still in this core's cache; a profile after it showed freeing at
            # the same share of the CPU as before (~6 %), so what it saves is within the benchmark's noise.
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
