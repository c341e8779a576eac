"""Log search: the text filter finds what ILIKE on the body text finds, and a bounded search read in windows newest
first returns the records, order and pages of one statement over the whole range."""

from __future__ import annotations

import importlib
import random
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from apps.logs import queries
from apps.logs.queries import Cursor, search_logs
from apps.logs.writers import body_text, write_logs
from tests.conftest import Tenant
from tests.logs.test_writers import make_log

pytestmark = pytest.mark.django_db

NOW_NS = time.time_ns() // 1000 * 1000
RANGE_END_NS = NOW_NS + 1000
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def moment(ns: int) -> datetime:
    return EPOCH + timedelta(microseconds=ns // 1000)


RANGE_END = moment(RANGE_END_NS)

BODIES: list[Any] = [
    "Straße gesperrt", "STRASSE offen", "ÄRGER im Lager", "ärger ohne Ende", "İstanbul office", "istanbul ofis",
    "ΣΊΣΥΦΟΣ rolls", "σίσυφος again", "Ünïcödé ÇA VA", "100%_done", "100 percent done", "back\\slash", "CamelCase",
    {"Event": "LOGIN", "User": "Ada"}, ["MiXeD", 1], 42, True, None,
]  # fmt: skip
QUERIES = [
    "straße", "STRASSE", "ärger", "ÄRG", "istanbul", "İSTANBUL", "σίσυφος", "ΣΊΣ", "ünïcödé", "ça va", "%_",
    "100%", "_", "\\", "camelcase", '"event":"login"', "mixed", "42", "TRUE", "e",
]  # fmt: skip


def write(tenant: Tenant, records: list[Any]) -> None:
    with transaction.atomic():
        write_logs(tenant.organization.pk, tenant.project.pk, records)


def ilike(texts: list[str], q: str) -> list[str]:
    """The texts that ``ILIKE`` with the search's pattern finds: what ``q`` matched before the text was lowered."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT t FROM unnest(%s::text[]) AS t WHERE t ILIKE %s",
            [texts, queries._like_pattern(q)],
        )
        return sorted(t for (t,) in cursor.fetchall())


def test_text_search_finds_what_ilike_finds(alice: Tenant) -> None:
    write(alice, [make_log(body, offset_ns=-i * 1000) for i, body in enumerate(BODIES)])
    texts = [t for t in map(body_text, BODIES) if t is not None]
    for q in QUERIES:
        found = search_logs(alice.organization.pk, alice.project.pk, q=q, limit=100)
        assert sorted(t for t in map(body_text, (r["body"] for r in found)) if t is not None) == ilike(texts, q), q
    assert len(search_logs(alice.organization.pk, alice.project.pk, q="istanbul")) == 2  # İ lowers to i
    assert len(search_logs(alice.organization.pk, alice.project.pk, q="ärger")) == 2


def test_the_migration_lowers_text_stored_before_it(alice: Tenant) -> None:
    write(alice, [make_log("Disk FULL on Host-7")])
    with connection.cursor() as cursor:  # as the writer stored it before the migration
        cursor.execute("UPDATE logs_record SET body_lower = 'Disk FULL on Host-7' WHERE organization_id = %s",
                       [alice.organization.pk])  # fmt: skip
    assert search_logs(alice.organization.pk, alice.project.pk, q="full") == []
    migration = importlib.import_module("apps.logs.migrations.0002_body_lower")
    with connection.cursor() as cursor:
        cursor.execute(migration.BACKFILL)
    assert [r["body"] for r in search_logs(alice.organization.pk, alice.project.pk, q="full")] == [
        "Disk FULL on Host-7"
    ]


def spread(rng: random.Random) -> list[Any]:
    """Records from an hour before the range to a minute after it, denser near its end, some exactly where windows
    meet and at both bounds, some sharing a microsecond; every third mentions 'needle'."""
    edges = [0, 15, 75, 315, 24 * 60]  # minutes before the end of the range where windows meet
    moments = [RANGE_END_NS - m * 60 * 10**9 for m in edges]
    moments += [RANGE_END_NS - 1000, RANGE_END_NS + 60 * 10**9, RANGE_END_NS - 25 * 3600 * 10**9]
    moments += [RANGE_END_NS - int(rng.random() ** 3 * 25 * 3600 * 10**9) // 1000 * 1000 for _ in range(120)]
    moments += moments[5:15]  # the same microsecond, other records
    records = []
    for i, at in enumerate(moments):
        body = f"request {i} {'NEEDLE found' if i % 3 == 0 else 'nothing'}"
        records.append(make_log(body, time_ns=at, observed_time_ns=at + i, severity=9 + (i % 4) * 4))
    return records


def pages(tenant: Tenant, limit: int, **filters: Any) -> list[list[dict[str, Any]]]:
    """Every page of a search, each continuing below the last record of the one before."""
    out: list[list[dict[str, Any]]] = []
    after: Cursor | None = None
    while True:
        page = search_logs(tenant.organization.pk, tenant.project.pk, limit=limit, after=after, **filters)
        out.append(page)
        if len(page) < limit:
            return out
        after = Cursor.decode(page[-1]["cursor"])


def within(records: list[dict[str, Any]], start: datetime, end: datetime) -> list[dict[str, Any]]:
    return [r for r in records if start <= moment(r["time_unix_nano"]) < end]


@pytest.mark.parametrize("limit", [1, 3, 7, 50, 1000])
def test_windowed_search_equals_one_statement_over_the_range(alice: Tenant, limit: int) -> None:
    write(alice, spread(random.Random(3)))
    org, project = alice.organization.pk, alice.project.pk
    start, end = RANGE_END - timedelta(days=1), RANGE_END
    for filters in ({}, {"q": "needle"}, {"q": "NEEDLE", "severity_min": 13}, {"q": "nowhere"}):
        everything = within(search_logs(org, project, limit=1000, **filters), start, end)  # one statement
        paged = pages(alice, limit, start=start, end=end, **filters)
        assert [r for page in paged for r in page] == everything, filters
        assert all(len(page) == limit for page in paged[:-1])
    inner = (end - timedelta(hours=6), end - timedelta(minutes=15))
    assert search_logs(org, project, start=inner[0], end=inner[1], limit=1000) == within(
        search_logs(org, project, limit=1000), *inner
    )


def test_a_page_filled_by_the_newest_window_is_one_statement(alice: Tenant) -> None:
    write(alice, [make_log(f"recent {i}", time_ns=NOW_NS - i * 10**9) for i in range(5)])
    write(alice, [make_log("an hour ago", time_ns=NOW_NS - 3600 * 10**9)])
    org, project = alice.organization.pk, alice.project.pk
    window = {"start": RANGE_END - timedelta(days=1), "end": RANGE_END}
    with CaptureQueriesContext(connection) as statements:
        found = search_logs(org, project, q="recent", limit=5, **window)
    assert len(found) == 5
    assert len(statements) == 1
    with CaptureQueriesContext(connection) as statements:
        found = search_logs(org, project, limit=6, **window)
    assert [r["body"] for r in found][-1] == "an hour ago"
    assert len(statements) == 2  # the newest 15 minutes, then the hour before them
