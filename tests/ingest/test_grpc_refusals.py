"""OTLP/gRPC refusals use the status codes the OTLP specification names, with a message; never INTERNAL."""

from __future__ import annotations

from typing import Any

import grpc
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.ingest.otlp_http import trace_request

EXPORT = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"


def call(endpoint: str, body: bytes, metadata: tuple[tuple[str, str], ...]) -> grpc.RpcError | None:
    with grpc.insecure_channel(endpoint) as channel:
        export = channel.unary_unary(EXPORT, request_serializer=None, response_deserializer=None)
        try:
            export(body, metadata=metadata, timeout=10)
        except grpc.RpcError as error:
            return error
    return None


def test_accepted(grpc_endpoint: str, ingest_key: str) -> None:
    assert call(grpc_endpoint, trace_request(2), (("authorization", f"Bearer {ingest_key}"),)) is None


@pytest.mark.parametrize(
    ("metadata", "code", "words"),
    [
        ((), grpc.StatusCode.UNAUTHENTICATED, "ingest key"),
        ((("authorization", "Bearer vik_unknown"),), grpc.StatusCode.UNAUTHENTICATED, "unknown, revoked or expired"),
    ],
)
def test_bad_keys(grpc_endpoint: str, ingest_key: str, metadata: Any, code: Any, words: str) -> None:
    error = call(grpc_endpoint, trace_request(1), metadata)
    assert error is not None
    assert error.code() == code
    assert words in error.details()


def test_corrupt_message_is_invalid_argument(grpc_endpoint: str, ingest_key: str) -> None:
    error = call(grpc_endpoint, b"\xff\xff\xff not protobuf", (("authorization", f"Bearer {ingest_key}"),))
    assert error is not None
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert error.details()


def test_oversized_message_is_resource_exhausted(grpc_endpoint: str, ingest_key: str) -> None:
    from django.conf import settings as django_settings

    too_big = b"\x0a" + b"\xff" * (django_settings.VIGIL_INGEST_MAX_BODY_BYTES + 10)
    error = call(grpc_endpoint, too_big, (("authorization", f"Bearer {ingest_key}"),))
    assert error is not None
    assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=st.binary(max_size=1024), flips=st.lists(st.tuples(st.integers(0, 5000), st.integers(0, 255)), max_size=6))
def test_fuzzed_messages_never_internal(grpc_endpoint: str, ingest_key: str, body: bytes, flips: Any) -> None:
    for candidate in (body, _mutate(trace_request(3), flips)):
        error = call(grpc_endpoint, candidate, (("authorization", f"Bearer {ingest_key}"),))
        if error is not None:
            assert error.code() in (grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.RESOURCE_EXHAUSTED), error
            assert error.details()


def _mutate(data: bytes, flips: Any) -> bytes:
    mutated = bytearray(data)
    for position, value in flips:
        mutated[position % len(mutated)] = value
    return bytes(mutated)
