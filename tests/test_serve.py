"""`make run`'s command end to end, on the embedded default: start, serve, Ctrl-C, start again.

Runs `manage.py serve` as a real process tree with its own var/ folder, so
it starts its own pgserver PostgreSQL and Redis exactly as on a fresh machine.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import stat
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import psutil
from django.conf import settings

from tests.asgi_server import free_port


def _get(url: str, token: str | None = None) -> tuple[int, bytes]:
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"} if token else {})
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def _embedded_processes(var_dir: Path) -> list[psutil.Process]:
    found = []
    for process in psutil.process_iter(["cmdline"]):
        cmdline = " ".join(process.info["cmdline"] or [])
        if str(var_dir) in cmdline:
            found.append(process)
    return found


def _start(var_dir: Path, port: int, grpc_port: int = 0, demo: bool = False) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL"}}
    env.update(
        VIGIL_DEMO="1" if demo else "0",
        VIGIL_VAR_DIR=str(var_dir),
        VIGIL_PORT=str(port),
        VIGIL_OTLP_GRPC_PORT=str(grpc_port or free_port()),
        DJANGO_SETTINGS_MODULE="config.settings.local",
    )
    return subprocess.Popen(
        [sys.executable, "manage.py", "serve"],
        cwd=settings.BASE_DIR,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # its own group, so the test can send the terminal's Ctrl-C to all of it
    )


def _wait_ready(process: subprocess.Popen[bytes], base: str) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if process.poll() is not None:
            output = process.stdout.read().decode(errors="replace") if process.stdout else ""
            raise AssertionError(f"serve exited early with {process.returncode}:\n{output[-3000:]}")
        try:
            if _get(f"{base}/healthz")[0] == 200:
                return
        except OSError:
            pass
        time.sleep(0.5)
    raise AssertionError("serve did not answer /healthz within 120 s")


def _wait_listening(port: int) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.2)
    raise AssertionError(f"nothing listens on the OTLP/gRPC port {port}")


def _wait_demo_traffic(process: subprocess.Popen[bytes]) -> None:
    """The demo traffic (manage.py vigil_demo) starts once the web server is healthy."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        for child in psutil.Process(process.pid).children(recursive=True):
            with contextlib.suppress(psutil.Error):  # a step like migrate may end meanwhile
                if "vigil_demo" in " ".join(child.cmdline()):
                    return
        time.sleep(0.2)
    raise AssertionError("serve did not start the demo traffic")


def _ctrl_c(process: subprocess.Popen[bytes], var_dir: Path) -> float:
    tree = [psutil.Process(process.pid), *psutil.Process(process.pid).children(recursive=True)]
    tree += _embedded_processes(var_dir)
    started = time.monotonic()
    os.killpg(process.pid, signal.SIGINT)
    process.wait(timeout=30)
    elapsed = time.monotonic() - started
    _, alive = psutil.wait_procs(tree, timeout=5)
    assert not alive, f"left behind: {[p.info if hasattr(p, 'info') else p.pid for p in alive]}"
    assert not _embedded_processes(var_dir)
    return elapsed


def _login_page_and_credentials(base: str, var_dir: Path) -> dict[str, Any]:
    status, body = _get(f"{base}/login/")
    assert status == 200
    assert b"password" in body.lower()
    path = var_dir / "demo-credentials.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    credentials = json.loads(path.read_text())
    expected = {"url", "username", "password", "organization", "project", "ingest_key", "api_token"}
    assert set(credentials) >= expected | {"otlp_http", "otlp_grpc"}
    return credentials


def _wait_demo_story(api: str, token: str, started: float) -> dict[str, bool]:
    """What a person opening the pages after ``make run`` must see within two minutes: the demo's services,
    traces, map (database, cache, external host), errors, the N+1 finding and checkout's deploy."""
    day = "from=" + str(time.time_ns() - 86_400 * 10**9)

    def found(path: str, test: Any) -> bool:
        status, body = _get(f"{api}/{path}", token)
        return status == 200 and bool(test(json.loads(body)))

    checks = {
        "services": ("services/?" + day, lambda b: {"frontend", "api-gateway", "checkout", "payments", "inventory"}
                     <= {s["service"] for s in b["results"]}),
        "traces": ("traces/?" + day, lambda b: b["count"] > 0),
        "map": ("service-map/?" + day, lambda b: {"database", "cache", "external"} <= {n["kind"] for n in b["nodes"]}),
        "errors": ("errors/?" + day, lambda b: b["count"] > 0),
        "n+1": ("n-plus-one/?" + day, lambda b: b["count"] > 0),
        "deploy": ("services/checkout/series/?" + day, lambda b: len(b["deploys"]) > 0),
    }  # fmt: skip
    seen = dict.fromkeys(checks, False)
    while time.monotonic() - started < 120 and not all(seen.values()):
        for name, (path, test) in checks.items():
            seen[name] = seen[name] or found(path, test)
        time.sleep(2)
    return seen


def test_serve_starts_embedded_stops_cleanly_and_keeps_data(tmp_path: Path) -> None:
    var_dir = tmp_path / "var"
    port, grpc_port = free_port(), free_port()
    base = f"http://127.0.0.1:{port}"

    started = time.monotonic()
    first = _start(var_dir, port, grpc_port, demo=True)
    try:
        _wait_ready(first, base)
        _wait_demo_traffic(first)
        credentials = _login_page_and_credentials(base, var_dir)
        assert credentials["otlp_grpc"] == f"http://127.0.0.1:{grpc_port}"
        _wait_listening(grpc_port)
        org, project = credentials["organization"], credentials["project"]
        status, body = _get(f"{base}/api/v1/orgs/{org}/projects/", credentials["api_token"])
        assert status == 200
        project_id = json.loads(body)["results"][0]["id"]
        assert json.loads(body)["results"][0]["slug"] == project
        story = _wait_demo_story(f"{base}/api/v1/orgs/{org}/projects/{project}", credentials["api_token"], started)
        assert time.monotonic() - started < 120, story
    finally:
        elapsed = _ctrl_c(first, var_dir)
    assert elapsed < 10, f"stopping took {elapsed:.1f} s"

    second = _start(var_dir, port, grpc_port)
    try:
        _wait_ready(second, base)
        again = _login_page_and_credentials(base, var_dir)
        assert again == credentials  # same user, password, key and token
        status, body = _get(f"{base}/api/v1/orgs/{org}/projects/", again["api_token"])
        assert status == 200
        assert json.loads(body)["results"][0]["id"] == project_id  # the same rows, not new ones
    finally:
        _ctrl_c(second, var_dir)


def test_serve_reports_a_broken_data_folder_in_one_line(tmp_path: Path) -> None:
    var_dir = tmp_path / "var"
    (var_dir / "pg").mkdir(parents=True)
    (var_dir / "pg" / "PG_VERSION").write_text("12\n")
    process = _start(var_dir, free_port())
    output = process.communicate(timeout=60)[0].decode()
    assert process.returncode != 0
    assert "PostgreSQL 12 data" in output
    assert "Traceback" not in output
