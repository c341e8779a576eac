"""The OTLP/JSON example fixtures, posted as JSON and read back through the API with every value typed."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from apps.ingest.decode_json import decode_traces
from tests.conftest import Tenant, session_client
from tests.ingest.otlp_http import post

FIXTURES = Path(__file__).parent / "fixtures"


def _shift_times(node: Any, delta: int) -> Any:
    """Move every *UnixNano timestamp by ``delta`` (the fixtures are from 2018; ingest keeps recent data)."""
    if isinstance(node, dict):
        return {
            key: (str(int(value) + delta) if key.endswith("UnixNano") and int(value) else _shift_times(value, delta))
            if key.endswith("UnixNano")
            else _shift_times(value, delta)
            for key, value in node.items()
        }
    if isinstance(node, list):
        return [_shift_times(item, delta) for item in node]
    return node


def test_trace_fixture_posted_as_json_reads_back_identical(alice: Tenant, asgi_url: str, ingest_key: str) -> None:
    document = json.loads((FIXTURES / "trace.json").read_text())
    document = _shift_times(document, time.time_ns() - 1544712660000000000 - 60 * 10**9)
    body = json.dumps(document).encode()
    expected = decode_traces(body)
    status, _, response = post(
        f"{asgi_url}/v1/traces", body, {"Authorization": f"Bearer {ingest_key}", "Content-Type": "application/json"}
    )
    assert status == 200, response
    # The fixture holds invalid spans on purpose, and one whose time is outside what ingest keeps:
    # they are reported, the rest stored.
    now = time.time_ns()
    kept = [span for span in expected.spans if now - 15 * 86_400 * 10**9 <= span.start_ns <= now + 3600 * 10**9]
    rejected = expected.rejected + len(expected.spans) - len(kept)
    assert json.loads(response)["partialSuccess"]["rejectedSpans"] == str(rejected)
    assert kept
    client = session_client(alice.owner)
    for span in kept:
        url = f"/api/v1/orgs/{alice.slug}/projects/{alice.project.slug}/traces/{span.trace_id.hex()}/"
        stored = {s["span_id"]: s for s in client.get(url).json()["spans"]}[span.span_id.hex()]
        assert stored["attributes"] == span.attributes  # strings, ints, doubles, bools, arrays, kvlists, bytes
        assert stored["resource"] == span.resource.attributes
        assert stored["trace_state"] == span.trace_state
        assert stored["flags"] == span.flags
        assert stored["scope"] == {
            "name": span.scope.name,
            "version": span.scope.version,
            "attributes": span.scope.attributes,
        }
        assert [e["attributes"] for e in stored["events"]] == [e.attributes for e in span.events]
        assert [(link["trace_id"], link["attributes"]) for link in stored["links"]] == [
            (link.trace_id.hex(), link.attributes) for link in span.links
        ]
        assert stored["dropped_attributes_count"] == span.dropped_attributes_count
