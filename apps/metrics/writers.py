"""Writing metric points: series (with the per-project cap), points by COPY, rollups from what was new.

- A series is identified by a 16-byte blake2b of (name, kind, unit, temporality, monotonic,
  attributes, resource fingerprint, scope name). Points are keyed (series, time), so a retried
  request inserts nothing (``ON CONFLICT DO NOTHING``) and the rollups, fed from ``RETURNING``,
  count each point once.
- The series cap (``VIGIL_METRICS_MAX_SERIES_PER_PROJECT``) is checked against a per-project counter
  row (``metrics_series_count``) that the same transaction updates. Only a batch that brings new
  series locks that row; points of known series never wait for it. Points of new series beyond the
  cap are rejected and reported (partial success) with the metric names.
- Rollups are merged in Python (``rollups.py``): rows that are new are inserted, rows that exist are
  locked in key order, merged and updated, so concurrent writers neither lose counts nor deadlock.
The caller owns the transaction: the receiver answers success only after it commits.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import msgspec
from django.conf import settings
from django.db import connection

from apps.core.partitions import ensure_partitions_for
from apps.metrics.rollups import ROLLUP_COLUMNS, Rollup, Series, contribution
from apps.otlp.jsonb import jsonb
from apps.otlp.resources import Fingerprints, upsert_resources
from apps.otlp.staging import clear_stage, stage_rows
from apps.otlp.types import MetricKind, MetricPoint
from apps.otlp.values import hex_id

STAGE = "_vigil_metric_stage"
PARTITIONED = ("metrics_point", "metrics_rollup_minute", "metrics_rollup_hour")
ROLLUP_TABLES = (("metrics_rollup_minute", "minute"), ("metrics_rollup_hour", "hour"))
COLUMNS = (
    "organization_id", "project_id", "series_hash", "time", "time_ns", "start_time_ns", "flags", "value", "value_int",
    "count", "sum", "min", "max", "bucket_counts", "explicit_bounds", "scale", "zero_count", "zero_threshold",
    "positive_offset", "positive_counts", "negative_offset", "negative_counts", "quantiles", "exemplars",
)  # fmt: skip
_TYPES = (
    "int8", "int8", "bytea", "timestamptz", "int8", "int8", "int4", "float8", "int8", "int8", "float8", "float8",
    "float8", "int8[]", "float8[]", "int4", "int8", "float8", "int4", "int8[]", "int4", "int8[]", "jsonb", "jsonb",
)  # fmt: skip
# The raw fields a cumulative point is compared with (its predecessor), in this order.
PREVIOUS_FIELDS = (
    "time_ns", "start_time_ns", "value", "count", "sum", "min", "max", "bucket_counts", "explicit_bounds", "scale",
    "zero_count", "zero_threshold", "positive_offset", "positive_counts", "negative_offset", "negative_counts",
)  # fmt: skip
I64_MAX = 2**63 - 1

_encode = msgspec.json.Encoder(order="sorted")


@dataclass(frozen=True)
class WriteResult:
    received: int
    inserted: int
    rejected: int = 0
    message: str = ""

    @property
    def duplicates(self) -> int:
        return self.received - self.inserted - self.rejected


def series_hash(point: MetricPoint, resource_fingerprint: bytes) -> bytes:
    payload = _encode.encode(
        [point.name, point.kind, point.unit, point.temporality, point.monotonic, point.attributes,
         resource_fingerprint, point.scope.name]
    )  # fmt: skip
    return hashlib.blake2b(payload, digest_size=16).digest()


def _u64(value: int) -> int:
    return value if value <= I64_MAX else I64_MAX


def _counts(values: list[int]) -> list[int]:
    return [_u64(v) for v in values] if values and max(values) > I64_MAX else values


def _exemplar(e: Any) -> dict[str, Any]:
    return {
        "time_unix_nano": e.time_ns,
        "value": e.value,
        "filtered_attributes": e.attributes,
        "trace_id": hex_id(e.trace_id),
        "span_id": hex_id(e.span_id),
    }


def point_row(organization_id: int, project_id: int, p: MetricPoint, series: bytes) -> tuple[Any, ...]:
    kind = p.kind
    value = p.value
    exp = kind == MetricKind.EXPONENTIAL_HISTOGRAM
    distribution = kind in (MetricKind.HISTOGRAM, MetricKind.EXPONENTIAL_HISTOGRAM, MetricKind.SUMMARY)
    return (
        organization_id,
        project_id,
        series,
        datetime.fromtimestamp(p.time_ns / 1e9, tz=UTC),
        p.time_ns,
        p.start_ns,
        p.flags,
        None if value is None else float(value),
        value if isinstance(value, int) and not isinstance(value, bool) else None,
        _u64(p.count) if distribution else None,
        p.sum if distribution else None,
        p.min,
        p.max,
        _counts(p.bucket_counts) if kind == MetricKind.HISTOGRAM else None,
        p.explicit_bounds if kind == MetricKind.HISTOGRAM else None,
        p.scale if exp else None,
        _u64(p.zero_count) if exp else None,
        p.zero_threshold if exp else None,
        p.positive_offset if exp else None,
        _counts(p.positive_counts) if exp else None,
        p.negative_offset if exp else None,
        _counts(p.negative_counts) if exp else None,
        jsonb([{"quantile": q, "value": v} for q, v in p.quantiles]) if kind == MetricKind.SUMMARY else None,
        jsonb([_exemplar(e) for e in p.exemplars]) if p.exemplars else None,
    )


def _series_row(organization_id: int, project_id: int, key: bytes, p: MetricPoint, fp: bytes) -> tuple[Any, ...]:
    return (organization_id, project_id, key, p.kind, p.temporality, p.monotonic, fp, p.name, p.description, p.unit,
            p.scope.name, p.scope.version, jsonb(p.attributes))  # fmt: skip


def _existing(cursor: Any, organization_id: int, project_id: int, keys: list[bytes]) -> set[bytes]:
    cursor.execute(
        "SELECT series_hash FROM metrics_series WHERE organization_id = %s AND project_id = %s "
        "AND series_hash = ANY(%s)",
        [organization_id, project_id, keys],
    )
    return {bytes(row[0]) for row in cursor.fetchall()}


def _admit_series(
    cursor: Any, organization_id: int, project_id: int, first: dict[bytes, tuple[MetricPoint, bytes]]
) -> set[bytes]:
    """Store the batch's new series within the cap; returns the series whose points are refused."""
    new = [key for key in first if key not in _existing(cursor, organization_id, project_id, list(first))]
    if not new:
        return set()
    # Serialize the writers that add series to this project; re-check under the lock.
    cursor.execute(
        "INSERT INTO metrics_series_count (organization_id, project_id, series_count) "
        "SELECT %s, %s, count(*) FROM metrics_series WHERE organization_id = %s AND project_id = %s "
        "AND NOT EXISTS (SELECT 1 FROM metrics_series_count WHERE organization_id = %s AND project_id = %s) "
        "ON CONFLICT DO NOTHING",
        [organization_id, project_id] * 3,
    )
    cursor.execute(
        "SELECT series_count FROM metrics_series_count WHERE organization_id = %s AND project_id = %s FOR UPDATE",
        [organization_id, project_id],
    )
    stored = cursor.fetchone()[0]
    already = _existing(cursor, organization_id, project_id, new)
    new = [key for key in new if key not in already]
    room = max(settings.VIGIL_METRICS_MAX_SERIES_PER_PROJECT - stored, 0)
    admitted, refused = new[:room], set(new[room:])
    if admitted:
        rows = [_series_row(organization_id, project_id, key, *first[key]) for key in sorted(admitted)]
        cursor.executemany(
            "INSERT INTO metrics_series (organization_id, project_id, series_hash, kind, temporality, monotonic, "
            "resource_fingerprint, name, description, unit, scope_name, scope_version, attributes) "
            "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s) ON CONFLICT DO NOTHING",
            rows,
        )
        # Under the counter lock nobody else adds series to this project, so every admitted row is new.
        cursor.execute(
            "UPDATE metrics_series_count SET series_count = series_count + %s "
            "WHERE organization_id = %s AND project_id = %s",
            [len(admitted), organization_id, project_id],
        )
    return refused


