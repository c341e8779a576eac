"""The issues list reads occurrence rollups: written with the occurrences (once, also on a retry), corrected by GDPR
erasure, rebuilt by the migration, kept as long as the occurrences; the list equals counting the occurrences."""

from __future__ import annotations

import importlib
import os
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.db import connection, transaction

from apps.core.partitions import registered_tables
from apps.errors import queries
from apps.errors.api.views import step_of
from apps.ingest.auth import IngestPrincipal
from apps.ingest.pipeline import ingest_decoded
from apps.otlp.types import Decoded, Resource, Scope, Span, SpanEvent, SpanKind, StatusCode
from tests.conftest import Tenant

ROLLUPS = (
    "errors_issue_minute", "errors_issue_tenmin", "errors_issue_hour", "errors_issue_service_day",
    "errors_issue_user_day",
)  # fmt: skip
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_COUNTS = (
    "SELECT organization_id, project_id, {}, fingerprint, count(*), max(time) FROM errors_occurrence "
    "GROUP BY 1, 2, 3, 4"
)
_SEEN = (
    "SELECT organization_id, project_id, date_trunc('day', time), fingerprint, {}, min(time), max(time) "
    "FROM errors_occurrence {}GROUP BY 1, 2, 3, 4, 5"
)
# What each rollup holds, computed from the occurrences themselves.
EXPECTED = {
    "errors_issue_minute": _COUNTS.format("date_trunc('minute', time)"),
    "errors_issue_tenmin": _COUNTS.format("date_bin('10 minutes', time, timestamptz 'epoch')"),
    "errors_issue_hour": _COUNTS.format("date_trunc('hour', time)"),
    "errors_issue_service_day": _SEEN.format("service_name", ""),
    "errors_issue_user_day": _SEEN.format("enduser_id", "WHERE enduser_id IS NOT NULL "),
}


def failing(service: str, kind: str, *, ago_s: float, user: str | None) -> Span:
    start = time.time_ns() - int(ago_s * 1e9)
    event = SpanEvent(start + 1000, "exception", {"exception.type": kind, "exception.message": f"{kind} happened"})
    attributes = {"enduser.id": user} if user else {}
    return Span(resource=Resource({"service.name": service}), scope=Scope("tests"), trace_id=os.urandom(16),
                span_id=os.urandom(8), parent_span_id=None, name="GET /", kind=SpanKind.SERVER, start_ns=start,
                end_ns=start + 1_000_000, attributes=attributes, status_code=StatusCode.ERROR,
                events=[event])  # fmt: skip


def ingest(tenant: Tenant, spans: list[Span]) -> None:
    decoded = Decoded()
    decoded.spans = list(spans)
    ingest_decoded(IngestPrincipal(tenant.organization.pk, tenant.project.pk, 0), decoded)


