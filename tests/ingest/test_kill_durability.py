"""Nothing acknowledged is lost: SIGKILL the ingest server under load from the real SDK, restart it, and find
every span that got a 200 in the database."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from django.conf import settings
from django.db import connection
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from tests.asgi_server import free_port
from tests.conftest import Tenant


def _database_url() -> str:
    """DATABASE_URL with the test database's name, for a server process of its own."""
    parts = urlsplit(settings.DATABASE_URL)
    return urlunsplit(parts._replace(path="/" + connection.settings_dict["NAME"]))


def _start_server(port: int) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.test",
        "DATABASE_URL": _database_url(),
        "REDIS_URL": settings.REDIS_URL,
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "config.asgi:application", "--host", "127.0.0.1", "--port", str(port),
         "--lifespan", "off", "--log-level", "warning"],
        cwd=settings.BASE_DIR, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1) as response:
                if response.status == 200:
                    return process
        except OSError:
            time.sleep(0.1)
    process.kill()
    raise AssertionError("the ingest server did not start")


class Sender(threading.Thread):
    """Exports batches of real SDK spans as fast as the server takes them; remembers what got a 200."""

    def __init__(self, url: str, key: str) -> None:
        super().__init__(daemon=True)
        self.exporter = OTLPSpanExporter(endpoint=url, headers={"Authorization": f"Bearer {key}"}, timeout=2)
        self.memory = InMemorySpanExporter()
        provider = TracerProvider(resource=Resource.create({"service.name": "load"}))
        provider.add_span_processor(SimpleSpanProcessor(self.memory))
        self.tracer = provider.get_tracer("durability")
        self.acknowledged: set[int] = set()
        self.failed_batches = 0
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            for index in range(50):
                with self.tracer.start_as_current_span(f"op-{index}"):
                    pass
            batch = self.memory.get_finished_spans()
            self.memory.clear()
            if self.exporter.export(batch) == SpanExportResult.SUCCESS:
                self.acknowledged.update(span.get_span_context().span_id for span in batch)
            else:
                self.failed_batches += 1


def stored_span_ids(tenant: Tenant) -> set[int]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT span_id FROM tracing_span WHERE organization_id = %s", [tenant.organization.pk])
        return {int.from_bytes(bytes(span_id), "big") for (span_id,) in cursor.fetchall()}


def test_acknowledged_spans_survive_sigkill(alice: Tenant, ingest_key: str, transactional_db: Any) -> None:
    port = free_port()
    server = _start_server(port)
    sender = Sender(f"http://127.0.0.1:{port}/v1/traces", ingest_key)
    sender.start()
    try:
        deadline = time.monotonic() + 20
        while len(sender.acknowledged) < 500 and time.monotonic() < deadline:
            time.sleep(0.05)
        before_kill = len(sender.acknowledged)
        assert before_kill >= 500, "the load did not get going"
        os.kill(server.pid, signal.SIGKILL)  # mid-load: requests are in flight
        server.wait()
        server = _start_server(port)
        time.sleep(1.5)
    finally:
        sender.stop.set()
        sender.join(timeout=30)
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=15)
    assert len(sender.acknowledged) > before_kill  # the restarted server took more
    missing = sender.acknowledged - stored_span_ids(alice)
    assert not missing, f"{len(missing)} acknowledged spans were lost"
