"""Load generator for bench/ingest.py: realistic OTLP/protobuf trace requests, sent over HTTP.

Imported by bench/ingest.py (and run in its own process there); no Django. Two parts:

- ``build_templates(seed, count)``: ``count`` serialized ``ExportTraceServiceRequest`` bodies of 512
  spans each, shaped like a Collector's batch: complete traces of 5-30 spans over 3-8 services, one
  ResourceSpans per service instance (19 resource attributes), SERVER/CLIENT/INTERNAL spans with
  correct parent links and 12-17 attributes each (http.*, url.full, db.*, enduser.id,
  user_agent.original, code.*, thread.*), an event on 10% of the spans (an ``exception`` event with
  a stack trace on the 2% that are errors). Each template records where its trace ids and
  timestamps sit in the serialized bytes.
- ``Patcher``: turns a template into a fresh request in ~0.1 ms with numpy: new random trace ids
  (so every span is new to the database, never a cheap duplicate) and timestamps shifted to now.
- ``loadgen_main(conn, templates, url, key)``: the generator process; it answers ``("run", ...)``
  commands from the parent with per-step results (statuses, latencies, durable spans).
"""

from __future__ import annotations

import http.client
import os
import random
import statistics
import struct
import threading
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import numpy as np
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2
from opentelemetry.proto.trace.v1 import trace_pb2

SPANS_PER_REQUEST = 512

SERVICES = [
    ("frontend", "python", "/api/{page}"),
    ("checkout", "java", "/checkout/{id}"),
    ("cart", "go", "/cart/{user}"),
    ("payment", "java", "/payments/{id}/capture"),
    ("inventory", "python", "/stock/{sku}"),
    ("users", "nodejs", "/users/{id}"),
    ("search", "python", "/search"),
    ("shipping", "go", "/quotes"),
    ("recommendation", "python", "/recommend/{user}"),
    ("email", "nodejs", "/send"),
    ("ads", "java", "/ads"),
    ("currency", "nodejs", "/convert"),
]
DATABASES = [
    ("postgresql", "shop", "SELECT o.id, o.total, o.status FROM orders o WHERE o.customer_id = $1 AND o.created > $2"),
    ("postgresql", "shop", "UPDATE stock SET reserved = reserved + $1 WHERE sku = $2 AND warehouse_id = $3"),
    ("mysql", "users", "SELECT id, email, name, locale FROM users WHERE id = ? LIMIT 1"),
    ("redis", "0", "GET cart:{user}"),
    ("redis", "0", "HGETALL session:{user}"),
    ("mongodb", "catalog", "find products {category: ?, price: {$lt: ?}}"),
]
USER_AGENTS = [
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Safari/605",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148",
    "okhttp/4.12.0",
    "python-requests/2.32.3",
]
METHODS = ["GET", "GET", "GET", "POST", "PUT", "DELETE"]
EXCEPTIONS = [
    ("java.lang.IllegalStateException", "inventory reservation failed: sku {n} not available"),
    ("ValueError", "invalid currency code 'XX{n}'"),
    ("TimeoutError", "upstream call timed out after 2000 ms (attempt {n})"),
    ("psycopg.errors.SerializationFailure", "could not serialize access due to concurrent update ({n})"),
]


def _set(kv_list: Any, key: str, value: Any) -> None:
    kv = kv_list.add()
    kv.key = key
    if isinstance(value, bool):
        kv.value.bool_value = value
    elif isinstance(value, int):
        kv.value.int_value = value
    elif isinstance(value, float):
        kv.value.double_value = value
    else:
        kv.value.string_value = value


