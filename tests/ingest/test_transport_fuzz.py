"""Fuzzing the OTLP/HTTP transport end to end: whatever arrives, the answer is 2xx or 4xx with a message,
never a 5xx, and a refused request stores nothing."""

from __future__ import annotations

import gzip
import json
import zlib
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import Tenant
from tests.ingest.otlp_http import post, stored_spans, trace_request

CONTENT_TYPES = ["application/x-protobuf", "application/json", "application/protobuf", "text/plain", "", "*/*"]
ENCODINGS = ["", "gzip", "deflate", "br", "identity"]
FUZZ = settings(
    max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4),
    max_leaves=30,
)


def _mutate(data: bytes, flips: list[tuple[int, int]], cut: int) -> bytes:
    mutated = bytearray(data)
    for position, value in flips:
        if mutated:
            mutated[position % len(mutated)] = value
    return bytes(mutated[: max(cut % (len(mutated) + 1), 0)] if cut else mutated)


def _encode(body: bytes, encoding: str) -> bytes:
    if encoding == "gzip":
        return gzip.compress(body)
    if encoding == "deflate":
        return zlib.compress(body)
    return body


def _check(status: int, body: bytes) -> None:
    assert status < 500, (status, body[:300])
    if status >= 400:
        assert body, "a refusal carries a message"


@FUZZ
@given(
    body=st.binary(max_size=2048),
    content_type=st.sampled_from(CONTENT_TYPES),
    encoding=st.sampled_from(ENCODINGS),
)
def test_random_bytes(
    alice: Tenant, asgi_url: str, ingest_key: str, body: bytes, content_type: str, encoding: str
) -> None:
    headers = {"Authorization": f"Bearer {ingest_key}", "Content-Type": content_type, "Content-Encoding": encoding}
    status, _, answer = post(f"{asgi_url}/v1/traces", body, headers)
    _check(status, answer)


@FUZZ
@given(
    flips=st.lists(st.tuples(st.integers(0, 10_000), st.integers(0, 255)), max_size=8),
    cut=st.integers(0, 4000),
    encoding=st.sampled_from(["", "gzip", "deflate"]),
)
def test_corrupted_protobuf(alice: Tenant, asgi_url: str, ingest_key: str, flips: Any, cut: int, encoding: str) -> None:
    before = stored_spans(alice)
    body = _encode(_mutate(trace_request(4), flips, cut), encoding)
    headers = {"Authorization": f"Bearer {ingest_key}", "Content-Type": "application/x-protobuf"}
    if encoding:
        headers["Content-Encoding"] = encoding
    status, _, answer = post(f"{asgi_url}/v1/traces", body, headers)
    _check(status, answer)
    if status != 200:
        assert stored_spans(alice) == before  # nothing partially written


@FUZZ
@given(document=json_values)
def test_random_json(alice: Tenant, asgi_url: str, ingest_key: str, document: Any) -> None:
    headers = {"Authorization": f"Bearer {ingest_key}", "Content-Type": "application/json"}
    status, _, answer = post(f"{asgi_url}/v1/traces", json.dumps(document).encode(), headers)
    _check(status, answer)


@FUZZ
@given(
    trace_id=st.text(alphabet="0123456789abcdefXYZ-", max_size=40),
    span_id=st.text(alphabet="0123456789abcdefXYZ-", max_size=20),
    start=st.one_of(st.integers(-(2**64), 2**65), st.text(max_size=25)),
    depth=st.integers(0, 60),
    attributes=st.integers(0, 400),
)
def test_hostile_otlp_json(
    alice: Tenant, asgi_url: str, ingest_key: str, trace_id: str, span_id: str, start: Any, depth: int, attributes: int
) -> None:
    value: dict[str, Any] = {"stringValue": "leaf"}
    for _ in range(depth):
        value = {"kvlistValue": {"values": [{"key": "k", "value": value}]}}
    span = {
        "traceId": trace_id,
        "spanId": span_id,
        "name": "x",
        "startTimeUnixNano": start,
        "endTimeUnixNano": start,
        "attributes": [{"key": f"a{i}", "value": {"intValue": str(i)}} for i in range(attributes)]
        + [{"key": "deep", "value": value}],
    }
    document = {"resourceSpans": [{"scopeSpans": [{"spans": [span]}]}]}
    headers = {"Authorization": f"Bearer {ingest_key}", "Content-Type": "application/json"}
    status, _, answer = post(f"{asgi_url}/v1/traces", json.dumps(document).encode(), headers)
    _check(status, answer)
