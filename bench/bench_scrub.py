"""How fast the ingest PII scrubber is: values/s and spans/s for a realistic, mostly clean span.

Run from the repository root:

    .venv/bin/python bench/bench_scrub.py [--spans 20000] [--rounds 5]

Pure Python, no Django settings, database or Redis. The span has 12 attributes (one email in
``enduser.id``, a URL with harmless query parameters, a SQL statement, the rest plain), a name, and a
resource shared by the whole batch, as one OTLP request would carry them. ``url.full`` and
``enduser.id`` differ on every span (new ids each round too), the other values repeat as they do in
real traffic, so the scrubber's clean-value cache helps only where it would in production. Each round scrubs fresh
copies with ``Scrubber.scrub_batch`` (copies are made outside the timing). The target: ingest runs
at about 15k spans/s x 15 values, so the scrubber should take a small share of one core at that rate.
Record the output in docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from apps.ingest.scrub import Scrubber  # noqa: E402
from apps.otlp.types import Resource, Scope, Span  # noqa: E402

TARGET_SPANS_PER_SECOND = 15_000

ATTRIBUTES = {
    "http.request.method": "GET",
    "http.route": "/api/v1/orders/{order_id}",
    "http.response.status_code": 200,
    "url.full": "https://shop.example.com/api/v1/orders/8812?expand=items&page=2",
    "server.address": "shop.example.com",
    "server.port": 443,
    "user_agent.original": "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/120.0.6099.109 Safari/537.36",
    "db.system": "postgresql",
    "db.statement": "SELECT id, total, status FROM orders WHERE id = $1 AND tenant_id = $2",
    "thread.name": "uvicorn-worker-3",
    "code.function": "apps.orders.views.OrderDetail.get",
    "enduser.id": "jane.doe@example.com",
}
RESOURCE = Resource(
    {
        "service.name": "shop-api",
        "service.version": "2.14.1",
        "deployment.environment": "production",
        "host.name": "web-7f9c6d-x2kqp",
        "telemetry.sdk.language": "python",
    }
)
HIGH_CARDINALITY = ("url.full", "enduser.id")  # differ on every span: never served from the clean-value cache
SCOPE = Scope("opentelemetry.instrumentation.django", "0.48b0")


def vary(attributes: dict, i: int) -> dict:
    if attributes.get("_unique"):
        return {k: f"{v} #{i}" if isinstance(v, str) else v for k, v in attributes.items() if k != "_unique"}
    return _vary(attributes, i)


def _vary(attributes: dict, i: int) -> dict:
    """Per-span copies with realistic cardinality: ids in URLs and users differ, statements and methods repeat."""
    out = dict(attributes)
    for key in HIGH_CARDINALITY:
        if isinstance(out.get(key), str):
            out[key] = (
                out[key].replace("8812", str(100_000 + i)).replace("jane.doe", f"user{i}").replace("18842", str(i))
            )
    out["thread.name"] = f"uvicorn-worker-{i % 8}"
    return out


def make_spans(count: int, attributes: dict, offset: int = 0) -> list[Span]:
    return [
        Span(
            resource=RESOURCE,
            scope=SCOPE,
            trace_id=i.to_bytes(16, "big"),
            span_id=i.to_bytes(8, "big"),
            parent_span_id=None,
            name="GET /api/v1/orders/{order_id}",
            kind=2,
            start_ns=i,
            end_ns=i + 1000,
            attributes=vary(attributes, offset + i),
        )
        for i in range(count)
    ]


def measure(scrubber: Scrubber, attributes: dict, spans: int, rounds: int) -> tuple[float, int]:
    timings = []
    changed = 0
    for round_ in range(rounds):
        batch = make_spans(spans, attributes, offset=round_ * spans)  # new ids each round
        start = time.perf_counter()
        changed = scrubber.scrub_batch(spans=batch)
        timings.append(time.perf_counter() - start)
    return statistics.median(timings), changed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spans", type=int, default=20_000, help="spans per round (one batch)")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()

    print(f"machine: {os.cpu_count()} cores, {platform.platform()}, Python {platform.python_version()}")
    print(f"date: {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC; load average: {os.getloadavg()[0]:.2f}")
    print(f"{args.spans} spans x {len(ATTRIBUTES)} attributes per round, median of {args.rounds} rounds\n")

    clean = {key: value for key, value in ATTRIBUTES.items() if key != "enduser.id"} | {"enduser.id": "user-18842"}
    heavy = ATTRIBUTES | {
        "url.full": "https://shop.example.com/api/v1/pay?api_key=sk_live_51Habc123def&page=2",
        "db.statement": "UPDATE cards SET pan = '4111 1111 1111 1111' WHERE owner = 'bob@example.com'",
        "http.request.header.authorization": "Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl",
    }
    cases = [
        ("realistic (1 email in 12 values)", Scrubber(), ATTRIBUTES),
        ("all clean", Scrubber(), clean),
        ("PII-heavy (4 of 12 values)", Scrubber(), heavy),
        ("every value new (cold cache)", Scrubber(), ATTRIBUTES | {"_unique": True}),
        ("realistic, scrub_ips=True", Scrubber(scrub_ips=True), ATTRIBUTES),
        ("realistic, hash mode", Scrubber(hash_secret=b"bench", default_action="hash"), ATTRIBUTES),
    ]
    print(f"{'case':<36} {'spans/s':>10} {'values/s':>11} {'us/span':>8} {'changed/span':>12}")
    realistic_rate = 0.0
    for label, scrubber, attributes in cases:
        seconds, changed = measure(scrubber, attributes, args.spans, args.rounds)
        rate = args.spans / seconds
        values_per_span = len(attributes) - ("_unique" in attributes)
        if not realistic_rate:
            realistic_rate = rate
        print(
            f"{label:<36} {rate:>10,.0f} {rate * values_per_span:>11,.0f} {seconds / args.spans * 1e6:>8.1f}"
            f" {changed / args.spans:>12.2f}"
        )
    share = TARGET_SPANS_PER_SECOND / realistic_rate
    print(f"\nat {TARGET_SPANS_PER_SECOND:,} spans/s the realistic case needs {share:.0%} of one core")
    return 0


if __name__ == "__main__":
    sys.exit(main())
