"""The log writer: stored once, counted once, searchable."""

from __future__ import annotations

import json
import os
import time
from typing import Any

import pytest
from django.db import connection, transaction

from apps.logs.queries import search_logs
from apps.logs.writers import write_logs
from apps.otlp.types import LogRecord, Resource, Scope
from tests.conftest import Tenant

NOW_NS = time.time_ns()
RESOURCE = Resource({"service.name": "checkout", "host.name": "web-1"})
OTHER = Resource({"service.name": "frontend"})
SCOPE = Scope("shop.logging", "1.0", {"lib": "std"})


def make_log(
    body: Any, severity: int = 9, *, resource: Resource = RESOURCE, offset_ns: int = 0, **kw: Any
) -> LogRecord:
    return LogRecord(
        resource=resource,
        scope=SCOPE,
        time_ns=kw.pop("time_ns", NOW_NS + offset_ns),
        observed_time_ns=kw.pop("observed_time_ns", NOW_NS + offset_ns + 1000),
        severity_number=severity,
        severity_text=kw.pop("severity_text", "INFO"),
        body=body,
        attributes=kw.pop("attributes", {"user.id": "u-1"}),
        **kw,
    )


def write(tenant: Tenant, logs: list[LogRecord]) -> int:
    with transaction.atomic():
        return write_logs(tenant.organization.pk, tenant.project.pk, logs).inserted


def fetch(sql: str, *params: Any) -> list[tuple[Any, ...]]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


@pytest.mark.django_db(transaction=True)
def test_retried_batch_is_stored_and_counted_once(alice: Tenant) -> None:
    logs = [make_log(f"order {i} paid", severity=9 + (i % 3) * 4, offset_ns=i) for i in range(30)]
    assert write(alice, logs) == 30
    assert write(alice, logs) == 0  # the retry
    assert write(alice, [*logs[:5], make_log("a new one", offset_ns=99)]) == 1  # partly new
    org = alice.organization.pk
    assert fetch("SELECT count(*) FROM logs_record WHERE organization_id = %s", org) == [(31,)]
    counts = fetch(
        "SELECT severity, sum(record_count) FROM logs_count_minute WHERE organization_id = %s GROUP BY 1 ORDER BY 1",
        org,
    )
    assert counts == [(9, 11), (13, 10), (17, 10)]


@pytest.mark.django_db(transaction=True)
def test_bodies_of_every_type_and_missing_time(alice: Tenant) -> None:
    bodies = ["plain text", 42, 2.5, True, ["a", 1], {"event": "login", "ok": True}, {"$bytes": "AAE="}, None]
    write(alice, [make_log(body, offset_ns=i) for i, body in enumerate(bodies)])
    write(alice, [make_log("observed only", time_ns=0, observed_time_ns=NOW_NS + 500)])
    found = search_logs(alice.organization.pk, alice.project.pk, limit=100)
    canonical = json.JSONEncoder(sort_keys=True).encode
    assert sorted(canonical(r["body"]) for r in found) == sorted(canonical(b) for b in [*bodies, "observed only"])
    observed = next(r for r in found if r["body"] == "observed only")
    assert observed["time_unix_nano"] == 0
    assert observed["observed_time_unix_nano"] == NOW_NS + 500
    assert found[0]["resource"] == RESOURCE.attributes
    assert found[0]["scope"] == {"name": "shop.logging", "version": "1.0", "attributes": {"lib": "std"}}


@pytest.mark.django_db(transaction=True)
def test_search_filters(alice: Tenant, bob: Tenant) -> None:
    trace_id, span_id = os.urandom(16), os.urandom(8)
    write(
        alice,
        [
            make_log("payment declined: card 42", severity=17, trace_id=trace_id, span_id=span_id, offset_ns=1),
            make_log({"msg": "Payment retried"}, severity=13, offset_ns=2),
            make_log("cart loaded", severity=9, resource=OTHER, offset_ns=3),
            make_log("100% done_ok", severity=5, offset_ns=4),
        ],
    )
    write(bob, [make_log("payment declined", severity=17)])
    org, project = alice.organization.pk, alice.project.pk

    def bodies(**filters: Any) -> list[Any]:
        return [r["body"] for r in search_logs(org, project, **filters)]

    assert bodies() == ["100% done_ok", "cart loaded", {"msg": "Payment retried"}, "payment declined: card 42"]
    assert bodies(q="PAYMENT") == [{"msg": "Payment retried"}, "payment declined: card 42"]
    assert bodies(q="100%") == ["100% done_ok"]
    assert bodies(q="0%_") == []  # % and _ are literal
    assert bodies(severity_min=13) == [{"msg": "Payment retried"}, "payment declined: card 42"]
    assert bodies(service="frontend") == ["cart loaded"]
    assert bodies(trace_id=trace_id) == ["payment declined: card 42"]
    assert bodies(limit=2) == ["100% done_ok", "cart loaded"]
    stored = search_logs(org, project, trace_id=trace_id)[0]
    assert (stored["trace_id"], stored["span_id"]) == (trace_id.hex(), span_id.hex())
