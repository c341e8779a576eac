"""Per-project ingest rate limit: items (spans, log records, points) per second, counted in Redis."""

from __future__ import annotations

import threading
import time

import redis
from django.conf import settings

# A process reserves at least this share of a project's limit at a time (or a request's items, if more): one Redis
# round trip per few requests instead of one per request (~0.4 µs of CPU per span at saturation, py-spy of
# bench/ingest.py). What a process reserved and did not use is lost with its second, so with N processes a project
# can be refused up to N / _SHARE of its limit early; never more than its limit is accepted.
_SHARE = 16


class RateLimited(Exception):
    def __init__(self, retry_after: int) -> None:
        super().__init__("rate limited")
        self.retry_after = retry_after


_clients: dict[str, redis.Redis] = {}


def _client() -> redis.Redis:
    """One pooled client per Redis URL (thread-safe), so each check is one round trip on a warm connection."""
    client = _clients.get(settings.REDIS_URL)
    if client is None:
        client = _clients.setdefault(settings.REDIS_URL, redis.Redis.from_url(settings.REDIS_URL, socket_timeout=2))
    return client


class _Reserved:
    """Items of one project's current second this process has counted in Redis and not yet used."""

    __slots__ = ("left", "limit", "second")

    def __init__(self, second: int, limit: int, left: int) -> None:
        self.second = second
        self.limit = limit  # the limit it was reserved under: a changed setting starts anew
        self.left = left


_lock = threading.Lock()
_reserved: dict[int, _Reserved] = {}


def charge(project_id: int, items: int) -> None:
    """Count ``items`` against the project's current one-second window; RateLimited when over the limit.

    A fixed window shared by every ingest process: coarse, but bursts up to twice the limit across a window
    boundary do not hurt the database. Requests are served from what this process reserved of the window
    (``_SHARE``); when that runs short, one pipelined INCRBY + EXPIRE reserves more.
    """
    limit = settings.VIGIL_INGEST_RATE_LIMIT_PER_SECOND
    if limit <= 0 or items <= 0:
        return
    second = int(time.time())
    with _lock:
        reserved = _reserved.get(project_id)
        if reserved is not None and (reserved.second, reserved.limit) == (second, limit) and reserved.left >= items:
            reserved.left -= items
            return
    take = max(items, limit // _SHARE)
    prefix = settings.CACHES["default"].get("KEY_PREFIX", "vigil")  # keeps test and dev counts apart
    key = f"{prefix}:ingest-rate:{project_id}:{second}"
    client = _client()
    pipeline = client.pipeline(transaction=False)
    pipeline.incrby(key, take)
    pipeline.expire(key, 5)
    used, _ = pipeline.execute()
    before = int(used) - take  # counted by every process before this reservation
    if before + items > limit:
        client.decrby(key, take)  # a refused request uses none of the limit
        raise RateLimited(retry_after=1)
    spare = min(take, limit - before) - items  # the reservation's part within the limit, after this request
    with _lock:
        reserved = _reserved.get(project_id)
        if reserved is None or (reserved.second, reserved.limit) != (second, limit):
            _reserved[project_id] = _Reserved(second, limit, spare)
        else:  # another thread of this process reserved meanwhile: keep both
            reserved.left += spare
