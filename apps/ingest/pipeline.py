"""The ingest pipeline, one small step each: decode → limit → scrub → write (committed) → outcome.

Both transports (the OTLP/HTTP app and the gRPC servicer) authenticate the key and call
``ingest_request`` with the (decompressed) body; only the framing around it differs.
"""

from __future__ import annotations

import gc
import hashlib
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

from django.conf import settings
from django.db import connection, transaction

from apps.errors.writers import record_errors
from apps.ingest import decode_json, decode_protobuf, group_commit, ratelimit
from apps.ingest.auth import IngestPrincipal
from apps.ingest.body import JSON
from apps.ingest.limits import AttributeLimits, limit_decoded
from apps.ingest.scrub import Scrubber
from apps.ingest.services import rules_of_project
from apps.live.arrivals import announce
from apps.logs.writers import write_logs
from apps.metrics.writers import write_metrics
from apps.otlp.types import Decoded
from apps.tracing.writers import StoredBefore, write_spans

Decoder = Callable[[bytes], Decoded]


@dataclass(frozen=True)
class Signal:
    name: str
    decode_protobuf: Decoder
    decode_json: Decoder


SIGNALS = {
    "traces": Signal("traces", decode_protobuf.decode_traces, decode_json.decode_traces),
    "logs": Signal("logs", decode_protobuf.decode_logs, decode_json.decode_logs),
    "metrics": Signal("metrics", decode_protobuf.decode_metrics, decode_json.decode_metrics),
}


@dataclass(frozen=True)
class Outcome:
    accepted: int
    rejected: int
    message: str


def _reject_outside_retention(decoded: Decoded) -> None:
    """Spans older than the stores keep, or from the future, would land in no partition: reject them."""
    now = time.time_ns()
    oldest = now - settings.VIGIL_INGEST_MAX_AGE_DAYS * 86_400 * 10**9
    newest = now + settings.VIGIL_INGEST_MAX_FUTURE_SECONDS * 10**9
    kept = [span for span in decoded.spans if oldest <= span.start_ns <= newest]
    if len(kept) != len(decoded.spans):
        decoded.reject(
            len(decoded.spans) - len(kept),
            f"spans must start within the last {settings.VIGIL_INGEST_MAX_AGE_DAYS} days and not in the future",
        )
        decoded.spans = kept


_local = threading.local()


def scrubber(principal: IngestPrincipal) -> Scrubber:
    """The project's scrubber (its custom rules on top of the defaults), per worker thread.

    A scrubber keeps per-request state and warm caches, so threads do not share one. Rules are
    re-read after VIGIL_INGEST_KEY_CACHE_SECONDS, so a new rule applies within that time; while they are
    unchanged the scrubber is kept, with what it has learnt (a new one looks at every value it has not
    seen in the Python path: ~15 % of a benchmark request's spans on their first sighting, 1-2 % once warm).
    """
    cache: dict[int, tuple[float, Scrubber, tuple[object, ...]]] = getattr(_local, "scrubbers", None) or {}
    _local.scrubbers = cache
    found = cache.get(principal.project_id)
    if found is None or found[0] < time.monotonic():
        rules = rules_of_project(principal.organization_id, principal.project_id)
        inputs = (*rules, settings.VIGIL_SCRUB_CLIENT_IPS)
        if found is not None and found[2] == inputs:
            built = found[1]
        else:
            secret = hashlib.sha256(f"{settings.SECRET_KEY}:scrub:{principal.project_id}".encode()).digest()
            built = Scrubber(rules, scrub_ips=settings.VIGIL_SCRUB_CLIENT_IPS, hash_secret=secret)
        found = (time.monotonic() + settings.VIGIL_INGEST_KEY_CACHE_SECONDS, built, inputs)
        cache[principal.project_id] = found
    return found[1]


def attribute_limits() -> AttributeLimits:
    return AttributeLimits(
        count=settings.VIGIL_ATTRIBUTE_COUNT_LIMIT, value_length=settings.VIGIL_ATTRIBUTE_VALUE_LENGTH_LIMIT
    )


