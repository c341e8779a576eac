"""Per-project ingest rate limit: items (spans, log records, points) per second, counted in Redis."""

from __future__ import annotations

import time

from django.conf import settings
from django.core.cache import cache


class RateLimited(Exception):
    def __init__(self, retry_after: int) -> None:
        super().__init__("rate limited")
        self.retry_after = retry_after


def charge(project_id: int, items: int) -> None:
    """Count ``items`` against the project's current one-second window; RateLimited when over the limit.

    A fixed window is coarse but needs one Redis round trip; bursts up to twice the
    limit across a window boundary are acceptable for protecting the database.
    """
    limit = settings.VIGIL_INGEST_RATE_LIMIT_PER_SECOND
    if limit <= 0 or items <= 0:
        return
    key = f"ingest-rate:{project_id}:{int(time.time())}"
    if cache.add(key, items, timeout=5):
        used = items
    else:
        try:
            used = cache.incr(key, items)
        except ValueError:  # the window expired between add and incr
            cache.add(key, items, timeout=5)
            used = items
    if used > limit:
        raise RateLimited(retry_after=1)
