"""Fixtures of the OTLP tests: a running gRPC receiver, the OTLP/HTTP URL (the ingest key is in tests/conftest.py)."""

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


@pytest.fixture
def key(ingest_key: str) -> str:
    """The ingest key, by the short name the OTLP/HTTP tests use."""
    return ingest_key


@pytest.fixture
def traces_url(asgi_url: str) -> str:
    """/v1/traces of the real ASGI app (uvicorn in a thread)."""
    return f"{asgi_url}/v1/traces"
