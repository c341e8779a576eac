"""Resources stored once per project, referenced by fingerprint."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from datetime import datetime

import msgspec
from django.db import transaction
from psycopg import Cursor

from apps.otlp.jsonb import jsonb
from apps.otlp.types import Resource

_encode = msgspec.json.Encoder(order="sorted")


def fingerprint(resource: Resource) -> bytes:
    """16 bytes identifying a resource's content (attributes, dropped count, schema URL)."""
    payload = _encode.encode([resource.attributes, resource.dropped_attributes_count, resource.schema_url])
    return hashlib.blake2b(payload, digest_size=16).digest()


class Fingerprints:
    """Fingerprints of the resources in one batch; resources are shared objects, so hash each once."""

    def __init__(self) -> None:
        self._by_identity: dict[int, bytes] = {}
        self.resources: dict[bytes, Resource] = {}

    def of(self, resource: Resource) -> bytes:
        key = id(resource)
        found = self._by_identity.get(key)
        if found is None:
            found = fingerprint(resource)
            self._by_identity[key] = found
            self.resources.setdefault(found, resource)
        return found


# Resources this process has seen committed, per (organization, project, fingerprint). Resource rows are
# never deleted while their project exists, so a known one needs no INSERT: after the first requests of a
# service instance, a batch writes no resource at all. Bounded: cleared when it grows past _KNOWN_MAX.
_known: set[tuple[int, int, bytes]] = set()
_KNOWN_MAX = 100_000


def upsert_resources(
    cursor: Cursor,
    organization_id: int,
    project_id: int,
    resources: Iterable[tuple[bytes, Resource]],
    first_seen: Mapping[bytes, datetime] | None = None,
) -> None:
    """Insert the resources not stored yet; in fingerprint order so concurrent writers never deadlock.

    ``first_seen`` (per fingerprint: the earliest record time of the batch) dates a new resource by its
    data rather than by its arrival, so a backfill dates a ``service.version`` by when it really ran (the
    service page's deploy markers); without it the arrival time (``now()``) is kept.
    """
    new = sorted(
        ((fp, r) for fp, r in resources if (organization_id, project_id, fp) not in _known), key=lambda item: item[0]
    )
    if not new:
        return
    seen = first_seen or {}
    rows = [
        (organization_id, project_id, fp, r.service_name, jsonb(r.attributes), r.dropped_attributes_count, r.schema_url,
         seen.get(fp))
        for fp, r in new
    ]  # fmt: skip
    cursor.executemany(
        "INSERT INTO otlp_resource (organization_id, project_id, fingerprint, service_name, attributes, "
        "dropped_attributes_count, schema_url, first_seen) VALUES (%s, %s, %s, %s, %s, %s, %s, coalesce(%s, now())) "
        "ON CONFLICT DO NOTHING",
        rows,
    )
    keys = [(organization_id, project_id, fp) for fp, _ in new]

    def remember() -> None:  # only once committed: a rolled-back insert must be retried
        if len(_known) > _KNOWN_MAX:
            _known.clear()
        _known.update(keys)

    transaction.on_commit(remember)


def forget_known() -> None:
    """Forget which resources are stored (when the table was emptied behind this process's back, e.g. by tests)."""
    _known.clear()
