"""Bulk loader for bench/queries.py: the ingest benchmark's requests, through the real ingest path, minus HTTP.

Each worker process (``load_worker``) takes every ``workers``-th request of the plan, oldest first. A request
is one of bench/ingest_load.py's 512-span templates with fresh trace ids, moved so it ends at its slot in the
load window (the last ``window`` seconds before the load started), as ``ingest_load.Patcher`` makes them.
What ``apps.ingest.pipeline.ingest_decoded`` does with it is done here step by step: decode
(``apps.ingest.decode_protobuf.decode_traces``), attribute limits, PII scrubbing, then in one
``transaction.atomic()`` ``write_spans`` (span rows and rollup deltas), ``write_logs`` and ``record_errors``.
Log records (one per ``LOG_EVERY`` spans, one ERROR per error span, with the span's trace and span id and
resource) are limited, scrubbed and written in the same transaction.

Decoding, limits and scrubbing depend only on the body, and a request's body differs from its template only
in trace ids and timestamps, so each template is prepared once and a request is a copy with new trace ids and
moved times: the same rows (checked against decoding the patched body on each worker's first request;
``decode_each`` prepares every request from its body instead, ~70 µs more per span).
"""

from __future__ import annotations

import os
import random
import time
import traceback
from dataclasses import dataclass
from typing import Any

import ingest_load

LOG_EVERY = 10  # one INFO log record per this many spans, plus one ERROR record per error span
_SEVERITY_INFO, _SEVERITY_ERROR = 9, 17
_STATUS_ERROR = 2


@dataclass(frozen=True)
class Plan:
    requests: int
    window_start_ns: int
    window_ns: int
    organization_id: int
    project_id: int
    decode_each: bool = False

    def end_of(self, index: int) -> int:
        """Where request ``index`` ends: evenly spread over the window, the last one at its end."""
        return self.window_start_ns + (index + 1) * self.window_ns // self.requests

    @staticmethod
    def template_of(index: int, templates: int) -> int:
        return random.Random(index).randrange(templates)  # noqa: S311 (reproducible choice, not a secret)


def logs_for(spans: list[Any]) -> list[Any]:
    """Log records an application would write along these spans: INFO on every ``LOG_EVERY``-th span, ERROR on
    every failed one, each with the span's resource, trace and span id."""
    from apps.otlp.types import LogRecord, Scope

    scope = Scope(name="shop.logging", version="1.4.0")
    records = []
    for index, span in enumerate(spans):
        error = span.status_code == _STATUS_ERROR
        if not error and index % LOG_EVERY:
            continue
        service = span.resource.service_name
        user = span.attributes.get("enduser.id", "anonymous")
        if error:
            severity, text = _SEVERITY_ERROR, "ERROR"
            body = f"{span.name} failed for {user}: {span.status_message or 'error'}"
        else:
            severity, text = _SEVERITY_INFO, "INFO"
            body = f"{span.name} completed in {(span.end_ns - span.start_ns) / 1e6:.1f} ms for {user}"
        records.append(
            LogRecord(
                resource=span.resource,
                scope=scope,
                time_ns=span.end_ns,
                observed_time_ns=span.end_ns + 1_500_000,
                severity_number=severity,
                severity_text=text,
                body=body,
                attributes={
                    "logger.name": f"shop.{service}",
                    "thread.name": span.attributes.get("thread.name", "main"),
                    "code.function": span.attributes.get("code.function", ""),
                },
                trace_id=span.trace_id,
                span_id=span.span_id,
                flags=1,
            )
        )
    return records


def _prepared(body: bytes, principal: Any) -> Any:
    """A request body decoded, limited and scrubbed as ``ingest_decoded`` does before it writes."""
    from apps.ingest import decode_protobuf
    from apps.ingest.pipeline import attribute_limits, limit_decoded, scrubber

    decoded = decode_protobuf.decode_traces(body)
    limit_decoded(decoded, attribute_limits())
    scrubber(principal).scrub_decoded(decoded)
    return decoded


def _logs_prepared(spans: list[Any], principal: Any) -> list[Any]:
    """``logs_for`` the spans, limited and scrubbed like the log records of an OTLP logs request."""
    from apps.ingest.pipeline import attribute_limits, limit_decoded, scrubber
    from apps.otlp.types import Decoded

    decoded = Decoded(logs=logs_for(spans))
    limit_decoded(decoded, attribute_limits())
    scrubber(principal).scrub_decoded(decoded)
    return decoded.logs


