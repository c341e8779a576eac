"""Tail-based sampling: raw spans shrink, RED numbers stay exact, a trace is never split (acceptance 9)."""

from __future__ import annotations

import random
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.db import connection, transaction

from apps.otlp.types import Resource, Scope, Span, SpanKind, StatusCode
from apps.tenants import services as tenant_services
from apps.tracing import queries, sampling
from apps.tracing.rollups import compact_rollups
from apps.tracing.writers import write_spans
from tests.conftest import Tenant, session_client

FRONTEND = Resource({"service.name": "frontend"})
CHECKOUT = Resource({"service.name": "checkout"})
SCOPE = Scope("tests", "1.0")
NOW_NS = time.time_ns()
SHARE = 0.1


def _span(rng: random.Random, trace_id: bytes, resource: Resource, name: str, **kwargs: Any) -> Span:
    start = kwargs.pop("start_ns")
    duration_ms = kwargs.pop("duration_ms")
    return Span(
        resource=resource,
        scope=SCOPE,
        trace_id=trace_id,
        span_id=rng.randbytes(8),
        name=name,
        start_ns=start,
        end_ns=start + int(duration_ms * 1e6),
        attributes={},
        **kwargs,
    )


def generate(seed: int = 11, count: int = 300) -> tuple[list[Span], set[bytes], set[bytes]]:
    """``count`` traces of 3-5 spans over two services: 5 % with an error, 4 % with a slow span (1.5 s)."""
    rng = random.Random(seed)
    spans: list[Span] = []
    errors: set[bytes] = set()
    slow: set[bytes] = set()
    for i in range(count):
        trace_id = rng.randbytes(16)
        start = NOW_NS - rng.randrange(1, 600) * 10**9
        is_error, is_slow = i % 20 == 0, i % 25 == 1
        (errors if is_error else slow if is_slow else set()).add(trace_id)
        root = _span(
            rng, trace_id, FRONTEND, "GET /cart", parent_span_id=None, kind=SpanKind.SERVER,
            start_ns=start, duration_ms=rng.uniform(20, 400),
        )  # fmt: skip
        spans.append(root)
        for j in range(rng.randint(2, 4)):
            resource, name = (CHECKOUT, "POST /pay") if j % 2 == 0 else (FRONTEND, "SELECT cart")
            spans.append(
                _span(
                    rng, trace_id, resource, name, parent_span_id=root.span_id,
                    kind=SpanKind.SERVER if resource is CHECKOUT else SpanKind.CLIENT,
                    start_ns=start + 1_000_000, duration_ms=1500 if (is_slow and j == 0) else rng.uniform(1, 200),
                    status_code=StatusCode.ERROR if (is_error and j == 0) else StatusCode.UNSET,
                )
            )  # fmt: skip
    rng.shuffle(spans)  # the spans of one trace arrive in several requests
    return spans, errors, slow


def write(organization_id: int, project_id: int, spans: list[Span], batch: int = 97) -> None:
    for start in range(0, len(spans), batch):
        with transaction.atomic():
            write_spans(organization_id, project_id, spans[start : start + batch])


def fetch(sql: str, *params: Any) -> list[tuple[Any, ...]]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def stored_per_trace(organization_id: int, project_id: int) -> dict[bytes, int]:
    rows = fetch(
        "SELECT trace_id, count(*) FROM tracing_span WHERE organization_id = %s AND project_id = %s GROUP BY 1",
        organization_id,
        project_id,
    )
    return {bytes(trace_id): n for trace_id, n in rows}


def state_rows(organization_id: int, project_id: int) -> int:
    return fetch(
        "SELECT count(*) FROM tracing_trace_state WHERE organization_id = %s AND project_id = %s",
        organization_id,
        project_id,
    )[0][0]


def red(tenant: Tenant) -> tuple[Any, ...]:
    now = datetime.now(tz=UTC)
    args = (tenant.organization.pk, tenant.project.pk)
    start, end = now - timedelta(hours=1), now + timedelta(minutes=1)
    return (
        queries.services(*args, start, end),
        queries.operations(*args, "frontend", start, end),
        queries.operations(*args, "checkout", start, end),
        queries.service_map(*args, start, end),
    )


@pytest.fixture(autouse=True)
def _fresh_policy_cache() -> Any:
    sampling.forget_policies()
    yield
    sampling.forget_policies()


