"""Login rate limiting: a fixed window per client address and per username, in Redis."""

from __future__ import annotations

import time

from django.conf import settings
from django.core.cache import cache


def _keys(ip: str | None, username: str) -> list[str]:
    return [f"login-fail:ip:{ip or '-'}", f"login-fail:user:{username.strip().lower()}"]


def seconds_locked(ip: str | None, username: str) -> int:
    """0 when a sign-in may be tried; otherwise how many seconds to wait."""
    limit = settings.VIGIL_LOGIN_MAX_ATTEMPTS
    waits = []
    for key in _keys(ip, username):
        if (cache.get(key) or 0) >= limit:
            until = cache.get(f"{key}:until") or time.time() + settings.VIGIL_LOGIN_WINDOW_SECONDS
            waits.append(max(int(until - time.time()) + 1, 1))
    return max(waits, default=0)


def note_failure(ip: str | None, username: str) -> None:
    """Count one failed attempt; the window starts at the first failure."""
    window = settings.VIGIL_LOGIN_WINDOW_SECONDS
    for key in _keys(ip, username):
        if cache.add(key, 1, timeout=window):
            cache.set(f"{key}:until", time.time() + window, timeout=window)
            continue
        try:
            cache.incr(key)
        except ValueError:  # the window expired between add and incr
            cache.add(key, 1, timeout=window)


def clear_username(username: str) -> None:
    """After a successful sign-in the username's count restarts; the address's does not."""
    key = _keys(None, username)[1]
    cache.delete_many([key, f"{key}:until"])
