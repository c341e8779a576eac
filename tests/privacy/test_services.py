"""GDPR find / export / delete across spans, logs and metrics, and the rollups after a deletion."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.db import transaction

from apps.audit.models import AuditEntry
from apps.otlp.types import Span
from apps.privacy import services
from apps.privacy.services import PrivacyError, UserTelemetry, value_digest
from apps.tracing import histogram, queries
from apps.tracing.erasure import match_sql
from apps.tracing.rollups import compact_rollups
from apps.tracing.writers import write_spans
from tests.conftest import Tenant
from tests.privacy.data import NOW_NS, fetch, seed, user_trace

U1 = UserTelemetry(spans=10, logs=4, metric_series=1, metric_points=3)
U2 = UserTelemetry(spans=9, logs=4, metric_series=1, metric_points=3)


def find(tenant: Tenant, value: str, key: str = "enduser.id") -> UserTelemetry:
    return services.find_user_telemetry(tenant.organization.pk, None, key, value)


def window() -> tuple[datetime, datetime]:
    moment = datetime.fromtimestamp(NOW_NS / 1e9, tz=UTC)
    return moment - timedelta(minutes=30), moment + timedelta(minutes=30)


def expected_red(spans: list[Span]) -> dict[tuple[Any, ...], tuple[int, int, int, dict[int, int]]]:
    out: dict[tuple[Any, ...], list[Any]] = {}
    for s in spans:
        row = out.setdefault((s.resource.service_name, s.name, s.kind), [0, 0, 0, {}])
        duration = s.end_ns - s.start_ns
        row[0] += 1
        row[1] += s.status_code == 2
        row[2] += duration
        h = histogram.bucket_index(duration)
        row[3][h] = row[3].get(h, 0) + 1
    return {k: (c, e, d, h) for k, (c, e, d, h) in out.items()}


def expected_edges(spans: list[Span]) -> dict[tuple[str, str, str], tuple[int, int, int, dict[int, int]]]:
    by_id = {s.span_id: s for s in spans}
    out: dict[tuple[str, str, str], list[Any]] = {}
    for s in spans:
        keys = []
        parent = by_id.get(s.parent_span_id) if s.parent_span_id else None
        if parent and parent.resource.service_name != s.resource.service_name:
            keys.append((parent.resource.service_name, s.resource.service_name, "service"))
        if s.kind == 3 and "db.system" in s.attributes:
            keys.append(
                (s.resource.service_name, f"{s.attributes['db.system']}:{s.attributes['db.namespace']}", "database")
            )
        for key in keys:
            row = out.setdefault(key, [0, 0, 0, {}])
            duration = s.end_ns - s.start_ns
            row[0] += 1
            row[1] += s.status_code == 2
            row[2] += duration
            h = histogram.bucket_index(duration)
            row[3][h] = row[3].get(h, 0) + 1
    return {k: (c, e, d, h) for k, (c, e, d, h) in out.items()}


def stored_rollups(
    tenant: Tenant, family: str, unit: str
) -> dict[tuple[Any, ...], tuple[int, int, int, dict[int, int]]]:
    keys = (
        "service_name, operation, span_kind, request_count"
        if family == "red"
        else ("source_service, target, target_kind, call_count")
    )
    rows = fetch(
        f"SELECT {keys}, error_count, duration_sum_ns, histogram FROM tracing_{family}_{unit} "  # noqa: S608
        "WHERE organization_id = %s",
        tenant.organization.pk,
    )
    out: dict[tuple[Any, ...], list[Any]] = {}
    for *key, count, errors, duration, packed in rows:
        row = out.setdefault(tuple(key), [0, 0, 0, {}])
        row[0] += count
        row[1] += errors
        row[2] += duration
        histogram.add_packed(row[3], packed)
    return {k: (c, e, d, h) for k, (c, e, d, h) in out.items()}


@pytest.mark.django_db(transaction=True)
def test_find_counts_each_users_telemetry_in_the_organization(alice: Tenant, bob: Tenant) -> None:
    seed(alice)
    assert find(alice, "u-1") == U1
    assert find(alice, "u-2") == U2
    assert find(bob, "u-1") == UserTelemetry()
    assert services.find_user_telemetry(alice.organization.pk, alice.project.pk, "enduser.id", "u-1") == U1
    # user.email is not promoted: read from the attributes (logs and metrics do not carry it here)
    assert find(alice, "u-1@example.org", "user.email") == UserTelemetry(spans=10)
    assert find(alice, "nobody") == UserTelemetry()


def test_subject_is_checked(settings: Any) -> None:
    with pytest.raises(PrivacyError, match=r"user\.email"):
        services.check_subject("http.method", "GET")
    with pytest.raises(PrivacyError, match="non-empty"):
        services.check_subject("enduser.id", "")
    settings.VIGIL_PRIVACY_EXTRA_USER_KEYS = ["app.customer_id"]
    services.check_subject("app.customer_id", "c-7")
    assert services.user_keys() == ["enduser.id", "user.id", "user.email", "app.customer_id"]


def test_enduser_id_uses_the_promoted_column() -> None:
    assert "s.enduser_id = %(value)s" in match_sql("enduser.id")
    assert "enduser_id" not in match_sql("user.email")


@pytest.mark.django_db(transaction=True)
def test_export_writes_json_lines_of_one_user_and_is_audited(alice: Tenant, bob: Tenant) -> None:
    seed(alice)
    seed(bob)
    out = io.StringIO()
    progress: list[tuple[int, int]] = []
    result = services.export_user_telemetry(
        alice.organization.pk, None, "enduser.id", "u-1", out, actor=alice.owner,
        progress=lambda done, total: progress.append((done, total)),
    )  # fmt: skip
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    assert result.counts == U1
    assert not result.truncated
    kinds = [line["kind"] for line in lines]
    assert kinds.count("span") == 10
    assert kinds.count("log") == 4
    assert kinds.count("metric_series") == 1
    assert kinds.count("metric_point") == 3
    assert {line["project"] for line in lines} == {"app"}
    for line in lines:
        if line["kind"] in ("span", "log", "metric_series"):
            assert line["record"]["attributes"]["enduser.id"] == "u-1"
    span = next(line["record"] for line in lines if line["kind"] == "span")
    assert {"trace_id", "span_id", "service", "resource", "events"} <= set(span)
    assert [line["record"]["value"] for line in lines if line["kind"] == "metric_point"] == [0, 1, 2]
    assert progress[-1] == (18, 18)
    entry = AuditEntry.objects.for_organization(alice.organization.pk).get(action="privacy.exported")
    assert entry.after == {"key": "enduser.id", "value_sha256": value_digest("u-1"), "project": None,
                           **U1.as_dict(), "truncated": False}  # fmt: skip
    assert "u-1" not in json.dumps(entry.after)
    assert entry.actor_id == alice.owner.pk


@pytest.mark.django_db(transaction=True)
def test_export_stops_at_the_limit(alice: Tenant) -> None:
    seed(alice)
    out = io.StringIO()
    result = services.export_user_telemetry(alice.organization.pk, None, "enduser.id", "u-1", out, limit=5)
    assert result.truncated
    assert len(out.getvalue().splitlines()) == 5
    assert result.counts.total == 5


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("batch_size", [2, 5000])
def test_delete_removes_one_user_and_corrects_the_rollups(alice: Tenant, bob: Tenant, batch_size: int) -> None:
    spans = seed(alice)
    compact_rollups()  # some of the rollups folded, ...
    late = user_trace("u-1", 2) + user_trace("u-2", 2)
    with transaction.atomic():  # ... some still deltas when the deletion starts
        write_spans(alice.organization.pk, alice.project.pk, late)
    spans += late
    seed(bob)
    start, end = window()
    before = {
        row["service"]: row["request_count"]
        for row in queries.services(alice.organization.pk, alice.project.pk, start, end)
    }
    logs_before = fetch(
        "SELECT sum(record_count) FROM logs_count_minute WHERE organization_id = %s", alice.organization.pk
    )

    deleted = services.delete_user_telemetry(
        alice.organization.pk, None, "enduser.id", "u-1", actor=alice.owner, batch_size=batch_size
    )

    assert deleted == UserTelemetry(spans=13, logs=4, metric_series=1, metric_points=3)
    assert find(alice, "u-1") == UserTelemetry()
    assert find(alice, "u-2") == UserTelemetry(spans=12, logs=4, metric_series=1, metric_points=3)
    assert find(bob, "u-1") == U1  # the other organization's user of the same id is untouched
    # services(): request counts drop by the deleted SERVER spans (4 roots in frontend, 5 children in checkout)
    after = {
        row["service"]: row["request_count"]
        for row in queries.services(alice.organization.pk, alice.project.pk, start, end)
    }
    assert after == {"frontend": before["frontend"] - 4, "checkout": before["checkout"] - 5}
    # every rollup equals what the remaining raw spans give (no sampling here), histograms included
    kept = [s for s in spans if s.attributes.get("enduser.id") != "u-1"]
    compact_rollups()
    for unit in ("minute", "hour"):
        assert stored_rollups(alice, "red", unit) == expected_red(kept)
        assert stored_rollups(alice, "edge", unit) == expected_edges(kept)
    assert fetch("SELECT count(*) FROM tracing_pending_edge WHERE organization_id = %s", alice.organization.pk) == [
        (0,)
    ]
    logs_after = fetch(
        "SELECT sum(record_count) FROM logs_count_minute WHERE organization_id = %s", alice.organization.pk
    )
    assert logs_after[0][0] == logs_before[0][0] - 4
    assert fetch("SELECT series_count FROM metrics_series_count WHERE organization_id = %s", alice.organization.pk) == [
        (2,)
    ]
    orphans = fetch(
        "SELECT count(*) FROM metrics_rollup_minute m WHERE m.organization_id = %s AND NOT EXISTS (SELECT 1 FROM "
        "metrics_series s WHERE s.organization_id = m.organization_id AND s.series_hash = m.series_hash)",
        alice.organization.pk,
    )
    assert orphans == [(0,)]
    entry = AuditEntry.objects.for_organization(alice.organization.pk).get(action="privacy.deleted")
    assert entry.after == {
        "key": "enduser.id",
        "value_sha256": value_digest("u-1"),
        "project": None,
        **deleted.as_dict(),
    }
    assert not AuditEntry.objects.for_organization(bob.organization.pk).filter(action="privacy.deleted").exists()


@pytest.mark.django_db(transaction=True)
def test_delete_in_one_project_leaves_the_others(alice: Tenant) -> None:
    from apps.tenants import services as tenant_services

    other = tenant_services.create_project(alice.organization.pk, alice.owner, name="Other")
    seed(alice)
    with transaction.atomic():
        write_spans(alice.organization.pk, other.pk, user_trace("u-1", 0))
    deleted = services.delete_user_telemetry(alice.organization.pk, alice.project.pk, "enduser.id", "u-1")
    assert deleted == UserTelemetry(spans=10, logs=4, metric_series=1, metric_points=3)
    assert services.find_user_telemetry(alice.organization.pk, other.pk, "enduser.id", "u-1") == UserTelemetry(spans=3)
    entry = AuditEntry.objects.for_organization(alice.organization.pk).get(action="privacy.deleted")
    assert entry.after["project"] == "app"
    assert entry.target_id == str(alice.project.pk)
    with pytest.raises(PrivacyError, match="Unknown project"):
        services.find_user_telemetry(alice.organization.pk, 10**9, "enduser.id", "u-1")
