"""Partitions ahead, expired partitions dropped, per-project retention, pending edges resolved."""

from __future__ import annotations

import os
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.db import connection

from apps.core.partitions import existing_partitions, partition_name
from apps.ops.maintenance import maintain
from apps.tenants.models import Project
from apps.tracing.maintenance import resolve_pending_edges
from apps.tracing.rollups import compact_rollups
from tests.conftest import Tenant
from tests.tracing.test_writers import RESOURCE_A, fetch, make_span, write

DAY_NS = 86_400 * 10**9


def spans_by_age(tenant: Tenant) -> list[int]:
    rows = fetch(
        "SELECT (extract(epoch FROM now() - start_time) / 86400)::int FROM tracing_span "
        "WHERE organization_id = %s ORDER BY 1",
        tenant.organization.pk,
    )
    return [days for (days,) in rows]


@pytest.mark.django_db(transaction=True)
def test_maintain_creates_partitions_ahead_and_drops_expired_ones(alice: Tenant) -> None:
    now_ns = time.time_ns()
    write(alice, [make_span(RESOURCE_A, "old", start_ns=now_ns - 20 * DAY_NS)])
    write(alice, [make_span(RESOURCE_A, "recent", start_ns=now_ns - 1 * DAY_NS)])
    report = maintain()
    today = datetime.now(tz=UTC).date()
    names = [name for name, _ in existing_partitions("tracing_span")]
    assert partition_name("tracing_span", today + timedelta(days=3)) in names
    assert partition_name("tracing_span", today - timedelta(days=20)) not in names
    assert partition_name("tracing_span", today - timedelta(days=20)) in report.dropped
    assert spans_by_age(alice) == [1]


@pytest.mark.django_db(transaction=True)
def test_shorter_project_retention_deletes_only_that_projects_rows(alice: Tenant, bob: Tenant) -> None:
    now_ns = time.time_ns()
    for tenant in (alice, bob):
        write(tenant, [make_span(RESOURCE_A, f"d{d}", start_ns=now_ns - d * DAY_NS) for d in (1, 5)])
    Project.objects.unscoped().filter(pk=alice.project.pk).update(span_retention_days=2)
    report = maintain()
    assert spans_by_age(alice) == [1]
    assert spans_by_age(bob) == [1, 5]
    assert report.deleted_rows["tracing_span"] == 1


@pytest.mark.django_db(transaction=True)
def test_pending_edges_of_racing_transactions_are_resolved_later(alice: Tenant, settings: Any) -> None:
    trace_id = os.urandom(16)
    parent = make_span(RESOURCE_A, "GET /", trace_id=trace_id)
    write(alice, [parent])
    child_span_id = os.urandom(8)
    with connection.cursor() as cursor:  # what the child's transaction wrote, not having seen the parent
        cursor.execute(
            "INSERT INTO tracing_pending_edge VALUES (%s, %s, %s, %s, %s, 'checkout', now(), 5000000, true)",
            [alice.organization.pk, alice.project.pk, trace_id, parent.span_id, child_span_id],
        )
        cursor.execute(
            "INSERT INTO tracing_pending_edge VALUES (%s, %s, %s, %s, %s, 'checkout', now() - interval '2 hours', "
            "1000, false)",
            [alice.organization.pk, alice.project.pk, os.urandom(16), os.urandom(8), os.urandom(8)],
        )
    assert resolve_pending_edges() == (1, 1)
    compact_rollups()
    edges = fetch(
        "SELECT source_service, target, call_count, error_count FROM tracing_edge_hour WHERE organization_id = %s",
        alice.organization.pk,
    )
    assert edges == [("frontend", "checkout", 1, 1)]
    assert fetch("SELECT count(*) FROM tracing_pending_edge") == [(0,)]
