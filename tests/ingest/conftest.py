"""Fixtures of the OTLP round-trip tests: a running gRPC receiver (the ingest key is in tests/conftest.py)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from apps.ingest.grpc_server import build_server
from tests.asgi_server import free_port


@pytest.fixture
def grpc_endpoint(transactional_db: Any) -> Iterator[str]:
    port = free_port()
    server = build_server(f"127.0.0.1:{port}")
    server.start()
    try:
        yield f"127.0.0.1:{port}"
    finally:
        server.stop(grace=1).wait()