@pytest.mark.django_db(transaction=True)
def test_sampling_keeps_red_exact_and_traces_whole(alice: Tenant, bob: Tenant) -> None:
    spans, errors, slow = generate()
    per_trace: dict[bytes, int] = {}
    for span in spans:
        per_trace[span.trace_id] = per_trace.get(span.trace_id, 0) + 1
    org, project = alice.organization.pk, alice.project.pk
    sampling.set_policy(org, project, alice.owner, keep_share=SHARE, decision_window_seconds=0)
    write(org, project, spans)  # sampled
    write(bob.organization.pk, bob.project.pk, spans)  # the same traffic, every trace kept
    assert state_rows(org, project) == len(per_trace)
    assert state_rows(bob.organization.pk, bob.project.pk) == 0  # no policy: no sampling cost

    decided = sampling.decide_traces()

    assert decided.kept + decided.dropped == len(per_trace)
    expected = {t for t in per_trace if t in errors or t in slow or sampling.keeps_by_hash(t, SHARE)}
    stored = stored_per_trace(org, project)
    assert set(stored) == expected  # dropped traces have no span left, exactly the rule's set is kept
    assert all(stored[t] == per_trace[t] for t in stored)  # kept traces have every span: never split
    assert errors | slow <= set(stored)  # every error and every slow trace is kept
    ordinary = set(per_trace) - errors - slow
    share = len(ordinary & set(stored)) / len(ordinary)
    assert 0.04 <= share <= 0.18, share  # about 10 %, by the trace id's hash
    assert decided.spans_deleted == len(spans) - sum(stored.values())
    assert sum(stored_per_trace(bob.organization.pk, bob.project.pk).values()) == len(spans)

    # RED numbers: identical to the unsampled project's, before and after folding the deltas.
    assert red(alice) == red(bob)
    compact_rollups()
    sampled, unsampled = red(alice), red(bob)
    assert sampled == unsampled
    assert sum(op["request_count"] for ops in sampled[1:3] for op in ops) == len(spans)  # every span counted
    assert sum(s["request_count"] for s in sampled[0]) == sum(s.kind == SpanKind.SERVER for s in spans)
    assert sum(s["error_count"] for s in sampled[0]) == len(errors)

    # A late span of a dropped trace is dropped too (still counted); one of a kept trace is kept.
    dropped = sorted(set(per_trace) - set(stored))[0]
    kept = sorted(stored)[0]
    rng = random.Random(5)
    for trace_id in (dropped, kept):
        late = _span(rng, trace_id, CHECKOUT, "POST /pay", parent_span_id=None, kind=2, start_ns=NOW_NS, duration_ms=5)
        write(org, project, [late])
        write(bob.organization.pk, bob.project.pk, [late])
    stored = stored_per_trace(org, project)
    assert dropped not in stored
    assert stored[kept] == per_trace[kept] + 1
    assert red(alice) == red(bob)
    again = sampling.decide_traces()
    assert (again.kept, again.dropped) == (0, 0)  # the late spans changed no decision


@pytest.mark.django_db(transaction=True)
def test_decision_waits_for_the_window(alice: Tenant) -> None:
    spans, _, _ = generate(count=40)
    org, project = alice.organization.pk, alice.project.pk
    sampling.set_policy(org, project, alice.owner, keep_share=0.0)  # default window: 30 s
    write(org, project, spans)
    assert sampling.decide_traces().kept == 0
    assert sum(stored_per_trace(org, project).values()) == len(spans)  # pending traces stay whole
    assert fetch("SELECT count(*) FROM tracing_trace_state WHERE decided IS NOT NULL") == [(0,)]
    # Once past the window, keep_share 0 keeps only the error and slow traces.
    aged = fetch("UPDATE tracing_trace_state SET last_seen = last_seen - interval '31 seconds' RETURNING 1")
    assert len(aged) == 40
    decided = sampling.decide_traces()
    assert (decided.kept, decided.dropped) == (4, 36)  # traces 0, 20 (errors) and 1, 26 (slow)
    # Decided states are purged after a day.
    fetch("UPDATE tracing_trace_state SET last_seen = last_seen - interval '25 hours' RETURNING 1")
    assert sampling.decide_traces().states_purged == 40
    assert state_rows(org, project) == 0


@pytest.mark.django_db(transaction=True)
def test_projects_keeping_everything_write_no_state(alice: Tenant) -> None:
    org = alice.organization.pk
    full = tenant_services.create_project(org, alice.owner, name="Keeps all")
    sampling.set_policy(org, full.pk, alice.owner, keep_share=1.0)
    spans, _, _ = generate(count=20)
    write(org, full.pk, spans)
    write(org, alice.project.pk, spans)  # no policy at all
    assert fetch("SELECT count(*) FROM tracing_trace_state") == [(0,)]
    assert sampling.decide_traces().spans_deleted == 0
    assert sum(stored_per_trace(org, full.pk).values()) == len(spans)


def test_hash_rule_is_the_first_eight_bytes() -> None:
    assert sampling.keeps_by_hash(bytes(16), 0.0) is False
    assert sampling.keeps_by_hash(bytes(16), 1e-9) is True
    assert sampling.keeps_by_hash(b"\xff" * 16, 1.0) is True
    assert sampling.keeps_by_hash(b"\x19\x99" + bytes(14), 0.1) is True  # 0x1999… < 0.1 · 2⁶⁴
    assert sampling.keeps_by_hash(b"\x1a" + bytes(15), 0.1) is False
    assert sampling.keeps(b"\xff" * 16, False, 1_000_000_001, 0.0, 1000) is True  # slower than 1 s


@pytest.mark.django_db(transaction=True)
def test_policy_api_and_the_trace_list_note(alice: Tenant) -> None:
    client = session_client(alice.owner)
    base = f"/api/v1/orgs/{alice.slug}/projects/{alice.project.slug}"
    body = client.get(f"{base}/sampling/").json()
    assert body == {"keep_share": 1.0, "slow_threshold_ms": 1000, "decision_window_seconds": 30, "updated_at": None}
    assert client.get(f"{base}/traces/").json()["sampling"] is None

    assert client.put(f"{base}/sampling/", {"keep_share": 2}, format="json").status_code == 400
    assert client.put(f"{base}/sampling/", {"slow_threshold_ms": 5}, format="json").status_code == 400
    response = client.put(f"{base}/sampling/", {"keep_share": 0.25, "slow_threshold_ms": 500}, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["keep_share"] == 0.25
    assert client.get(f"{base}/sampling/").json()["slow_threshold_ms"] == 500
    note = client.get(f"{base}/traces/").json()["sampling"]
    assert note["keep_share"] == 0.25
    assert note["slow_threshold_ms"] == 500
    assert sampling.samples(alice.organization.pk, alice.project.pk)  # the change reached this process's cache
