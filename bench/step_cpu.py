"""The ingest server with its pipeline steps timed: CPU per span of each step, in the running server.

bench/ingest.py ``--step-cpu`` runs ``uvicorn step_cpu:application`` (bench/ on the path) instead of
``config.asgi:application``. This module loads the real application, then wraps the pipeline's steps where the
pipeline looks them up (nothing in apps/ changes) and sums each thread's CPU time (``time.thread_time_ns``) per
step. Every ``WINDOW`` requests a process writes one line to its stderr (the server log) and starts a new window:
``step-cpu pid N: decode 3.41 scrub 2.30 ... µs/span``.

Why: the benchmark's end-to-end CPU per span says how much, not where; py-spy samples where the GIL is, not what a
step costs; and the same steps timed in a loop over the same requests cost half as much as in the server
(docs/benchmarks.md), so only a measurement inside the server says which step to work on. The wrappers run per
request or per group, not per span: the server's CPU per span with them (15.4-15.7 µs at max load) is what it is
without (~15).
"""

from __future__ import annotations

import collections
import functools
import os
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

from config.asgi import application  # the app uvicorn serves; loads Django and the pipeline first

WINDOW = 300  # requests per printed line

_lock = threading.Lock()
_spent: collections.Counter[str] = collections.Counter()  # step -> ns of thread CPU in this window
_counts = {"requests": 0, "spans": 0}
_process_cpu = [time.process_time_ns()]


def _timed(step: str, function: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(function)
    def timed(*args: Any, **kwargs: Any) -> Any:
        start = time.thread_time_ns()
        try:
            return function(*args, **kwargs)
        finally:
            spent = time.thread_time_ns() - start
            with _lock:
                _spent[step] += spent

    return timed


def _counted(process: Callable[..., Any]) -> Callable[..., Any]:
    """``http._process``: the whole of a request's work in its thread; counts requests and spans, prints windows."""

    timed = _timed("request thread, all", process)

    @functools.wraps(process)
    def counted(*args: Any, **kwargs: Any) -> Any:
        outcome = timed(*args, **kwargs)
        with _lock:
            _counts["requests"] += 1
            _counts["spans"] += outcome.accepted
            if _counts["requests"] % WINDOW == 0:
                _print_window()
        return outcome

    return counted


def _print_window() -> None:
    spans = max(_counts["spans"], 1)
    now = time.process_time_ns()
    steps = " ".join(f"{step}={ns / spans / 1000:.2f}" for step, ns in sorted(_spent.items()))
    whole = (now - _process_cpu[0]) / spans / 1000
    print(f"step-cpu pid {os.getpid()}: {steps} process={whole:.2f} µs/span", file=sys.stderr, flush=True)
    _spent.clear()
    _counts["spans"] = 0
    _process_cpu[0] = now


def _install() -> None:
    """Wrap the steps where the pipeline looks them up (after Django is set up: these modules import models)."""
    from apps.ingest import http, pipeline, ratelimit
    from apps.ingest.scrub import Scrubber
    from apps.tracing import deltas, writers

    traces = pipeline.SIGNALS["traces"]
    pipeline.SIGNALS["traces"] = pipeline.Signal(
        traces.name, _timed("decode", traces.decode_protobuf), _timed("decode", traces.decode_json)
    )
    pipeline.limit_decoded = _timed("limits", pipeline.limit_decoded)
    Scrubber.scrub_decoded = _timed("scrub", Scrubber.scrub_decoded)  # type: ignore[method-assign]
    ratelimit.charge = _timed("rate limit", ratelimit.charge)
    pipeline.write_spans = _timed("write_spans, all", pipeline.write_spans)
    writers.SpanBatch = _timed("write_spans: SpanBatch", writers.SpanBatch)
    writers._copy_new = _timed("write_spans: span COPY", writers._copy_new)
    writers._link_parents = _timed("write_spans: link_parents", writers._link_parents)
    deltas.RollupDeltas.write = _timed("write_spans: deltas", deltas.RollupDeltas.write)  # type: ignore[method-assign]
    pipeline.record_errors = _timed("errors", pipeline.record_errors)
    pipeline._write = _timed("transaction, all", pipeline._write)
    pipeline.configure_transaction = _timed("transaction: settings", pipeline.configure_transaction)
    pipeline._reject_outside_retention = _timed("retention", pipeline._reject_outside_retention)
    http._process = _counted(http._process)


_install()
__all__ = ["application"]