def _refusal_message(refused_points: list[MetricPoint]) -> str:
    names = sorted({p.name for p in refused_points})
    shown = ", ".join(names[:5]) + (f" and {len(names) - 5} more" if len(names) > 5 else "")
    limit = settings.VIGIL_METRICS_MAX_SERIES_PER_PROJECT
    return (
        f"series limit {limit} reached for this project; rejected {len(refused_points)} points of new series of {shown}"
    )


_PREVIOUS = f"""
SELECT u.h, {", ".join("p." + f for f in PREVIOUS_FIELDS)}
FROM unnest(%s::bytea[], %s::timestamptz[]) AS u(h, t)
CROSS JOIN LATERAL (
    SELECT * FROM metrics_point p
    WHERE p.organization_id = %s AND p.project_id = %s AND p.series_hash = u.h
      AND p.time < u.t AND p.time >= u.t - interval '2 days'
    ORDER BY p.time DESC LIMIT 1
) p
"""  # noqa: S608 (fixed column names)


def _previous_points(
    cursor: Any, organization_id: int, project_id: int, first_times: dict[bytes, datetime]
) -> dict[bytes, dict[str, Any]]:
    """For each cumulative series, its latest stored point before this batch's first (2 days back at most)."""
    if not first_times:
        return {}
    keys = sorted(first_times)
    cursor.execute(_PREVIOUS, [keys, [first_times[k] for k in keys], organization_id, project_id])
    return {bytes(row[0]): dict(zip(PREVIOUS_FIELDS, row[1:], strict=True)) for row in cursor.fetchall()}


