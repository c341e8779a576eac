"""Operations: health and readiness probes, metrics, the supervisor, embedded service errors."""

from __future__ import annotations

import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from django.test import Client

from apps.ops.embedded import EmbeddedPostgres, EmbeddedServiceError
from apps.ops.supervisor import ChildSpec, Supervisor


def test_healthz() -> None:
    response = Client().get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


@pytest.mark.django_db
def test_readyz_ok() -> None:
    response = Client().get("/readyz")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ready"
    assert {name: check["ok"] for name, check in body["checks"].items()} == {
        "postgres": True,
        "redis": True,
        "migrations": True,
        "alert_evaluation": True,
    }


@pytest.mark.django_db
def test_readyz_503_when_redis_is_down(settings: Any, tmp_path: Path) -> None:
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": f"unix://{tmp_path / 'nothing.sock'}",
            "KEY_PREFIX": "vigil-test",
        }
    }
    response = Client().get("/readyz")
    assert response.status_code == 503
    checks = response.json()["checks"]
    assert checks["redis"]["ok"] is False
    assert "unreachable" in checks["redis"]["detail"]
    assert checks["postgres"]["ok"] is True


@pytest.mark.django_db
def test_metrics_from_loopback(settings: Any) -> None:
    settings.VIGIL_METRICS_ALLOW_LOOPBACK = True
    Client().get("/healthz")
    response = Client(REMOTE_ADDR="127.0.0.1").get("/metrics")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain")
    text = response.content.decode()
    assert 'vigil_http_requests_total{method="GET",route="/healthz",status="200"}' in text
    assert "vigil_http_request_duration_seconds_bucket" in text
    assert 'vigil_celery_queue_depth{queue="celery"}' in text
    assert "vigil_db_connections{" in text


@pytest.mark.django_db
def test_metrics_from_elsewhere_needs_the_token(settings: Any) -> None:
    settings.VIGIL_METRICS_ALLOW_LOOPBACK = True
    settings.VIGIL_METRICS_TOKEN = "metrics-secret-123"
    remote = Client(REMOTE_ADDR="192.0.2.10")
    assert remote.get("/metrics").status_code == 403
    assert remote.get("/metrics", HTTP_AUTHORIZATION="Bearer wrong").status_code == 403
    response = remote.get("/metrics", HTTP_AUTHORIZATION="Bearer metrics-secret-123")
    assert response.status_code == 200
    assert "vigil_http_requests_total" in response.content.decode()
    settings.VIGIL_METRICS_TOKEN = None
    assert remote.get("/metrics", HTTP_AUTHORIZATION="Bearer None").status_code == 403


@pytest.mark.django_db
def test_metrics_loopback_can_be_switched_off(settings: Any) -> None:
    settings.VIGIL_METRICS_ALLOW_LOOPBACK = False
    settings.VIGIL_METRICS_TOKEN = None
    assert Client(REMOTE_ADDR="127.0.0.1").get("/metrics").status_code == 403


# --- Supervisor -------------------------------------------------------------------------------------------------------


def child(code: str) -> list[str]:
    return [sys.executable, "-u", "-c", code]


def alive(sup: Supervisor) -> list[str]:
    return [name for name, process in sup.processes.items() if process.poll() is None]


def test_supervisor_stops_children_on_sigterm() -> None:
    sleeper = "import time\nprint('up', flush=True)\nwhile True: time.sleep(0.1)"
    sup = Supervisor([ChildSpec("one", child(sleeper)), ChildSpec("two", child(sleeper))], env={"PATH": "/usr/bin"})
    sup.start()
    try:
        time.sleep(0.3)
        assert sorted(alive(sup)) == ["one", "two"]
        result: list[int] = []
        waiter = threading.Thread(target=lambda: result.append(sup.wait()))
        waiter.start()
        started = time.monotonic()
        sup._on_signal(15, None)
        waiter.join(timeout=10)
        assert not waiter.is_alive()
        assert time.monotonic() - started < 10
        assert result == [0]
        assert alive(sup) == []
    finally:
        sup.stop_all()


def test_supervisor_stops_everything_when_a_child_fails() -> None:
    sleeper = "import time\nwhile True: time.sleep(0.1)"
    failing = "import sys, time\ntime.sleep(0.3)\nsys.exit(3)"
    sup = Supervisor([ChildSpec("sleeper", child(sleeper)), ChildSpec("failing", child(failing))], env={})
    sup.start()
    try:
        started = time.monotonic()
        assert sup.wait() == 3
        assert time.monotonic() - started < 10
        assert alive(sup) == []
    finally:
        sup.stop_all()


def test_supervisor_kills_a_child_that_ignores_sigterm(monkeypatch: pytest.MonkeyPatch) -> None:
    from apps.ops import supervisor

    monkeypatch.setattr(supervisor, "STOP_GRACE_SECONDS", 0.5)
    stubborn = (
        "import signal, time\nsignal.signal(signal.SIGTERM, signal.SIG_IGN)\nprint('x', flush=True)\ntime.sleep(60)"
    )
    sup = Supervisor([ChildSpec("stubborn", child(stubborn))], env={})
    sup.start()
    time.sleep(0.3)
    sup.stop_all()
    assert alive(sup) == []


# --- Embedded services ------------------------------------------------------------------------------------------------


def test_embedded_postgres_refuses_data_of_another_version(tmp_path: Path) -> None:
    data = tmp_path / "pg"
    data.mkdir()
    (data / "PG_VERSION").write_text("15\n")
    with pytest.raises(EmbeddedServiceError) as error:
        EmbeddedPostgres(data, "vigil").start()
    message = str(error.value)
    assert "\n" not in message
    assert "PostgreSQL 15" in message
    assert "16" in message
    assert "DATABASE_URL" in message
