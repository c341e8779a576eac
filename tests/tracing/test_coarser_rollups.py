"""Ten-minute and six-hour rollups: folded with the minute and hour ones, corrected by GDPR erasure, rebuilt by the
migration; the totals read from them equal those of the minute (or hour) rows they replace."""

from __future__ import annotations

import importlib
import os
import random
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.db import connection, transaction

from apps.otlp.types import Resource, Scope, Span, SpanKind, StatusCode
from apps.tracing import histogram, queries
from apps.tracing.rollups import compact_rollups
from apps.tracing.writers import write_spans
from tests.conftest import Tenant

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
KEYS = {"red": "service_name, operation, span_kind", "edge": "source_service, target, target_kind"}
COUNT = {"red": "request_count", "edge": "call_count"}
LEVELS = {"tenmin": ("minute", 600), "sixhour": ("hour", 6 * 3600)}  # level: (the finer table it sums, seconds)
NOW_NS = time.time_ns()


def calls(rng: random.Random, start_ns: int) -> list[Span]:
    """frontend → checkout (→ postgresql), durations and errors varying."""
    trace_id = os.urandom(16)
    root = Span(resource=Resource({"service.name": "frontend"}), scope=Scope("t"), trace_id=trace_id,
                span_id=os.urandom(8), parent_span_id=None, name="GET /", kind=SpanKind.SERVER, start_ns=start_ns,
                end_ns=start_ns + rng.randrange(1, 400) * 1_000_000, attributes={},
                status_code=StatusCode.ERROR if rng.random() < 0.1 else StatusCode.UNSET)  # fmt: skip
    child = Span(resource=Resource({"service.name": "checkout"}), scope=Scope("t"), trace_id=trace_id,
                 span_id=os.urandom(8), parent_span_id=root.span_id, name="POST /pay", kind=SpanKind.SERVER,
                 start_ns=start_ns + 1000, end_ns=start_ns + rng.randrange(1, 300) * 1_000_000, attributes={},
                 status_code=StatusCode.UNSET)  # fmt: skip
    db = Span(resource=Resource({"service.name": "checkout"}), scope=Scope("t"), trace_id=trace_id,
              span_id=os.urandom(8), parent_span_id=child.span_id, name="SELECT", kind=SpanKind.CLIENT,
              start_ns=start_ns + 2000, end_ns=start_ns + rng.randrange(1, 50) * 1_000_000,
              attributes={"db.system": "postgresql", "db.namespace": "shop"}, status_code=StatusCode.UNSET)  # fmt: skip
    return [root, child, db]


def write(tenant: Tenant, spans: list[Span]) -> None:
    with transaction.atomic():
        write_spans(tenant.organization.pk, tenant.project.pk, spans)


def traffic(tenant: Tenant, hours: float = 8, every_s: float = 97, *, fold_every: int = 60) -> None:
    """Calls every ``every_s`` seconds over the last ``hours``, folded now and then (as the beat job does); the
    newest ones are left as deltas."""
    rng = random.Random(7)
    moments = [NOW_NS - int(i * every_s * 1e9) for i in range(int(hours * 3600 / every_s))]
    for i, moment in enumerate(moments):
        write(tenant, calls(rng, moment))
        if i % fold_every == fold_every - 1:
            compact_rollups()


def fetch(sql: str, *params: Any) -> list[tuple[Any, ...]]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


Sums = dict[tuple[Any, ...], tuple[int, int, int, dict[int, int]]]


def level_rows(family: str, table: str, seconds: int | None = None) -> Sums:
    """The rows of ``tracing_{family}_{table}`` by (bucket, key), or summed into buckets of ``seconds``."""
    rows = fetch(f"SELECT bucket, {KEYS[family]}, {COUNT[family]}, error_count, duration_sum_ns, histogram "  # noqa: S608
                 f"FROM tracing_{family}_{table}")  # fmt: skip
    out: dict[tuple[Any, ...], list[Any]] = {}
    for stored, a, b, c, count, errors, duration, packed in rows:
        whole = (stored - EPOCH) // timedelta(seconds=seconds) * seconds if seconds else None
        bucket = stored if whole is None else EPOCH + timedelta(seconds=whole)
        sums = out.setdefault((bucket, a, b, c), [0, 0, 0, {}])
        sums[0] += count
        sums[1] += errors
        sums[2] += duration
        histogram.add_packed(sums[3], packed)
    return {key: (c, e, d, h) for key, (c, e, d, h) in out.items()}


def assert_levels_sum_their_finer_rows() -> None:
    for family in ("red", "edge"):
        for level, (finer, seconds) in LEVELS.items():
            assert level_rows(family, level) == level_rows(family, finer, seconds), (family, level)
        assert level_rows(family, "hour") == level_rows(family, "minute", 3600)