def _resource_attributes(service: str, language: str, pod: int) -> list[tuple[str, Any]]:
    zone = "abc"[pod % 3]
    return [
        ("service.name", service),
        ("service.version", f"2.{len(service)}.{pod + 3}"),
        ("service.namespace", "shop"),
        ("service.instance.id", f"{service}-7f9c{pod:02d}-{abs(hash(service)) % 10**6:06d}"),
        ("deployment.environment.name", "production"),
        ("host.name", f"ip-10-0-{pod + 1}-{len(service) * 7}.eu-west-1.compute.internal"),
        ("host.arch", "amd64"),
        ("os.type", "linux"),
        ("k8s.cluster.name", "prod-eu-1"),
        ("k8s.namespace.name", "shop"),
        ("k8s.deployment.name", service),
        ("k8s.pod.name", f"{service}-5d8f7b9c4-{pod:05d}"),
        ("k8s.node.name", f"node-{pod % 4}"),
        ("cloud.provider", "aws"),
        ("cloud.region", "eu-west-1"),
        ("cloud.availability_zone", f"eu-west-1{zone}"),
        ("telemetry.sdk.name", "opentelemetry"),
        ("telemetry.sdk.language", language),
        ("telemetry.sdk.version", "1.45.2"),
        ("process.pid", 1000 + pod * 17),
        ("process.runtime.name", {"python": "cpython", "java": "OpenJDK", "go": "go", "nodejs": "nodejs"}[language]),
    ]


@dataclass
class _Span:
    service: int
    pod: int
    span_id: bytes
    parent: bytes
    name: str
    kind: int
    start: int
    end: int
    attributes: list[tuple[str, Any]]
    error: bool = False
    event: tuple[str, int, list[tuple[str, Any]]] | None = None
    scope: str = ""


def _stacktrace(rnd: random.Random, exc_type: str, message: str) -> str:
    frames = [
        f'  File "/app/{rnd.choice(["shop", "core", "api"])}/{name}.py", line {rnd.randrange(20, 900)}, in {fn}'
        for name, fn in [
            ("handlers", "handle"),
            ("views", "dispatch"),
            ("service", "reserve"),
            ("client", "call"),
            ("retry", "wrapped"),
            ("db", "execute"),
            ("pool", "acquire"),
            ("cursor", "execute"),
            ("errors", "raise_from"),
        ]
    ]
    return "Traceback (most recent call last):\n" + "\n".join(frames) + f"\n{exc_type}: {message}"


