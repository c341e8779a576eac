"""Which project a request writes to: decided by its ingest key only, never by a header naming a tenant."""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass

from django.conf import settings

from apps.tenants.services import authenticate_ingest_key


@dataclass(frozen=True)
class IngestPrincipal:
    organization_id: int
    project_id: int
    key_id: int


class IngestAuthError(Exception):
    """Missing or unusable key; the message tells the sender what to fix (401)."""


def key_from_headers(headers: Mapping[str, str]) -> str:
    """``Authorization: Bearer <key>`` or ``x-vigil-key: <key>`` (gRPC metadata uses the same names)."""
    authorization = headers.get("authorization", "")
    if authorization[:7].lower() == "bearer ":
        return authorization[7:].strip()
    return headers.get("x-vigil-key", "").strip()


class _KeyCache:
    """Recently verified keys, so ingest does not query PostgreSQL per request.

    Entries live ``VIGIL_INGEST_KEY_CACHE_SECONDS``: a revoked key stops working within that time.
    Unknown keys are not cached, so a key created a moment ago works at once.
    """

    def __init__(self, size: int = 4096) -> None:
        self._entries: OrderedDict[str, tuple[float, IngestPrincipal]] = OrderedDict()
        self._lock = threading.Lock()
        self._size = size

    def get(self, key: str) -> IngestPrincipal | None:
        with self._lock:
            found = self._entries.get(key)
            if found is None:
                return None
            expires, principal = found
            if expires < time.monotonic():
                del self._entries[key]
                return None
            self._entries.move_to_end(key)
            return principal

    def put(self, key: str, principal: IngestPrincipal) -> None:
        with self._lock:
            self._entries[key] = (time.monotonic() + settings.VIGIL_INGEST_KEY_CACHE_SECONDS, principal)
            self._entries.move_to_end(key)
            while len(self._entries) > self._size:
                self._entries.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


KEY_CACHE = _KeyCache()


def authenticate(headers: Mapping[str, str]) -> IngestPrincipal:
    key = key_from_headers(headers)
    if not key:
        raise IngestAuthError("Send the project's ingest key as 'Authorization: Bearer <key>' or 'x-vigil-key: <key>'.")
    cached = KEY_CACHE.get(key)
    if cached is not None:
        return cached
    found = authenticate_ingest_key(key)
    if found is None:
        raise IngestAuthError(
            "This ingest key is unknown, revoked or expired. Create a key under the project's Ingest keys."
        )
    principal = IngestPrincipal(found.organization_id, found.project_id, found.pk)
    KEY_CACHE.put(key, principal)
    return principal