def _raw(row: tuple[Any, ...]) -> dict[str, Any]:
    """A staged row as the fields ``contribution`` reads."""
    named = dict(zip(COLUMNS, row, strict=True))
    return {f: named[f] for f in PREVIOUS_FIELDS}


def _bucket(moment: datetime, unit: str) -> datetime:
    if unit == "minute":
        return moment.replace(second=0, microsecond=0)
    return moment.replace(minute=0, second=0, microsecond=0)


def _roll_up(
    cursor: Any, organization_id: int, project_id: int, inserted: list[tuple[Any, ...]], kinds: dict[bytes, Series]
) -> None:
    by_series: dict[bytes, list[tuple[Any, ...]]] = {}
    for row in inserted:
        by_series.setdefault(row[2], []).append(row)
    cumulative_first = {
        key: min(r[3] for r in rows)
        for key, rows in by_series.items()
        if kinds[key].temporality == 2 and kinds[key].kind != MetricKind.GAUGE
    }
    previous = _previous_points(cursor, organization_id, project_id, cumulative_first)
    buckets: dict[str, dict[tuple[bytes, datetime], Rollup]] = {unit: {} for _, unit in ROLLUP_TABLES}
    for key, rows in by_series.items():
        rows.sort(key=lambda r: r[4])
        before = previous.get(key)
        for row in rows:
            point = _raw(row)
            part = contribution(kinds[key], point, before)
            before = point
            for unit, found in buckets.items():
                slot = (key, _bucket(row[3], unit))
                if slot in found:
                    found[slot].merge(part)
                else:
                    found[slot] = Rollup()
                    found[slot].merge(part)
    for table, unit in ROLLUP_TABLES:
        _upsert_rollups(cursor, table, organization_id, project_id, buckets[unit])