class _TraceBuilder:
    def __init__(self, rnd: random.Random, now_ns: int) -> None:
        self.rnd = rnd
        self.now_ns = now_ns

    def _common(self, s: _Span, user: str, thread: int) -> list[tuple[str, Any]]:
        rnd = self.rnd
        service = SERVICES[s.service][0]
        return [
            ("code.function", rnd.choice(["handle", "process", "fetch", "reserve", "render", "lookup"])),
            ("code.namespace", f"shop.{service}.{rnd.choice(['handlers', 'service', 'repository'])}"),
            ("code.lineno", rnd.randrange(10, 800)),
            ("thread.id", thread),
            ("thread.name", f"worker-{thread % 16}"),
            ("enduser.id", user),
        ]

    def _server(self, s: _Span, *, method: str, route: str, user: str, thread: int, status: int) -> None:
        rnd = self.rnd
        service = SERVICES[s.service][0]
        path = route.replace("{page}", rnd.choice(["home", "product", "cart", "orders"])).replace(
            "{id}", str(rnd.randrange(10**7))
        )
        path = path.replace("{user}", user).replace("{sku}", f"SKU-{rnd.randrange(10**5):05d}")
        s.name = f"{method} {route}"
        s.kind = trace_pb2.Span.SPAN_KIND_SERVER
        s.scope = "opentelemetry.instrumentation.asgi"
        s.attributes = [
            ("http.request.method", method),
            ("http.route", route),
            ("http.response.status_code", status),
            ("url.scheme", "https"),
            ("url.path", path),
            ("url.full", f"https://{service}.shop.internal{path}?session={rnd.randrange(10**9):09d}"),
            ("server.address", f"{service}.shop.internal"),
            ("server.port", 8080),
            ("client.address", f"10.0.{rnd.randrange(256)}.{rnd.randrange(256)}"),
            ("user_agent.original", rnd.choice(USER_AGENTS)),
            ("network.protocol.version", "1.1"),
            *self._common(s, user, thread),
        ]

    def _http_client(self, s: _Span, *, callee: int, method: str, user: str, thread: int, status: int) -> None:
        rnd = self.rnd
        target = SERVICES[callee][0]
        s.name = method
        s.kind = trace_pb2.Span.SPAN_KIND_CLIENT
        s.scope = "opentelemetry.instrumentation.httpx"
        s.attributes = [
            ("http.request.method", method),
            ("http.response.status_code", status),
            ("url.full", f"http://{target}.shop.internal:8080/v1/{rnd.randrange(10**8)}"),
            ("server.address", f"{target}.shop.internal"),
            ("server.port", 8080),
            ("network.peer.address", f"10.1.{rnd.randrange(256)}.{rnd.randrange(256)}"),
            ("http.request.resend_count", 0),
            *self._common(s, user, thread),
        ]

    def _db(self, s: _Span, user: str, thread: int) -> None:
        rnd = self.rnd
        system, name, statement = rnd.choice(DATABASES)
        operation = statement.split()[0]
        s.name = f"{operation} {name}"
        s.kind = trace_pb2.Span.SPAN_KIND_CLIENT
        s.scope = f"opentelemetry.instrumentation.{system}"
        s.attributes = [
            ("db.system", system),
            ("db.name", name),
            ("db.statement", statement.replace("{user}", user)),
            ("db.operation", operation),
            ("db.user", "app"),
            ("server.address", f"{system}.shop.internal"),
            ("server.port", {"postgresql": 5432, "mysql": 3306, "redis": 6379, "mongodb": 27017}[system]),
            ("network.peer.address", f"10.2.0.{rnd.randrange(1, 40)}"),
            ("db.response.returned_rows", rnd.randrange(0, 200)),
            *self._common(s, user, thread),
        ]

    def _internal(self, s: _Span, user: str, thread: int) -> None:
        rnd = self.rnd
        s.name = rnd.choice(["render_template", "validate_cart", "compute_price", "serialize", "auth.check"])
        s.kind = trace_pb2.Span.SPAN_KIND_INTERNAL
        s.scope = "shop.tracing"
        s.attributes = [
            ("app.step", s.name),
            ("app.items", rnd.randrange(1, 30)),
            ("app.cache_hit", rnd.random() < 0.7),
            ("app.ratio", round(rnd.random(), 4)),
            ("feature.flag", rnd.choice(["new-checkout", "control", "beta-search"])),
            ("session.id", f"s-{rnd.randrange(10**10):010d}"),
            *self._common(s, user, thread),
        ]

    def trace(self, size: int) -> list[_Span]:
        """``size`` spans of one trace; root is a SERVER span, calls across services are CLIENT→SERVER pairs."""
        rnd = self.rnd
        n_services = rnd.randint(3, 8)
        services = rnd.sample(range(len(SERVICES)), n_services)
        user = f"user-{rnd.randrange(50_000):05d}"
        duration = int(rnd.lognormvariate(17.5, 0.8))  # ~40 ms median
        start = self.now_ns - rnd.randrange(2 * 10**9) - duration
        pods = {svc: rnd.randrange(3) for svc in services}

        def new(service: int, parent: _Span | None, lo: int, hi: int) -> _Span:
            begin = rnd.randint(lo, max(lo, (lo + hi) // 2))
            end = rnd.randint(begin + 1000, max(begin + 2000, hi))
            return _Span(
                service, pods[service], rnd.randbytes(8), parent.span_id if parent else b"", "", 0, begin, end, []
            )

        root = new(services[0], None, start, start + duration)
        root.start, root.end = start, start + duration
        self._server(
            root,
            method=rnd.choice(METHODS),
            route=SERVICES[services[0]][2],
            user=user,
            thread=rnd.randrange(1, 200),
            status=200,
        )
        spans = [root]
        servers = [root]  # spans that may have children
        unvisited = services[1:]
        while len(spans) < size:
            parent = rnd.choice(servers)
            room = size - len(spans)
            if unvisited and room >= 2 and rnd.random() < 0.6:
                callee = unvisited.pop(0)
                method = rnd.choice(METHODS)
                client = new(parent.service, parent, parent.start, parent.end)
                self._http_client(
                    client, callee=callee, method=method, user=user, thread=rnd.randrange(1, 200), status=200
                )
                server = new(callee, client, client.start + 200_000, client.end - 100_000)
                self._server(
                    server,
                    method=method,
                    route=SERVICES[callee][2],
                    user=user,
                    thread=rnd.randrange(1, 200),
                    status=200,
                )
                spans += [client, server]
                servers.append(server)
            elif rnd.random() < 0.65:
                db = new(parent.service, parent, parent.start, parent.end)
                self._db(db, user, rnd.randrange(1, 200))
                spans.append(db)
            else:
                internal = new(parent.service, parent, parent.start, parent.end)
                self._internal(internal, user, rnd.randrange(1, 200))
                spans.append(internal)
                servers.append(internal)
        for s in spans:
            roll = rnd.random()
            if roll < 0.02:  # an error, with the exception event OTel SDKs record
                s.error = True
                exc_type, template = rnd.choice(EXCEPTIONS)
                message = template.format(n=rnd.randrange(10**6))
                s.event = (
                    "exception",
                    rnd.randint(s.start, s.end),
                    [
                        ("exception.type", exc_type),
                        ("exception.message", message),
                        ("exception.stacktrace", _stacktrace(rnd, exc_type, message)),
                        ("exception.escaped", False),
                    ],
                )
                s.attributes = [(k, 500 if k == "http.response.status_code" else v) for k, v in s.attributes]
            elif roll < 0.10:
                s.event = (
                    rnd.choice(["cache.miss", "retry", "log"]),
                    rnd.randint(s.start, s.end),
                    [("message", f"attempt {rnd.randrange(1, 4)} for key k{rnd.randrange(10**6)}"), ("level", "INFO")],
                )
        return spans


@dataclass
class Template:
    """One serialized request and where its mutable parts are."""

    body: bytes
    spans: int
    trace_offsets: list[int] = field(default_factory=list)  # offset of each trace id occurrence
    trace_index: list[int] = field(default_factory=list)  # which trace each occurrence belongs to
    traces: int = 0
    ts_offsets: list[int] = field(default_factory=list)  # fixed64 timestamps (span start/end, event time)
    ts_values: list[int] = field(default_factory=list)
    base_ns: int = 0


def _occurrences(body: bytes, needle: bytes) -> list[int]:
    found = []
    pos = body.find(needle)
    while pos >= 0:
        found.append(pos)
        pos = body.find(needle, pos + 1)
    return found


def build_template(rnd: random.Random, now_ns: int) -> Template:  # noqa: PLR0912, PLR0915 (one pass)
    builder = _TraceBuilder(rnd, now_ns)
    traces: list[tuple[bytes, list[_Span]]] = []
    total = 0
    while total < SPANS_PER_REQUEST:
        size = min(rnd.randint(5, 30), SPANS_PER_REQUEST - total)
        traces.append((rnd.randbytes(16), builder.trace(size)))
        total += size
    # group by resource (service instance), as a Collector's batch processor does
    by_resource: dict[tuple[int, int], list[tuple[bytes, _Span]]] = {}
    for trace_id, spans in traces:
        for s in spans:
            by_resource.setdefault((s.service, s.pod), []).append((trace_id, s))
    request = trace_service_pb2.ExportTraceServiceRequest()
    timestamps: list[int] = []
    for (service, pod), items in by_resource.items():
        rs = request.resource_spans.add()
        name, language, _ = SERVICES[service]
        for key, value in _resource_attributes(name, language, pod):
            _set(rs.resource.attributes, key, value)
        rs.schema_url = "https://opentelemetry.io/schemas/1.26.0"
        by_scope: dict[str, list[tuple[bytes, _Span]]] = {}
        for trace_id, s in items:
            by_scope.setdefault(s.scope, []).append((trace_id, s))
        for scope, scoped in by_scope.items():
            ss = rs.scope_spans.add()
            ss.scope.name = scope
            ss.scope.version = "0.66b2"
            for trace_id, s in scoped:
                span = ss.spans.add()
                span.trace_id = trace_id
                span.span_id = s.span_id
                if s.parent:
                    span.parent_span_id = s.parent
                span.name = s.name
                span.kind = s.kind
                span.start_time_unix_nano = s.start
                span.end_time_unix_nano = s.end
                span.flags = 0x301
                for key, value in s.attributes:
                    _set(span.attributes, key, value)
                timestamps += [s.start, s.end]
                if s.error:
                    span.status.code = trace_pb2.Status.STATUS_CODE_ERROR
                    span.status.message = s.event[2][1][1] if s.event else "error"
                if s.event:
                    event = span.events.add()
                    event.name, event.time_unix_nano = s.event[0], s.event[1]
                    for key, value in s.event[2]:
                        _set(event.attributes, key, value)
                    timestamps.append(s.event[1])
    body = request.SerializeToString()
    template = Template(body=body, spans=total, traces=len(traces), base_ns=now_ns)
    for index, (trace_id, spans) in enumerate(traces):
        offsets = _occurrences(body, trace_id)
        if len(offsets) != len(spans):
            raise RuntimeError("trace id bytes collided with other content; use another seed")
        template.trace_offsets += offsets
        template.trace_index += [index] * len(offsets)
    for value in sorted(set(timestamps)):
        offsets = _occurrences(body, struct.pack("<Q", value))
        template.ts_offsets += offsets
        template.ts_values += [value] * len(offsets)
    if len(template.ts_offsets) != len(timestamps):
        raise RuntimeError("timestamp bytes collided with other content; use another seed")
    return template


def build_templates(seed: int, count: int, now_ns: int | None = None) -> list[Template]:
    rnd = random.Random(seed)  # noqa: S311 (reproducible test data)
    now_ns = now_ns or time.time_ns()
    return [build_template(rnd, now_ns) for _ in range(count)]


class Patcher:
    """Fresh copies of a template: random trace ids, timestamps moved so the request ends about now."""

    def __init__(self, template: Template) -> None:
        self.template = template
        self.body = np.frombuffer(template.body, dtype=np.uint8)
        self.trace_idx = (np.asarray(template.trace_offsets)[:, None] + np.arange(16)).ravel()
        self.trace_of = np.asarray(template.trace_index)
        self.ts_idx = (np.asarray(template.ts_offsets)[:, None] + np.arange(8)).ravel()
        self.ts = np.asarray(template.ts_values, dtype="<u8")

    def make(self, now_ns: int) -> bytes:
        out = self.body.copy()
        ids = np.frombuffer(os.urandom(16 * self.template.traces), dtype=np.uint8).reshape(-1, 16)
        out[self.trace_idx] = ids[self.trace_of].ravel()
        shifted = self.ts + np.uint64(max(now_ns - self.template.base_ns, 0))
        out[self.ts_idx] = shifted.view(np.uint8)
        return out.tobytes()

    def trace_ids(self, body: bytes) -> set[bytes]:
        return {body[o : o + 16] for o in self.template.trace_offsets}


# --- the sender process -------------------------------------------------------------------------------


@dataclass
class StepResult:
    target: float | None  # spans/s, None for "max"
    seconds: float
    requests: int = 0
    durable_spans: int = 0
    statuses: dict[str, int] = field(default_factory=dict)
    latencies: list[float] = field(default_factory=list)
    late_requests: int = 0  # started more than 100 ms after their slot: the senders could not keep up
    loadgen_cpu: float = 0.0

    def summary(self) -> dict[str, Any]:
        lat = sorted(self.latencies)
        return {
            "target": self.target,
            "seconds": self.seconds,
            "requests": self.requests,
            "durable_spans": self.durable_spans,
            "statuses": self.statuses,
            "p50_ms": statistics.median(lat) * 1000 if lat else None,
            "p99_ms": lat[min(len(lat) - 1, int(len(lat) * 0.99))] * 1000 if lat else None,
            "late_requests": self.late_requests,
            "loadgen_cpu": self.loadgen_cpu,
        }


def _accepted(status: int, body: bytes, spans: int) -> int:
    """Spans a response made durable: 200 minus the partial-success rejections."""
    if status != 200:
        return 0
    if not body:
        return spans
    response = trace_service_pb2.ExportTraceServiceResponse.FromString(body)
    return spans - response.partial_success.rejected_spans


def run_step(  # noqa: PLR0915 (the sender closure keeps its counters local)
    patchers: list[Patcher], url: str, key: str, *, target: float | None, seconds: float, senders: int
) -> StepResult:
    """Send for ``seconds`` at ``target`` spans/s (open loop, paced slots) or as fast as possible (None)."""
    parts = urlsplit(url)
    result = StepResult(target=target, seconds=seconds)
    lock = threading.Lock()
    interval = SPANS_PER_REQUEST / target if target else 0.0
    start = time.monotonic() + 0.05
    end = start + seconds
    counter = iter(range(10**12))
    headers = {"Content-Type": "application/x-protobuf", "Authorization": f"Bearer {key}"}

    def sender(index: int) -> None:
        conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=60)
        rnd = random.Random(index)  # noqa: S311
        latencies: list[float] = []
        statuses: dict[str, int] = {}
        durable = sent = late = 0
        try:
            while True:
                with lock:
                    slot = next(counter)
                due = start + slot * interval
                now = time.monotonic()
                if due >= end or now >= end:
                    break
                if due > now:
                    time.sleep(due - now)
                elif target and now - due > 0.1:
                    late += 1
                patcher = patchers[rnd.randrange(len(patchers))]
                body = patcher.make(time.time_ns())
                t0 = time.perf_counter()
                try:
                    conn.request("POST", parts.path, body=body, headers=headers)
                    response = conn.getresponse()
                    payload = response.read()
                    status = str(response.status)
                except (OSError, http.client.HTTPException) as exc:
                    status = type(exc).__name__
                    payload = b""
                    conn.close()
                    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=60)
                latencies.append(time.perf_counter() - t0)
                sent += 1
                statuses[status] = statuses.get(status, 0) + 1
                durable += _accepted(int(status), payload, patcher.template.spans) if status.isdigit() else 0
                if status in ("429", "503") or not status.isdigit():
                    time.sleep(0.1)  # do not spin on refusals; the slot schedule stays the same
        finally:
            conn.close()
            with lock:
                result.requests += sent
                result.durable_spans += durable
                result.late_requests += late
                result.latencies += latencies
                for status, n in statuses.items():
                    result.statuses[status] = result.statuses.get(status, 0) + n

    cpu0 = time.process_time()
    threads = [threading.Thread(target=sender, args=(i,), daemon=True) for i in range(senders)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    result.seconds = time.monotonic() - start  # includes the last in-flight requests
    result.loadgen_cpu = time.process_time() - cpu0
    return result


def loadgen_main(conn: Any, templates: list[Template], url: str, key: str) -> None:
    """Process entry: build the patchers, then serve ``("run", target, seconds, senders[, url])`` until
    ``("stop",)``; without a url of its own a step goes to ``url``."""
    patchers = [Patcher(t) for t in templates]
    conn.send(("ready", os.getpid()))
    while True:
        command = conn.recv()
        if command[0] == "stop":
            return
        _, target, seconds, senders, *to = command
        result = run_step(patchers, to[0] if to else url, key, target=target, seconds=seconds, senders=senders)
        conn.send(("done", result.summary()))