def traffic() -> list[Span]:
    """Three issues over three services and five hours, some without a user, several per minute."""
    spans = []
    for i in range(240):
        ago = 30 + i * 73.7  # every ~74 s over ~5 hours: partial minutes and hours at any range's ends
        kind = ("KeyError", "ValueError", "TimeoutError")[i % 3]
        service = ("cart", "checkout", "search")[(i // 3) % 3]
        user = None if i % 7 == 0 else f"u-{i % 11}"
        spans.append(failing(service, kind, ago_s=ago, user=user))
    return spans


def rows(sql: str) -> list[tuple[Any, ...]]:
    with connection.cursor() as cursor:
        cursor.execute(sql)
        return sorted(cursor.fetchall())


def assert_rollups_match_occurrences() -> None:
    for table, expected in EXPECTED.items():
        assert rows(f"SELECT * FROM {table}") == rows(expected), table  # noqa: S608 (our names)


def counted(tenant: Tenant, start: datetime, end: datetime, step: int) -> dict[str, dict[str, Any]]:
    """The list's figures by counting the occurrences of [start, end) one by one."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT fingerprint, time, service_name, enduser_id FROM errors_occurrence "
            "WHERE organization_id = %s AND project_id = %s AND time >= %s AND time < %s",
            [tenant.organization.pk, tenant.project.pk, start, end],
        )
        found: dict[str, dict[str, Any]] = {}
        for fingerprint, moment, service, user in cursor.fetchall():
            issue = found.setdefault(fingerprint, {"count": 0, "last_seen": moment, "services": set(), "users": set(),
                                                   "slots": {}})  # fmt: skip
            issue["count"] += 1
            issue["last_seen"] = max(issue["last_seen"], moment)
            issue["services"].add(service)
            if user is not None:
                issue["users"].add(user)
            slot = EPOCH + timedelta(seconds=int((moment - EPOCH).total_seconds() // step) * step)
            issue["slots"][slot] = issue["slots"].get(slot, 0) + 1
    return found


def assert_list_equals_counting(tenant: Tenant, start: datetime, end: datetime, step: int) -> int:
    listed = queries.issues(tenant.organization.pk, tenant.project.pk, start, end, statuses=["unresolved"], step=step)
    expected = counted(tenant, start, end, step)
    assert {row["fingerprint"] for row in listed} == set(expected)
    for row in listed:
        issue = expected[row["fingerprint"]]
        assert row["count"] == issue["count"]
        assert row["last_seen"] == issue["last_seen"]
        assert row["services"] == sorted(issue["services"])
        assert row["users"] == len(issue["users"])
        assert {p["time"]: p["count"] for p in row["series"] if p["count"]} == issue["slots"]
        assert sum(p["count"] for p in row["series"]) == row["count"]
        times = [p["time"] for p in row["series"]]
        assert times == [times[0] + timedelta(seconds=step * i) for i in range(len(times))]
        assert times[0] <= start < times[0] + timedelta(seconds=step)
    return sum(row["count"] for row in listed)


@pytest.mark.django_db(transaction=True)
def test_rollups_count_each_stored_occurrence_once_also_on_a_retry(alice: Tenant) -> None:
    spans = traffic()
    ingest(alice, spans[:150])
    ingest(alice, spans[100:])  # a retried request (its first 50 spans were stored already) with new ones
    assert rows("SELECT count(*) FROM errors_occurrence") == [(240,)]
    assert_rollups_match_occurrences()
    assert rows("SELECT sum(occurrences) FROM errors_issue_tenmin") == [(240,)]


@pytest.mark.django_db(transaction=True)
def test_the_list_equals_counting_occurrences_whatever_the_range_and_step(alice: Tenant) -> None:
    ingest(alice, traffic())
    now = datetime.now(tz=UTC)
    ranges = [
        (now - timedelta(hours=1), now),  # minute steps, partial minutes at both ends
        (now - timedelta(hours=5, seconds=17), now - timedelta(minutes=3, seconds=5)),
        (now - timedelta(minutes=7, seconds=30), now - timedelta(minutes=7)),  # inside one minute
        (now - timedelta(days=1), now),  # hour steps: whole hours, minutes and seconds at the ends
    ]
    totals = []
    for start, end in ranges:
        totals.append(assert_list_equals_counting(alice, start, end, step_of(start, end)))
        assert_list_equals_counting(alice, start, end, 3600)
        assert_list_equals_counting(alice, start, end, 120)
    assert totals[0] > 0
    assert totals[-1] == 240
    hour = now.replace(minute=0, second=0, microsecond=0)
    assert_list_equals_counting(alice, hour - timedelta(hours=3), hour, 3600)  # aligned: no occurrence read


@pytest.mark.django_db(transaction=True)
def test_gdpr_erasure_uncounts_the_users_occurrences_from_the_rollups(alice: Tenant) -> None:
    from apps.privacy import services as privacy

    # the user's occurrence is the latest of its minute and hour: those rows must find the other one again
    pair = [failing("cart", "KeyError", ago_s=100, user="u-x"), failing("cart", "KeyError", ago_s=99, user="u-3")]
    ingest(alice, [*traffic(), *pair])
    assert rows("SELECT count(*) FROM errors_issue_user_day WHERE enduser_id = 'u-3'")[0][0] > 0
    deleted = privacy.delete_user_telemetry(alice.organization.pk, None, "enduser.id", "u-3", batch_size=4)
    assert deleted.error_occurrences == 1 + sum(1 for i in range(240) if i % 7 and i % 11 == 3)
    assert_rollups_match_occurrences()  # counts lowered, emptied rows gone, latest occurrences found again
    assert rows("SELECT count(*) FROM errors_issue_user_day WHERE enduser_id = 'u-3'") == [(0,)]
    kept = EPOCH + timedelta(microseconds=pair[0].events[0].time_ns // 1000)
    assert kept in {last_seen for (last_seen,) in rows("SELECT last_seen FROM errors_issue_minute")}
    now = datetime.now(tz=UTC)
    assert assert_list_equals_counting(alice, now - timedelta(days=1), now, 3600) == 242 - deleted.error_occurrences


@pytest.mark.django_db(transaction=True)
def test_the_migration_rebuilds_the_rollups_from_stored_occurrences(alice: Tenant) -> None:
    ingest(alice, traffic())
    with connection.cursor() as cursor:
        cursor.execute(f"TRUNCATE {', '.join(ROLLUPS)}")
    migration = importlib.import_module("apps.errors.migrations.0002_issue_rollups")

    class Editor:
        pass

    editor = Editor()
    editor.connection = connection  # type: ignore[attr-defined]
    with transaction.atomic():  # as a migration runs
        migration.backfill(None, editor)
    assert rows("SELECT sum(occurrences) FROM errors_issue_minute") == [(240,)]
    assert_rollups_match_occurrences()


def test_retention_drops_the_rollups_with_the_occurrences() -> None:
    signals = {table.name: table.signal for table in registered_tables()}
    assert all(signals[table] == signals["errors_occurrence"] for table in ROLLUPS)


@pytest.mark.django_db(transaction=True)
def test_per_project_retention_deletes_rollup_rows_with_the_occurrences(alice: Tenant, bob: Tenant) -> None:
    from apps.ops.maintenance import maintain

    ingest(alice, traffic())
    alice.project.span_retention_days = 1
    alice.project.save()
    bob.project.span_retention_days = 15  # the longest retention keeps the partitions: alice's rows are deleted
    bob.project.save()
    maintain(now=datetime.now(tz=UTC) + timedelta(days=2))
    for table in ("errors_occurrence", *ROLLUPS):
        assert rows(f"SELECT count(*) FROM {table}") == [(0,)], table  # noqa: S608 (our names)