def _moved(spans: list[Any], shift: int, trace_ids: dict[bytes, bytes]) -> list[Any]:
    """Copies of a prepared template's spans with new trace ids and times ``shift`` ns later: what preparing the
    patched body (``Patcher.make``, which changes exactly those bytes) gives, without decoding it again."""
    from dataclasses import replace

    from apps.otlp.types import SpanEvent

    moved = []
    for span in spans:
        events = [SpanEvent(e.time_ns + shift, e.name, e.attributes, e.dropped_attributes_count) for e in span.events]
        moved.append(replace(span, trace_id=trace_ids[span.trace_id], start_ns=span.start_ns + shift,
                             end_ns=span.end_ns + shift, events=events))  # fmt: skip
    return moved


def _write(principal: Any, spans: list[Any], logs: list[Any]) -> None:
    """The writing half of ``apps.ingest.pipeline.ingest_decoded``: one transaction, same statements."""
    from django.conf import settings
    from django.db import connection, transaction

    from apps.errors.writers import record_errors
    from apps.logs.writers import write_logs
    from apps.tracing.writers import write_spans

    with connection.wrap_database_errors, transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT set_config('statement_timeout', %s, true)", [str(settings.VIGIL_INGEST_STATEMENT_TIMEOUT_MS)]
            )
        write_spans(principal.organization_id, principal.project_id, spans)
        write_logs(principal.organization_id, principal.project_id, logs)
        record_errors(principal.organization_id, principal.project_id, spans, logs)


def _check_identical(template: ingest_load.Template, prepared: list[Any], principal: Any, end_ns: int) -> list[Any]:
    """Prepare one patched body the slow way (decode, limit, scrub) and check that moving the prepared template
    gives the same rows (the span writer's COPY rows, ``SpanBatch``) and log records; returns the slow way's spans."""
    from apps.otlp.resources import Fingerprints
    from apps.tracing.span_batch import SpanBatch

    full = _prepared(ingest_load.Patcher(template).make(end_ns), principal).spans
    ids = {old.trace_id: new.trace_id for old, new in zip(prepared, full, strict=True)}
    fast = _moved(prepared, end_ns - template.base_ns, ids)

    def rows(spans: list[Any]) -> bytes:
        return SpanBatch(1, 1, spans, Fingerprints().of).copy

    if rows(full) != rows(fast) or logs_for(full) != logs_for(fast):
        raise RuntimeError("moving a prepared template does not give the rows of decoding the patched request")
    return full


def load_worker(index: int, workers: int, templates: list[ingest_load.Template], plan: Plan, out: Any) -> None:
    """Process entry: write requests ``index``, ``index + workers``, ... of the plan; report progress on ``out``.

    Each template is decoded, limited and scrubbed once; a request is a copy of it with new trace ids and moved
    times (checked against the full path on this worker's first request). ``plan.decode_each`` prepares every
    request from its patched body instead (about 70 µs more per span).
    """
    try:
        import django

        django.setup()
        from django.db import connections

        from apps.ingest.auth import IngestPrincipal

        principal = IngestPrincipal(plan.organization_id, plan.project_id, key_id=0)
        patchers = [ingest_load.Patcher(t) for t in templates]
        prepared = [_prepared(t.body, principal).spans for t in templates]
        out.put(("ready", index, os.getpid()))
        spans = logs = 0
        last_report = time.monotonic()
        for request in range(index, plan.requests, workers):
            which = plan.template_of(request, len(templates))
            template, end_ns = templates[which], plan.end_of(request)
            if plan.decode_each:
                batch = _prepared(patchers[which].make(end_ns), principal).spans
            elif request == index:
                batch = _check_identical(template, prepared[which], principal, end_ns)
            else:
                ids = {trace_id: os.urandom(16) for trace_id in {s.trace_id for s in prepared[which]}}
                batch = _moved(prepared[which], end_ns - template.base_ns, ids)
            records = _logs_prepared(batch, principal)
            _write(principal, batch, records)
            spans += len(batch)
            logs += len(records)
            if time.monotonic() - last_report > 0.5:
                out.put(("progress", index, spans, logs))
                last_report = time.monotonic()
        connections.close_all()
        out.put(("progress", index, spans, logs))
        out.put(("done", index, spans, logs))
    except BaseException:  # report anything (also KeyboardInterrupt) to the parent, which stops the run
        out.put(("error", index, traceback.format_exc()))
