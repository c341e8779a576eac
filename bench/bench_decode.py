"""How many spans per second the OTLP decoders turn into apps.otlp.types.Span objects, on one core.

Run from the repository root:

    .venv/bin/python bench/bench_decode.py [--rounds 40] [--unique]

It generates one ExportTraceServiceRequest of 512 spans, each with 12 attributes (strings, ints,
doubles, a bool) and an event on every tenth span, encodes it as OTLP/protobuf and OTLP/JSON, and
times ``apps.ingest.decode_protobuf.decode_traces`` and ``apps.ingest.decode_json.decode_traces``
(parse + validate + convert). By default 8 of the 12 attribute values come from small sets, as in
real batches (method, route, status code, host...) and 4 are unique per span (URL, ids, durations);
``--unique`` makes every value unique per span (the worst case for the per-request attribute memo).
It also times a plain ``WhichOneof`` walk over standard protobuf messages, for comparison.
No Django, database or Redis. Record the output in docs/benchmarks.md. Target: ≥ 100k spans/s for
protobuf.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import platform
import random
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from opentelemetry.proto.collector.trace.v1 import trace_service_pb2  # noqa: E402

from apps.ingest import decode_json, decode_protobuf  # noqa: E402

SPANS = 512

METHODS = ["GET", "POST", "PUT", "DELETE"]
ROUTES = ["/api/orders/{id}", "/api/users/{id}", "/health", "/api/cart", "/login", "/api/search"]
HOSTS = ["api-1.internal", "api-2.internal", "api-3.internal"]


def _attribute_values(rnd: random.Random, i: int, unique: bool) -> list[tuple[str, Any]]:
    u = i if unique else None
    return [
        ("http.request.method", METHODS[rnd.randrange(4)] if u is None else f"M{u}"),
        ("http.route", rnd.choice(ROUTES) if u is None else f"/r/{u}"),
        ("http.response.status_code", rnd.choice([200, 200, 200, 201, 404, 500]) if u is None else 1000 + u),
        ("server.address", rnd.choice(HOSTS) if u is None else f"h{u}"),
        ("server.port", 8080 if u is None else 10000 + u),
        ("network.protocol.version", "1.1" if u is None else f"v{u}"),
        ("thread.name", f"worker-{rnd.randrange(8)}" if u is None else f"t{u}"),
        ("sampled", rnd.random() < 0.5 if u is None else bool(u % 2)),
        ("url.full", f"https://shop.example.com/api/orders/{rnd.randrange(10**9)}?page={i}"),
        ("user.id", f"user-{rnd.randrange(10**6):06d}"),
        ("db.rows", rnd.randrange(10**6) + i),
        ("duration.ms", rnd.random() * 1000),
    ]


def build(unique: bool) -> tuple[bytes, bytes]:
    rnd = random.Random(42)  # noqa: S311 (reproducible test data, not secrets)
    now = time.time_ns()
    req = trace_service_pb2.ExportTraceServiceRequest()
    rs = req.resource_spans.add()
    resource_attrs = [("service.name", "checkout"), ("service.version", "1.2.3"), ("host.name", "web-7")]
    for key, value in resource_attrs:
        kv = rs.resource.attributes.add()
        kv.key = key
        kv.value.string_value = value
    ss = rs.scope_spans.add()
    ss.scope.name = "opentelemetry.instrumentation.django"
    ss.scope.version = "0.66b2"
    json_spans = []
    for i in range(SPANS):
        span = ss.spans.add()
        span.trace_id = rnd.randbytes(16)
        span.span_id = rnd.randbytes(8)
        span.parent_span_id = rnd.randbytes(8)
        span.name = "GET /api/orders/{id}"
        span.kind = 2
        span.start_time_unix_nano = now - 10**9 + i * 1000
        span.end_time_unix_nano = span.start_time_unix_nano + rnd.randrange(10**7)
        span.status.code = 1
        json_attrs = []
        for key, value in _attribute_values(rnd, i, unique):
            kv = span.attributes.add()
            kv.key = key
            if isinstance(value, bool):
                kv.value.bool_value = value
                jv: dict[str, Any] = {"boolValue": value}
            elif isinstance(value, int):
                kv.value.int_value = value
                jv = {"intValue": str(value)}
            elif isinstance(value, float):
                kv.value.double_value = value
                jv = {"doubleValue": value}
            else:
                kv.value.string_value = value
                jv = {"stringValue": value}
            json_attrs.append({"key": key, "value": jv})
        json_span: dict[str, Any] = {
            "traceId": span.trace_id.hex(),
            "spanId": span.span_id.hex(),
            "parentSpanId": span.parent_span_id.hex(),
            "name": span.name,
            "kind": 2,
            "startTimeUnixNano": str(span.start_time_unix_nano),
            "endTimeUnixNano": str(span.end_time_unix_nano),
            "attributes": json_attrs,
            "status": {"code": 1},
        }
        if i % 10 == 0:
            event = span.events.add()
            event.name = "exception"
            event.time_unix_nano = span.start_time_unix_nano + 10
            kv = event.attributes.add()
            kv.key = "exception.message"
            kv.value.string_value = f"boom {i}"
            json_span["events"] = [
                {
                    "name": "exception",
                    "timeUnixNano": str(event.time_unix_nano),
                    "attributes": [{"key": "exception.message", "value": {"stringValue": f"boom {i}"}}],
                }
            ]
        json_spans.append(json_span)
    body_json = {
        "resourceSpans": [
            {
                "resource": {"attributes": [{"key": k, "value": {"stringValue": v}} for k, v in resource_attrs]},
                "scopeSpans": [{"scope": {"name": ss.scope.name, "version": ss.scope.version}, "spans": json_spans}],
            }
        ]
    }
    return req.SerializeToString(), json.dumps(body_json).encode()


def _whichoneof_walk(body: bytes) -> int:
    """The straightforward decoder, for comparison: standard messages, WhichOneof per value."""
    req = trace_service_pb2.ExportTraceServiceRequest.FromString(body)
    n = 0
    for rs in req.resource_spans:
        for ss in rs.scope_spans:
            for s in ss.spans:
                attrs = {}
                for kv in s.attributes:
                    v = kv.value
                    which = v.WhichOneof("value")
                    attrs[kv.key] = getattr(v, which) if which else None
                _ = (s.trace_id, s.span_id, s.parent_span_id, s.name, s.kind, s.start_time_unix_nano)
                _ = (s.end_time_unix_nano, s.status.code, s.status.message, s.trace_state, s.flags)
                _ = [
                    (e.name, e.time_unix_nano, [(a.key, a.value.string_value) for a in e.attributes]) for e in s.events
                ]
                n += 1
    return n


def measure(fn: Callable[[bytes], Any], body: bytes, rounds: int) -> tuple[float, float]:
    fn(body)  # warm-up
    rates = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        fn(body)
        rates.append(SPANS / (time.perf_counter() - t0))
    return statistics.median(rates), max(rates)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=40)
    parser.add_argument("--unique", action="store_true", help="every attribute value unique per span")
    args = parser.parse_args()

    body_pb, body_json = build(args.unique)
    assert len(decode_protobuf.decode_traces(body_pb).spans) == SPANS
    assert decode_protobuf.decode_traces(body_pb) == decode_json.decode_traces(body_json)

    print(f"date: {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC")
    print(f"machine: {os.cpu_count()} cores, {platform.platform()}, Python {platform.python_version()}")
    with contextlib.suppress(OSError):
        print(f"load average: {os.getloadavg()[0]:.2f}")
    print(
        f"request: {SPANS} spans x 12 attributes, event on 10%, "
        f"attribute values {'all unique' if args.unique else 'realistic mix'}"
    )
    print(f"body: protobuf {len(body_pb)} bytes, JSON {len(body_json)} bytes; {args.rounds} rounds, one core")
    print(f"{'decoder':<44} {'median spans/s':>15} {'best spans/s':>13}")
    for label, fn, body in (
        ("decode_protobuf.decode_traces", decode_protobuf.decode_traces, body_pb),
        ("decode_json.decode_traces", decode_json.decode_traces, body_json),
        ("(comparison) standard messages + WhichOneof", _whichoneof_walk, body_pb),
    ):
        median, best = measure(fn, body, args.rounds)
        print(f"{label:<44} {median:>15,.0f} {best:>13,.0f}")


if __name__ == "__main__":
    main()
