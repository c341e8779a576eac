"""`manage.py vigil_demo` against a real Vigil (uvicorn in a thread, the real OTLP/HTTP ingest and stores):
20 simulated minutes of history plus two seconds of live traffic, then the story is read back through the
stores' read queries."""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings as django_settings
from django.core.management import CommandError, call_command
from django.db import connection

from apps.demo import connection as demo_connection
from apps.demo import traffic
from apps.logs.queries import search_logs
from apps.metrics.queries import find_series, metric_names
from apps.tracing.queries import service_map, services
from tests.asgi_server import free_port
from tests.conftest import Tenant

SERVICES = {"frontend", "api-gateway", "checkout", "payments", "inventory"}


def _rows(sql: str, *params: Any) -> list[tuple[Any, ...]]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def _p95(values: list[int]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))]


@pytest.fixture
def demo_run(
    alice: Tenant, asgi_url: str, ingest_key: str, settings: Any, tmp_path: Path, monkeypatch: Any
) -> dict[str, str]:
    settings.VAR_DIR = tmp_path  # the run's record of what it sent goes here, not into the shared var/
    # Traffic follows the local time of day (a third of the mean at night, twice it at noon); a flat day keeps
    # the samples behind the assertions as large whenever the suite runs.
    monkeypatch.setattr(traffic, "day_factor", lambda epoch_ns: 1.0)
    stdout, stderr = io.StringIO(), io.StringIO()
    started = time.monotonic()
    call_command(
        "vigil_demo", "--backfill", "20m", "--duration", "2", "--rate", "5", "--seed", "7",
        "--endpoint", asgi_url, "--key", ingest_key, stdout=stdout, stderr=stderr,
    )  # fmt: skip
    return {"stdout": stdout.getvalue(), "stderr": stderr.getvalue(), "seconds": str(time.monotonic() - started)}


def test_demo_traffic_tells_the_story(alice: Tenant, demo_run: dict[str, str]) -> None:
    org, project = alice.organization.pk, alice.project.pk
    start, end = datetime.now(UTC) - timedelta(hours=1), datetime.now(UTC) + timedelta(hours=1)
    assert "backfill 100% 20/20 min" in demo_run["stderr"]
    assert "vigil_demo: done," in demo_run["stdout"]

    # All five services, and the calls between them and to their dependencies.
    assert {row["service"] for row in services(org, project, start, end)} >= SERVICES
    edges = {(e["source"], e["target"], e["target_kind"]) for e in service_map(org, project, start, end)["edges"]}
    assert edges >= {
        ("frontend", "api-gateway", "service"),
        ("api-gateway", "inventory", "service"),
        ("api-gateway", "checkout", "service"),
        ("checkout", "inventory", "service"),
        ("checkout", "payments", "service"),
        ("inventory", "postgresql:shop", "database"),
        ("checkout", "postgresql:shop", "database"),
        ("api-gateway", "redis", "cache"),
        ("checkout", "redis", "cache"),
        ("payments", "api.payments.example", "external"),
    }
    # ("now() - interval '2 hours'" below lets PostgreSQL skip the other daily partitions.)
    # A server span's parent is the caller's CLIENT span, in another service.
    [(cross_service,)] = _rows(
        "SELECT count(*) FROM tracing_span s JOIN tracing_span c ON c.organization_id = s.organization_id "
        "AND c.trace_id = s.trace_id AND c.span_id = s.parent_span_id "
        "WHERE s.organization_id = %s AND s.kind = 2 AND c.kind = 3 AND c.service_name <> s.service_name "
        "AND s.start_time > now() - interval '2 hours' AND c.start_time > now() - interval '2 hours'",
        org,
    )
    assert cross_service > 100

    # Errors: an exception event with a multi-line stack trace, and an ERROR log with the same ids.
    failing = _rows(
        "SELECT trace_id, span_id, service_name, events FROM tracing_span "
        "WHERE organization_id = %s AND status_code = 2 AND events::text LIKE '%%exception.stacktrace%%' "
        "AND start_time > now() - interval '2 hours'",
        org,
    )
    assert failing
    [(requests,)] = _rows(
        "SELECT count(*) FROM tracing_span WHERE organization_id = %s AND service_name = 'frontend' AND kind = 2", org
    )
    [(failed_requests,)] = _rows(
        "SELECT count(*) FROM tracing_span WHERE organization_id = %s AND service_name = 'frontend' AND kind = 2 "
        "AND status_code = 2",
        org,
    )
    assert 0.005 <= failed_requests / requests <= 0.05
    for trace_id, span_id, service, events in failing:
        [event] = [e for e in json.loads(events) if e["name"] == "exception"]
        assert event["attributes"]["exception.type"]
        assert event["attributes"]["exception.stacktrace"].count("\n") >= 3
        logs = search_logs(org, project, trace_id=bytes(trace_id), severity_min=17)
        assert any(log["span_id"] == bytes(span_id).hex() and log["service"] == service for log in logs)

    # The N+1: the same statement (literals aside) at least 10 times under one parent span.
    [(repeats,)] = _rows(
        "SELECT max(n) FROM (SELECT count(*) AS n FROM tracing_span WHERE organization_id = %s "
        "AND db_system = 'postgresql' AND start_time > now() - interval '2 hours' GROUP BY trace_id, parent_span_id, "
        "regexp_replace(attributes->>'db.statement', '\\d+', '?', 'g')) per_parent",
        org,
    )
    assert repeats >= 10

    # The deploy: checkout changes version, and POST /checkout is slower after it.
    durations: dict[str, list[int]] = {}
    for version, duration in _rows(
        "SELECT r.attributes->>'service.version', s.duration_ns FROM tracing_span s JOIN otlp_resource r "
        "ON r.organization_id = s.organization_id AND r.project_id = s.project_id "
        "AND r.fingerprint = s.resource_fingerprint "
        "WHERE s.organization_id = %s AND s.service_name = 'checkout' AND s.name = 'POST /checkout' AND s.kind = 2 "
        "AND s.start_time > now() - interval '2 hours'",
        org,
    ):
        durations.setdefault(version, []).append(duration)
    assert set(durations) == {"1.4.2", "1.5.0"}
    assert _p95(durations["1.5.0"]) >= 1.5 * _p95(durations["1.4.2"]), {v: _p95(d) for v, d in durations.items()}

    # Metrics: a request-duration histogram per service, a counter, an up-down counter and a gauge.
    kinds = {row["name"]: (row["kind"], row["unit"]) for row in metric_names(org, project)}
    assert kinds["http.server.request.duration"] == ("histogram", "s")
    assert kinds["orders.placed"][0] == "sum"
    assert kinds["db.client.connections.usage"][0] == "sum"
    assert kinds["inventory.stock_level"][0] == "gauge"
    for service in SERVICES:
        assert find_series(org, project, "http.server.request.duration", {"service.name": service}, 100), service
    monotonic = {info.monotonic for _, info in find_series(org, project, "orders.placed", {}, 10)}
    assert monotonic == {True}
    assert {info.monotonic for _, info in find_series(org, project, "db.client.connections.usage", {}, 10)} == {False}
    # Every interval's metrics arrived (a backfill sends many in one request): each service's request-duration
    # histogram counted exactly its server spans.
    counted = _rows(
        "SELECT r.attributes->>'service.name', sum(p.count) FROM metrics_point p JOIN metrics_series m "
        "ON m.organization_id = p.organization_id AND m.project_id = p.project_id AND m.series_hash = p.series_hash "
        "JOIN otlp_resource r ON r.organization_id = m.organization_id AND r.project_id = m.project_id "
        "AND r.fingerprint = m.resource_fingerprint "
        "WHERE p.organization_id = %s AND m.name = 'http.server.request.duration' GROUP BY 1",
        org,
    )
    served = _rows(
        "SELECT service_name, count(*) FROM tracing_span WHERE organization_id = %s AND kind = 2 GROUP BY 1", org
    )
    assert dict(counted) == dict(served)
    assert float(demo_run["seconds"]) < 30