def _upsert_rollups(
    cursor: Any, table: str, organization_id: int, project_id: int, rollups: dict[tuple[bytes, datetime], Rollup]
) -> None:
    """Insert the buckets that are new; lock, merge and update the others (all in key order)."""
    if not rollups:
        return
    slots = sorted(rollups)
    columns = ", ".join(ROLLUP_COLUMNS)
    placeholders = ", ".join(["%s"] * (4 + len(ROLLUP_COLUMNS)))
    # executemany with returning=True keeps one result set per row: None when the row existed.
    cursor.executemany(
        f"INSERT INTO {table} (organization_id, project_id, series_hash, bucket, {columns}) "  # noqa: S608 (fixed names)
        f"VALUES ({placeholders}) ON CONFLICT DO NOTHING RETURNING series_hash, bucket",
        [(organization_id, project_id, key, bucket, *rollups[(key, bucket)].row()) for key, bucket in slots],
        returning=True,
    )
    created: set[tuple[bytes, datetime]] = set()
    while True:
        for row in cursor.fetchall():
            created.add((bytes(row[0]), row[1]))
        if not cursor.nextset():
            break
    existing = [slot for slot in slots if slot not in created]
    if not existing:
        return
    cursor.execute(
        f"SELECT series_hash, bucket, {columns} FROM {table} "  # noqa: S608 (fixed names)
        "WHERE organization_id = %s AND project_id = %s AND (series_hash, bucket) IN "
        "(SELECT * FROM unnest(%s::bytea[], %s::timestamptz[])) ORDER BY series_hash, bucket FOR UPDATE",
        [organization_id, project_id, [k for k, _ in existing], [b for _, b in existing]],
    )
    merged = []
    for row in cursor.fetchall():
        slot = (bytes(row[0]), row[1])
        stored = Rollup(*row[2:])
        stored.merge(rollups[slot])
        merged.append((*stored.row(), organization_id, project_id, slot[0], slot[1]))
    assignments = ", ".join(f"{c} = %s" for c in ROLLUP_COLUMNS)
    cursor.executemany(
        f"UPDATE {table} SET {assignments} "  # noqa: S608 (fixed names)
        "WHERE organization_id = %s AND project_id = %s AND series_hash = %s AND bucket = %s",
        merged,
    )


def write_metrics(organization_id: int, project_id: int, points: Sequence[MetricPoint]) -> WriteResult:
    """Store ``points`` of one project within the series cap and roll them up; call in ``transaction.atomic()``."""
    if not points:
        return WriteResult(0, 0)
    fingerprints = Fingerprints()
    keyed = []
    first: dict[bytes, tuple[MetricPoint, bytes]] = {}
    for p in points:
        fp = fingerprints.of(p.resource)
        key = series_hash(p, fp)
        keyed.append((p, key))
        first.setdefault(key, (p, fp))
    refused_points: list[MetricPoint] = []
    with connection.cursor() as cursor:
        raw = cursor.cursor  # psycopg's own cursor: executemany(returning=True) and nextset()
        refused = _admit_series(raw, organization_id, project_id, first)
        if refused:
            refused_points = [p for p, key in keyed if key in refused]
            keyed = [(p, key) for p, key in keyed if key not in refused]
        rows = [point_row(organization_id, project_id, p, key) for p, key in keyed]
        kinds = {key: Series(p.kind, p.temporality, p.monotonic) for key, (p, _) in first.items()}
        inserted_rows: list[tuple[Any, ...]] = []
        if rows:
            ensure_partitions_for(PARTITIONED, {row[3].date() for row in rows})
            upsert_resources(raw, organization_id, project_id, fingerprints.resources.items())
            stage_rows(raw, stage=STAGE, like="metrics_point", columns=COLUMNS, types=_TYPES, rows=rows)
            raw.execute(
                f"INSERT INTO metrics_point SELECT * FROM {STAGE} ORDER BY series_hash, time "  # noqa: S608 (fixed names)
                "ON CONFLICT DO NOTHING RETURNING series_hash, time_ns"
            )
            new = {(bytes(h), t) for h, t in raw.fetchall()}
            clear_stage(raw, STAGE)
            seen: set[tuple[bytes, int]] = set()
            for row in rows:
                slot = (row[2], row[4])
                if slot in new and slot not in seen:  # two points of one series at one time: the first is stored
                    seen.add(slot)
                    inserted_rows.append(row)
            _roll_up(raw, organization_id, project_id, inserted_rows, kinds)
    return WriteResult(
        received=len(points),
        inserted=len(inserted_rows),
        rejected=len(refused_points),
        message=_refusal_message(refused_points) if refused_points else "",
    )
