"""Deliver one notification through one channel: retries with backoff for transient errors only.

``DeliveryResult`` is flat and JSON-ready so the delivery log (``models.Delivery``) stores it field for
field (``dataclasses.asdict``); a permanent failure disables the channel (``services``).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any, Literal

from apps.notifications.message import Notification
from apps.notifications.transports import registry
from apps.notifications.transports.base import Delivery, DeliveryError

logger = logging.getLogger(__name__)

ERROR_CHARS = 500


@dataclass(frozen=True)
class DeliveryResult:
    kind: str
    status: Literal["sent", "failed"]
    permanent: bool  # failed and sending it again cannot help (always False when sent)
    attempts: int
    latency_ms: float  # of the last attempt, the one the response belongs to (its duration without one)
    response_status: int | None  # HTTP status of the last attempt, None without an answer (or for SMTP)
    response_excerpt: str  # start of the last answer, secrets removed
    error: str  # "" when sent
    remote_id: str = ""  # what the service created: PagerDuty dedup_key, Twilio message SID, Message-ID

    def as_log_fields(self) -> dict[str, Any]:
        return asdict(self)


def deliver(
    kind: str,
    config: Mapping[str, Any],
    notification: Notification,
    *,
    attempts: int = 4,
    backoff: Sequence[float] = (1, 4, 16),
    sleep: Callable[[float], None] = time.sleep,
) -> DeliveryResult:
    """Send with up to ``attempts`` tries; before try n+1 wait ``backoff[n-1]`` (the last one repeats).

    A service's ``Retry-After`` is honoured when it asks for longer (capped in the transport layer).
    Runs in a Celery task, so the waits block a worker: the defaults add up to 21 s at most.
    """
    try:
        transport = registry.get(kind)
    except KeyError as exc:
        return _failed(kind, permanent=True, attempts=0, error=str(exc.args[0]), latency=0.0)
    return attempt(kind, lambda: transport.send(config, notification), attempts=attempts, backoff=backoff, sleep=sleep)


def attempt(
    kind: str,
    send: Callable[[], Delivery],
    *,
    attempts: int = 4,
    backoff: Sequence[float] = (1, 4, 16),
    sleep: Callable[[float], None] = time.sleep,
) -> DeliveryResult:
    """``deliver``'s retries around any one send: a digest email is sent through it too."""
    for number in range(1, attempts + 1):
        started = time.perf_counter()
        try:
            delivery = send()
        except DeliveryError as exc:
            if exc.permanent or number == attempts:
                elapsed = exc.latency_ms if exc.latency_ms is not None else _since(started)
                return _failed(
                    kind, permanent=exc.permanent, attempts=number, error=exc.message, exc=exc, latency=elapsed
                )
            delay = backoff[min(number - 1, len(backoff) - 1)] if backoff else 0.0
            if exc.retry_after is not None:
                delay = max(delay, exc.retry_after)
            logger.info("%s delivery attempt %d failed (%s); retrying in %.1fs", kind, number, exc.message, delay)
            sleep(delay)
        except Exception as exc:
            # A bug in a transport, not the service's answer: retrying will not fix it, and it must not
            # count against the channel (not permanent), so the log shows it and the channel stays enabled.
            logger.exception("%s transport raised unexpectedly", kind)
            error = f"internal error: {type(exc).__name__}"
            return _failed(kind, permanent=False, attempts=number, error=error, latency=_since(started))
        else:
            return DeliveryResult(
                kind=kind,
                status="sent",
                permanent=False,
                attempts=number,
                latency_ms=round(delivery.latency_ms, 3),
                response_status=delivery.response_status,
                response_excerpt=delivery.response_excerpt,
                error="",
                remote_id=delivery.remote_id,
            )
    raise ValueError("attempts must be at least 1")


def _since(started: float) -> float:
    return (time.perf_counter() - started) * 1000


def _failed(
    kind: str, *, permanent: bool, attempts: int, error: str, latency: float, exc: DeliveryError | None = None
) -> DeliveryResult:
    return DeliveryResult(
        kind=kind,
        status="failed",
        permanent=permanent,
        attempts=attempts,
        latency_ms=round(latency, 3),
        response_status=exc.response_status if exc is not None else None,
        response_excerpt=exc.response_excerpt if exc is not None else "",
        error=error[:ERROR_CHARS],
    )
