"""Per-project ingest rate limit: items (spans, log records, points) per second, counted in Redis."""

from __future__ import annotations

import time

import redis
from django.conf import settings


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


def charge(project_id: int, items: int) -> None:
    """Count ``items`` against the project's current one-second window; RateLimited when over the limit.

    A fixed window shared by every ingest process (one pipelined INCRBY + EXPIRE): coarse, but one
    round trip, and bursts up to twice the limit across a window boundary do not hurt the database.
    """
    limit = settings.VIGIL_INGEST_RATE_LIMIT_PER_SECOND
    if limit <= 0 or items <= 0:
        return
    prefix = settings.CACHES["default"].get("KEY_PREFIX", "vigil")  # keeps test and dev counts apart
    key = f"{prefix}:ingest-rate:{project_id}:{int(time.time())}"
    pipeline = _client().pipeline(transaction=False)
    pipeline.incrby(key, items)
    pipeline.expire(key, 5)
    used, _ = pipeline.execute()
    if int(used) > limit:
        raise RateLimited(retry_after=1)
