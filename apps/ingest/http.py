"""OTLP/HTTP receiver: POST /v1/traces (and /v1/logs, /v1/metrics as their stores arrive), as a raw ASGI app.

Why not a Django view: ingest needs none of the session, CSRF or template middleware,
and Django's ASGI handler buffers the whole body before a view runs. Here the body
is read with the size limit enforced while it arrives, an admission limit bounds the
requests in flight (so memory stays bounded under any load), and the blocking part
(decode, write, commit) runs in a worker thread. Every refusal carries a status a
client can act on: 401 key, 400 bad data, 413 too big, 415 wrong type, 429 rate
limit, 503 overloaded or database unavailable (both with Retry-After). Success is
answered only after the commit.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from django.conf import settings
from django.db import DataError, InterfaceError, OperationalError, close_old_connections

from apps.core.request_stats import REQUEST_STATS
from apps.ingest import pipeline, ratelimit
from apps.ingest.auth import IngestAuthError, authenticate
from apps.ingest.body import JSON, BodyError, decompress, media_type
from apps.ingest.responses import export_response, status_body
from apps.otlp.types import DecodeError

logger = logging.getLogger("vigil.ingest")

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]

ROUTES = {f"/v1/{signal}": signal for signal in pipeline.SIGNALS}

# gRPC status codes carried in google.rpc.Status error bodies
_GRPC_CODE = {400: 3, 401: 16, 405: 12, 413: 8, 415: 3, 429: 8, 503: 14}


class Refusal(Exception):
    def __init__(self, status: int, message: str, retry_after: int | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.retry_after = retry_after


class _Admission:
    """Requests this process works on at once; beyond it, 503 at once. Used from the event loop only."""

    def __init__(self) -> None:
        self.inflight = 0

    def try_enter(self) -> bool:
        if self.inflight >= settings.VIGIL_INGEST_MAX_CONCURRENCY:
            return False
        self.inflight += 1
        return True

    def leave(self) -> None:
        self.inflight -= 1


ADMISSION = _Admission()


def is_ingest_path(path: str) -> bool:
    return path.startswith("/v1/")


async def _read_body(receive: Receive, limit: int) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise Refusal(400, "The client disconnected before sending the whole body.")
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise Refusal(413, f"The body is larger than {limit} bytes. Send smaller batches.")
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


def _process(signal: str, headers: dict[str, str], media: str, raw: bytes) -> pipeline.Outcome:
    """The blocking part, in a worker thread: auth, decompress, decode, rate limit, write and commit."""
    close_old_connections()
    try:
        principal = authenticate(headers)
        body = decompress(raw, headers.get("content-encoding", ""), settings.VIGIL_INGEST_MAX_BODY_BYTES)
        return pipeline.ingest_request(principal, signal, media, body)
    finally:
        close_old_connections()


async def _handle(scope: Scope, receive: Receive, signal: str, headers: dict[str, str]) -> tuple[int, str, bytes]:
    if scope["method"] != "POST":
        raise Refusal(405, "Send telemetry with POST.")
    try:
        media = media_type(headers.get("content-type", ""))
    except BodyError as exc:
        raise Refusal(exc.status, str(exc)) from exc
    limit = settings.VIGIL_INGEST_MAX_BODY_BYTES
    declared = headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise Refusal(413, f"The body is {declared} bytes; the limit is {limit} bytes. Send smaller batches.")
    retry = settings.VIGIL_INGEST_RETRY_AFTER_SECONDS
    if not ADMISSION.try_enter():
        raise Refusal(503, "Vigil is busy ingesting; retry after the delay in Retry-After.", retry)
    try:
        raw = await _read_body(receive, limit)
        # The loop's thread pool, as asgiref's sync_to_async(thread_sensitive=False) uses, without its per-call
        # wrapping (inspecting the function, re-homing locals: 2-3 % of an ingest process's CPU). Each request
        # runs in a new empty context, so nothing set by one (a tenant scope) is seen by the next in that thread.
        run = contextvars.Context().run
        outcome = await asyncio.get_running_loop().run_in_executor(None, run, _process, signal, headers, media, raw)
    except IngestAuthError as exc:
        raise Refusal(401, str(exc)) from exc
    except BodyError as exc:
        raise Refusal(exc.status, str(exc)) from exc
    except DecodeError as exc:
        raise Refusal(400, str(exc)) from exc
    except ratelimit.RateLimited as exc:
        raise Refusal(429, "This project sends more than its ingest rate limit; slow down.", exc.retry_after) from exc
    except DataError as exc:  # a value PostgreSQL refuses: retrying would fail the same way
        logger.error("ingest refused: the database rejected a value", exc_info=True)
        raise Refusal(400, f"A value in the request cannot be stored: {exc}".splitlines()[0]) from exc
    except (OperationalError, InterfaceError) as exc:
        logger.warning("ingest refused: database unavailable or slow", exc_info=True)
        raise Refusal(503, "The database is unavailable or slow; nothing was stored. Retry later.", retry) from exc
    finally:
        ADMISSION.leave()
    return 200, media, export_response(signal, media, outcome.rejected, outcome.message)


async def otlp_http_app(scope: Scope, receive: Receive, send: Send) -> None:
    """ASGI app for the OTLP/HTTP paths; config/asgi.py routes ``/v1/`` here."""
    started = time.perf_counter()
    path = scope["path"]
    headers = {key.decode("latin-1").lower(): value.decode("latin-1") for key, value in scope["headers"]}
    extra: list[tuple[bytes, bytes]] = []
    signal = ROUTES.get(path)
    try:
        if signal is None:
            raise Refusal(404, f"No OTLP endpoint at {path}; use {', '.join(sorted(ROUTES))}.")
        status, media, body = await _handle(scope, receive, signal, headers)
    except Refusal as refusal:
        status = refusal.status
        media = JSON if "json" in headers.get("content-type", "") or refusal.status == 415 else "application/x-protobuf"
        body = status_body(media, _GRPC_CODE.get(status, 13), str(refusal))
        if refusal.retry_after is not None:
            extra.append((b"retry-after", str(refusal.retry_after).encode()))
        if status == 405:
            extra.append((b"allow", b"POST"))
    except Exception:  # a bug: answer in the OTLP error shape, log it, never show a trace
        logger.exception("ingest failed unexpectedly")
        status, media = 500, JSON if "json" in headers.get("content-type", "") else "application/x-protobuf"
        body = status_body(media, 13, "Internal error while ingesting; it has been logged.")
    response_headers = [(b"content-type", media.encode()), (b"content-length", str(len(body)).encode()), *extra]
    await send({"type": "http.response.start", "status": status, "headers": response_headers})
    await send({"type": "http.response.body", "body": body})
    REQUEST_STATS.observe(scope["method"], path if signal else "unmatched", status, time.perf_counter() - started)