def configure_transaction() -> None:
    """Settings of an ingest transaction, local to it: a slow database answers 503 (retry later) instead of
    holding the sender forever, and the writers' prepared statements (apps/core/prepared.py) keep one generic
    plan (planned per request, the partitions they reach cost more to plan than to run)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT set_config('statement_timeout', %s, true), "
            "set_config('plan_cache_mode', 'force_generic_plan', true)",
            [str(settings.VIGIL_INGEST_STATEMENT_TIMEOUT_MS)],
        )


def ingest_decoded(principal: IngestPrincipal, decoded: Decoded) -> Outcome:
    """Limit and write one decoded request for ``principal``'s project; returns after the commit."""
    _reject_outside_retention(decoded)
    limit_decoded(decoded, attribute_limits())
    scrubber(principal).scrub_decoded(decoded)  # before anything is written
    if settings.VIGIL_INGEST_GROUP_COMMIT and decoded.spans and not decoded.logs and not decoded.metrics:
        project = (principal.organization_id, principal.project_id)
        accepted = len(decoded.spans)  # counted first: the spans are freed once written
        group_commit.write_together(project, decoded, partial(_write_retrying, principal))
        return Outcome(accepted=accepted, rejected=decoded.rejected, message=decoded.rejection_reason)
    return _write_retrying(principal, decoded)


def _write_retrying(
    principal: IngestPrincipal, decoded: Decoded, before_commit: Callable[[], None] | None = None
) -> Outcome:
    try:
        return _write(principal, decoded, optimistic=True, before_commit=before_commit)
    except StoredBefore:  # a retried request: rolled back, written again leaving out what is stored
        return _write(principal, decoded, optimistic=False, before_commit=before_commit)


def _write(
    principal: IngestPrincipal, decoded: Decoded, *, optimistic: bool, before_commit: Callable[[], None] | None
) -> Outcome:
    """One transaction with everything of ``decoded``; the spans first (an optimistic write fails before the rest).
    ``before_commit()`` is called when everything is written, just before the commit."""
    accepted = 0
    # COPY goes around Django's cursor wrapper; this turns psycopg's errors into django.db's all the same.
    with connection.wrap_database_errors, transaction.atomic():
        configure_transaction()
        if decoded.spans:
            write_spans(principal.organization_id, principal.project_id, decoded.spans, optimistic=optimistic)
            accepted += len(decoded.spans)
            announce(principal.organization_id, principal.project_id, "spans", len(decoded.spans))
        if decoded.logs:
            write_logs(principal.organization_id, principal.project_id, decoded.logs)
            accepted += len(decoded.logs)
            announce(principal.organization_id, principal.project_id, "logs", len(decoded.logs))
        if decoded.spans or decoded.logs:  # exceptions become issues (apps/errors), in the same transaction
            record_errors(principal.organization_id, principal.project_id, decoded.spans, decoded.logs)
        if decoded.metrics:
            written = write_metrics(principal.organization_id, principal.project_id, decoded.metrics)
            accepted += len(decoded.metrics) - written.rejected
            announce(principal.organization_id, principal.project_id, "metrics", len(decoded.metrics))
            if written.rejected:  # new series beyond the project's cap: partial success naming the metrics
                decoded.rejected += written.rejected
                decoded.rejection_reason = "; ".join(m for m in (decoded.rejection_reason, written.message) if m)
        if before_commit is not None:
            before_commit()
    return Outcome(accepted=accepted, rejected=decoded.rejected, message=decoded.rejection_reason)


def tune_garbage_collector() -> None:
    """Tune the cyclic garbage collector of a process that ingests; call once, after start-up imports.

    A 512-span request allocates ~20,000 objects (spans, attribute dicts, rows), none in cycles, yet at the
    default gen-0 threshold (700) the collector ran ~30 times per request and its older generations rescanned
    everything Django had loaded. Freezing what start-up loaded and collecting every 50,000 allocations cut
    decoding and row building by a third (docs/benchmarks.md, "Ingest"); cycles are still collected, less often.
    """
    gc.freeze()
    gc.set_threshold(50_000, 20, 20)


def ingest_request(principal: IngestPrincipal, signal: str, media: str, body: bytes) -> Outcome:
    """Decode a (decompressed) body of ``media`` type, charge the rate limit and ingest it.

    Raises DecodeError for bad bodies, RateLimited over the project's limit, and database errors.
    """
    spec = SIGNALS[signal]
    decoded = spec.decode_json(body) if media == JSON else spec.decode_protobuf(body)
    ratelimit.charge(principal.project_id, len(decoded.spans) + len(decoded.logs) + len(decoded.metrics))
    return ingest_decoded(principal, decoded)