def reference_totals(family: str, start: datetime, end: datetime, keys: tuple[str, ...]) -> Sums:
    """What summing the rows of ``_rollup_table`` (bucket in [start, end)) and the deltas gives: the totals as read
    before the coarser levels."""
    table = queries._rollup_table(family, start, end)
    columns = f"{', '.join(keys)}, {COUNT[family]}, error_count, duration_sum_ns, histogram"
    rows = fetch(
        f"SELECT {columns} FROM {table} WHERE bucket >= %s AND bucket < %s "  # noqa: S608
        f"UNION ALL SELECT {columns} FROM tracing_{family}_delta WHERE bucket >= %s AND bucket < %s",
        start, end, start, end,
    )  # fmt: skip
    out: dict[tuple[Any, ...], list[Any]] = {}
    for row in rows:
        sums = out.setdefault(tuple(row[: len(keys)]), [0, 0, 0, {}])
        for i in range(3):
            sums[i] += row[len(keys) + i]
        histogram.add_packed(sums[3], row[-1])
    return {key: (c, e, d, h) for key, (c, e, d, h) in out.items()}


@pytest.mark.django_db(transaction=True)
def test_folding_fills_every_level_with_the_sums_of_the_finer_one(alice: Tenant) -> None:
    traffic(alice)
    compact_rollups()
    assert level_rows("red", "tenmin")
    assert_levels_sum_their_finer_rows()


@pytest.mark.django_db(transaction=True)
def test_totals_from_the_coarsest_rows_equal_the_finer_rows(alice: Tenant) -> None:
    traffic(alice, hours=13, every_s=151)  # with deltas not folded yet
    tenant = {"org": alice.organization.pk, "project": alice.project.pk}
    now = datetime.fromtimestamp(NOW_NS / 1e9, tz=UTC)
    ranges = [
        (now - timedelta(hours=1), now + timedelta(seconds=1)),  # minutes, ten-minute spans
        (now - timedelta(hours=5, minutes=47, seconds=3), now - timedelta(minutes=2)),  # whole hours too
        (now - timedelta(minutes=7, seconds=30), now - timedelta(minutes=2)),  # minutes only
        (now - timedelta(hours=13), now + timedelta(seconds=1)),  # hours, six-hour spans
        (now - timedelta(hours=12, minutes=59), now - timedelta(hours=6, minutes=50)),
    ]
    for start, end in ranges:
        for family, keys in (("red", ("service_name", "operation", "span_kind")), ("edge", ("source_service",
                             "target", "target_kind"))):  # fmt: skip
            totals = queries._rollup_totals(family, start, end, keys=", ".join(keys), params=tenant)
            assert totals == reference_totals(family, start, end, keys), (family, start, end)
    pieces = {table for table, _, _ in queries._total_pieces("red", *ranges[1])}
    assert {"tracing_red_minute", "tracing_red_tenmin", "tracing_red_hour"} <= pieces
    assert "tracing_red_sixhour" in {table for table, _, _ in queries._total_pieces("red", *ranges[3])}
    # services() counts only the requests, and names the services without any
    listed = {row["service"]: row["request_count"] for row in queries.services(alice.organization.pk,
              alice.project.pk, *ranges[0])}  # fmt: skip
    expected = reference_totals("red", *ranges[0], ("service_name", "span_kind"))
    assert listed == {
        name: sum(c for (service, kind), (c, *_) in expected.items() if service == name and kind == SpanKind.SERVER)
        for name in {service for service, _ in expected}
    }


@pytest.mark.django_db(transaction=True)
def test_gdpr_erasure_corrects_every_level(alice: Tenant) -> None:
    from apps.privacy import services as privacy
    from tests.privacy.data import seed
    from tests.privacy.test_services import expected_edges, expected_red, stored_rollups

    spans = seed(alice)
    compact_rollups()
    privacy.delete_user_telemetry(alice.organization.pk, None, "enduser.id", "u-1", batch_size=2)
    kept = [s for s in spans if s.attributes.get("enduser.id") != "u-1"]
    compact_rollups()
    for level in ("minute", "tenmin", "hour", "sixhour"):
        assert stored_rollups(alice, "red", level) == expected_red(kept), level
        assert stored_rollups(alice, "edge", level) == expected_edges(kept), level


@pytest.mark.django_db(transaction=True)
def test_the_migration_fills_the_new_levels_from_the_folded_rows(alice: Tenant) -> None:
    traffic(alice, hours=7, every_s=311)
    compact_rollups()
    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE tracing_red_tenmin, tracing_red_sixhour, tracing_edge_tenmin, tracing_edge_sixhour")
    migration = importlib.import_module("apps.tracing.migrations.0006_coarser_rollups")

    class Editor:
        pass

    editor = Editor()
    editor.connection = connection  # type: ignore[attr-defined]
    with transaction.atomic():  # as a migration runs
        migration.backfill(None, editor)
    assert level_rows("edge", "sixhour")
    assert_levels_sum_their_finer_rows()