def test_missing_credentials_file_is_a_one_line_error(settings: Any, tmp_path: Path) -> None:
    settings.VAR_DIR = tmp_path
    with pytest.raises(CommandError, match=r"demo-credentials.json does not exist; run `manage.py seed_demo`"):
        call_command("vigil_demo", "--duration", "0")
    # From the shell: exit status 1, one line, no traceback.
    env = {**os.environ, "VIGIL_VAR_DIR": str(tmp_path)}
    result = subprocess.run(
        [sys.executable, "manage.py", "vigil_demo"], cwd=django_settings.BASE_DIR, env=env,
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert re.fullmatch(r"CommandError: no endpoint and ingest key: .*\n", result.stderr)


def test_a_refused_key_is_a_one_line_error(alice: Tenant, asgi_url: str, settings: Any, tmp_path: Path) -> None:
    settings.VAR_DIR = tmp_path
    (tmp_path / "demo-credentials.json").write_text(f'{{"otlp_http": "{asgi_url}", "ingest_key": "vk_not_a_key"}}')
    with pytest.raises(CommandError, match=r"refused the ingest key \(HTTP 401\)"):
        call_command("vigil_demo", "--backfill", "10m", "--duration", "0")


def test_an_unreachable_endpoint_is_a_one_line_error(monkeypatch: Any, settings: Any, tmp_path: Path) -> None:
    settings.VAR_DIR = tmp_path
    monkeypatch.setattr(demo_connection, "PREFLIGHT_ATTEMPTS", 2)  # the real retries take ~15 s
    endpoint = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(CommandError, match=r"cannot reach .*/v1/traces \(ConnectionError\) after 2 attempts"):
        call_command("vigil_demo", "--endpoint", endpoint, "--key", "k", "--duration", "0")


def test_the_demo_rule_fires_on_the_checkout_regression(alice: Tenant, demo_run: dict[str, str]) -> None:
    """The rule `make run` creates (apps/ops/demo.py) opens an incident on the demo's own traffic."""
    from apps.alerting import evaluation
    from apps.alerting.models import AlertRule, Incident
    from apps.core.scoping import tenant_scope
    from apps.ops.demo import ensure_demo_alerting

    now = datetime.now(UTC)
    with tenant_scope(alice.organization.pk):
        ensure_demo_alerting(alice.organization, alice.project, alice.owner)
        ensure_demo_alerting(alice.organization, alice.project, alice.owner)  # once
        rule = AlertRule.objects.get()
        assert evaluation.evaluate(rule, now).changes == [("{}", "ok", "pending")]
        assert evaluation.evaluate(rule, now + timedelta(seconds=60)).changes == [("{}", "pending", "firing")]
        incident = Incident.objects.get()
        assert incident.title.startswith("checkout: POST /checkout p95 is ")
        # Critical or warning: a few dozen POST /checkout in the test's five minutes make a noisy p95 (2.4-4.2 s).
        assert incident.severity in ("critical", "warning")
        assert rule.instances.get().values["latency"] > 1800, rule.instances.get().values
