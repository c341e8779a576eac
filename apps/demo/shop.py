# ruff: noqa: S608 (the SQL here is telemetry text, never executed)
"""The simulated shop: five services, their dependencies, and the story the demo data tells.

Topology (every arrow is a CLIENT span in the caller and a SERVER span in the callee, same trace, the
callee's parent being the caller's CLIENT span, propagated through W3C ``traceparent`` headers):

    frontend ──► api-gateway ──► inventory ──► PostgreSQL (shop), Redis
                       │    └──► checkout ──► inventory, payments, PostgreSQL, Redis
                       └──► Redis (sessions)          payments ──► api.payments.example, PostgreSQL

The story, on top of log-normal latencies per operation:
- ``GET /product/{id}`` in inventory loads each variant's stock with its own query (an N+1: 12-16
  ``SELECT quantity FROM stock WHERE variant_id = ?`` under one parent span);
- the external payment API is slow (p50 ~400 ms, 2 % of calls stall over 2 s) and sometimes answers 503;
- checkout 1.5.0 (deployed during the run) calculates shipping synchronously: ``POST /checkout`` gets
  clearly slower (p95 about ×2) after the deploy;
- 1-3 % of requests fail with a real-looking exception: a span event ``exception`` (type, message, stack
  trace) on the failing span, ERROR status up the call chain, and an ERROR log record with the span's ids.

Nothing here sleeps or opens a socket: each operation gets a start time and returns its end time, and
spans are started and ended with those explicit timestamps, so a minute of traffic takes milliseconds.
"""

from __future__ import annotations

import math
import random
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from opentelemetry import trace
from opentelemetry._logs import SeverityNumber
from opentelemetry.context import Context
from opentelemetry.metrics import CallbackOptions, Observation
from opentelemetry.trace import Span, SpanKind, Status, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from apps.demo import failures
from apps.demo.failures import Failure
from apps.demo.telemetry import NS_PER_SECOND, Exporters, ServiceTelemetry, start_service

VERSIONS = {"frontend": "3.2.1", "api-gateway": "2.0.4", "checkout": "1.4.2", "payments": "0.9.7", "inventory": "1.1.0"}
SERVICES = tuple(VERSIONS)
CHECKOUT_NEW_VERSION = "1.5.0"
PAYMENT_API = "api.payments.example"
DB_NAMESPACE = "shop"
N_PLUS_ONE_MIN, N_PLUS_ONE_MAX = 12, 16
# What a frontend request is, by share of traffic.
ROUTE_MIX = (("GET /", 0.35), ("GET /product/{id}", 0.33), ("POST /cart", 0.17), ("POST /checkout", 0.15))
# Failure odds per operation; together 1-3 % of frontend requests end in an error.
P_PAYMENT_API_DOWN = 0.06
P_STOCK_DEADLOCK = 0.02
P_PRICE_MISSING = 0.015
TRACKED_PRODUCTS = 8  # products whose stock level is a metric series
POOL_SIZE = 20


@dataclass(frozen=True)
class Latency:
    """Log-normal latency: most calls near the median, a long tail (sigma is the spread of ln(duration))."""

    median_ms: float
    sigma: float

    def sample(self, rng: random.Random) -> int:
        return int(rng.lognormvariate(math.log(self.median_ms), self.sigma) * 1_000_000)


NETWORK = Latency(0.5, 0.4)
REDIS = Latency(0.35, 0.5)
DB_SELECT = Latency(1.2, 0.6)
DB_STOCK_ROW = Latency(0.9, 0.5)
DB_WRITE = Latency(2.8, 0.7)
SELF = Latency(1.0, 0.5)  # a service's own work between calls
RENDER = Latency(28.0, 0.5)
FRAUD_SCREEN = Latency(8.0, 0.5)
PAYMENT_API_CALL = Latency(400.0, 0.45)  # p50 400 ms, p95 ~840 ms...
PAYMENT_API_STALL = Latency(2600.0, 0.25)  # ...and now and then a stall over 2 s
P_PAYMENT_API_STALL = 0.02
PAYMENT_API_FAILING = Latency(250.0, 0.5)  # a 503 comes back fast
SHIPPING_1_5_0 = Latency(1200.0, 0.35)  # the regression shipped with checkout 1.5.0: p95 of POST /checkout ×2
DEADLOCK_WAIT = Latency(1000.0, 0.1)
_TABLE = re.compile(r"\b(?:FROM|INTO|UPDATE)\s+(\w+)")


@dataclass(frozen=True)
class Endpoint:
    """An HTTP endpoint of a service: ``route`` is the template (``/product/{id}``), ``path`` the actual path."""

    service: str
    method: str
    route: str
    path: str

    @property
    def name(self) -> str:
        return f"{self.method} {self.route}"

    @property
    def url(self) -> str:
        return f"http://{self.service}:8080{self.path}"


@dataclass(frozen=True)
class Reply:
    end_ns: int
    status: int

    @property
    def failed(self) -> bool:
        return self.status >= 500


Handler = Callable[[Context, int], Reply]


class Shop:
    """The services' telemetry and the handlers of every endpoint; ``request`` plays one frontend request."""

    def __init__(self, exporters: Exporters, rng: random.Random, started_ns: int, host_suffix: str) -> None:
        self.rng = rng
        self.exporters = exporters
        self.host_suffix = host_suffix
        self.span_counts = [0]
        self.requests = 0
        self.errors = 0
        self._propagator = TraceContextTextMapPropagator()
        self._order_id = 1000 + rng.randrange(1000)
        self.stock = {product: 300 + rng.randrange(200) for product in range(1, TRACKED_PRODUCTS + 1)}
        self._pool_used: dict[str, int] = {}
        self._instruments: dict[str, dict[str, Any]] = {}
        self.services: dict[str, ServiceTelemetry] = {}
        for name, version in VERSIONS.items():
            self._start(name, version, started_ns)

    # --- service lifecycle --------------------------------------------------------------------------------------

    def _start(self, name: str, version: str, at_ns: int) -> None:
        # A Kubernetes-like pod name: a new version runs in a new pod.
        pod = f"{self.rng.randrange(16**9):09x}-{self.rng.randrange(36**5):05x}"[:15]
        host = f"{name}-{pod}-{self.host_suffix}"
        service = start_service(
            name, version, host=host, exporters=self.exporters, started_ns=at_ns, span_counts=self.span_counts
        )
        self.services[name] = service
        self._pool_used[name] = 0
        meter = service.meter
        instruments: dict[str, Any] = {}
        if name in ("checkout", "inventory"):
            instruments["pool"] = meter.create_up_down_counter(
                "db.client.connections.usage", unit="{connection}", description="Connections in the pool by state."
            )
        if name == "checkout":
            instruments["orders"] = meter.create_counter("orders.placed", unit="{order}", description="Orders placed.")
        if name == "payments":
            instruments["client_duration"] = meter.create_histogram(
                "http.client.request.duration", unit="s", description="Duration of outgoing HTTP requests."
            )
        if name == "inventory":
            meter.create_observable_gauge(
                "inventory.stock_level", callbacks=[self._observe_stock], unit="{item}", description="Items in stock."
            )
        self._instruments[name] = instruments

    def _observe_stock(self, options: CallbackOptions) -> list[Observation]:
        return [Observation(quantity, {"product.id": str(product)}) for product, quantity in self.stock.items()]

    def deploy(self, name: str, version: str, at_ns: int) -> None:
        """Replace a service by a new version, as a rolling deploy would: the old process reports its last
        metrics, flushes and exits; the new one starts with a new Resource (service.version, host.name)."""
        old = self.services[name]
        old.reader.collect_interval(at_ns - 60 * NS_PER_SECOND, at_ns)
        old.flush()
        old.shutdown()
        self._start(name, version, at_ns)
        self.services[name].logger.emit(
            timestamp=at_ns,
            observed_timestamp=at_ns,
            severity_number=SeverityNumber.INFO,
            severity_text="INFO",
            body=f"{name} {version} started (replacing {old.version})",
            attributes={"service.previous_version": old.version},
        )

    def end_interval(self, start_ns: int, end_ns: int, requests_in_interval: int) -> None:
        """Per-interval gauges, then every service's metrics for [start, end)."""
        seconds = max((end_ns - start_ns) / NS_PER_SECOND, 1.0)
        for name in ("checkout", "inventory"):
            used = min(POOL_SIZE, 1 + round(requests_in_interval / seconds * 3) + self.rng.randrange(3))
            pool, attrs = self._instruments[name]["pool"], {"pool.name": f"{name}-db"}
            # An up-down counter takes changes: move the difference from idle to used.
            delta, first = used - self._pool_used[name], not self._pool_used[name]
            self._pool_used[name] = used
            pool.add(delta, {**attrs, "state": "used"})
            pool.add(POOL_SIZE - used if first else -delta, {**attrs, "state": "idle"})
        for service in self.services.values():
            service.reader.collect_interval(start_ns, end_ns)

    def flush(self) -> None:
        for service in self.services.values():
            service.flush()

    def shutdown(self) -> None:
        for service in self.services.values():
            service.shutdown()

    # --- building blocks ----------------------------------------------------------------------------------------

    def _ms(self, latency: Latency) -> int:
        return latency.sample(self.rng)

    def _log(
        self, service: str, span: Span | None, at_ns: int, severity: SeverityNumber, body: str, **attrs: Any
    ) -> None:
        self.services[service].logger.emit(
            timestamp=at_ns,
            observed_timestamp=at_ns,
            context=trace.set_span_in_context(span) if span is not None else None,
            severity_number=severity,
            severity_text=severity.name,
            body=body,
            attributes=attrs or None,
        )

    def _fail(self, service: str, span: Span, at_ns: int, failure: Failure) -> None:
        """The exception event on the failing span, its ERROR status, and the ERROR log with its ids."""
        span.add_event("exception", failure.attributes(), timestamp=at_ns)
        span.set_attribute("error.type", failure.type)
        span.set_status(Status(StatusCode.ERROR, failure.message.splitlines()[0]))
        body = f"{failure.type}: {failure.message}"
        self._log(service, span, at_ns, SeverityNumber.ERROR, body, **failure.attributes())

    def _server(self, endpoint: Endpoint, parent: Context | None, start_ns: int) -> Span:
        return self.services[endpoint.service].tracer.start_span(
            endpoint.name,
            context=parent,
            kind=SpanKind.SERVER,
            start_time=start_ns,
            attributes={
                "http.request.method": endpoint.method,
                "http.route": endpoint.route,
                "url.path": endpoint.path,
                "url.scheme": "http",
                "server.address": endpoint.service,
                "server.port": 3000 if endpoint.service == "frontend" else 8080,
                "network.protocol.version": "1.1",
            },
        )

    def _finish_server(self, endpoint: Endpoint, span: Span, start_ns: int, end_ns: int, status: int) -> Reply:
        span.set_attribute("http.response.status_code", status)
        if status >= 500:
            span.set_status(Status(StatusCode.ERROR))
        self.services[endpoint.service].request_duration.record(
            (end_ns - start_ns) / NS_PER_SECOND,
            {"http.route": endpoint.route, "http.request.method": endpoint.method, "http.response.status_code": status},
        )
        span.end(end_time=end_ns)
        return Reply(end_ns, status)

    def _call(self, caller: str, parent: Span, start_ns: int, endpoint: Endpoint, handler: Handler) -> Reply:
        """An HTTP call to another service: CLIENT span here, the callee's SERVER span as its child.

        No ``server.address`` on these CLIENT spans: Vigil counts a CLIENT span with one as a call to an
        external host, and the call already shows in the service map as the edge between two services.
        """
        client = self.services[caller].tracer.start_span(
            endpoint.name,
            context=trace.set_span_in_context(parent),
            kind=SpanKind.CLIENT,
            start_time=start_ns,
            attributes={"http.request.method": endpoint.method, "url.full": endpoint.url},
        )
        headers: dict[str, str] = {}  # the W3C traceparent header, as on the wire
        self._propagator.inject(headers, context=trace.set_span_in_context(client))
        reply = handler(self._propagator.extract(headers), start_ns + self._ms(NETWORK))
        end_ns = reply.end_ns + self._ms(NETWORK)
        client.set_attribute("http.response.status_code", reply.status)
        if reply.failed:
            client.set_attribute("error.type", str(reply.status))
            client.set_status(Status(StatusCode.ERROR))
        client.end(end_time=end_ns)
        return Reply(end_ns, reply.status)

    def _db(self, service: str, parent: Span, start_ns: int, statement: str, latency: Latency) -> int:
        """A PostgreSQL query, with its literal values as an ORM would log them."""
        operation = statement.split(" ", 1)[0]
        table = _TABLE.search(statement)
        collection = table.group(1) if table else ""
        span = self.services[service].tracer.start_span(
            f"{operation} {DB_NAMESPACE}.{collection}",
            context=trace.set_span_in_context(parent),
            kind=SpanKind.CLIENT,
            start_time=start_ns,
            attributes={
                "db.system": "postgresql",
                "db.namespace": DB_NAMESPACE,
                "db.collection.name": collection,
                "db.operation": operation,
                "db.statement": statement,
                "server.address": "postgres",
                "server.port": 5432,
            },
        )
        end_ns = start_ns + self._ms(latency)
        span.end(end_time=end_ns)
        return end_ns

    def _cache(self, service: str, parent: Span, start_ns: int, command: str) -> int:
        operation = command.split(" ", 1)[0]
        span = self.services[service].tracer.start_span(
            operation,
            context=trace.set_span_in_context(parent),
            kind=SpanKind.CLIENT,
            start_time=start_ns,
            attributes={
                "db.system": "redis",
                "db.operation": operation,
                "db.statement": command,
                "server.address": "redis",
                "server.port": 6379,
            },
        )
        end_ns = start_ns + self._ms(REDIS)
        span.end(end_time=end_ns)
        return end_ns

    def _internal(self, service: str, parent: Span, start_ns: int, name: str, code: tuple[str, str]) -> Span:
        """An INTERNAL span of the service's own code; ``code`` is (namespace, function)."""
        return self.services[service].tracer.start_span(
            name,
            context=trace.set_span_in_context(parent),
            kind=SpanKind.INTERNAL,
            start_time=start_ns,
            attributes={"code.namespace": code[0], "code.function": code[1]},
        )

    # --- frontend -----------------------------------------------------------------------------------------------

    def request(self, start_ns: int) -> None:
        """One visitor request, start to end, through every service it needs."""
        pick, route = self.rng.random(), ROUTE_MIX[-1][0]
        for candidate, share in ROUTE_MIX:
            if pick < share:
                route = candidate
                break
            pick -= share
        user = f"u-{self.rng.randrange(1000, 10000)}" if self.rng.random() < 0.6 else None
        product = self.rng.randrange(1, 61)
        method, template = route.split(" ")
        page = Endpoint("frontend", method, template, template.replace("{id}", str(product)))
        span = self._server(page, None, start_ns)
        if user:
            span.set_attribute("enduser.id", user)
        t = start_ns + self._ms(SELF)
        if route == "GET /":
            api = Endpoint("api-gateway", "GET", "/api/products", "/api/products")
            upstream = Endpoint("inventory", "GET", "/products", "/products")
            reply = self._via_gateway(span, t, api, upstream, self._featured_products, user=user)
            status, t = self._render(span, reply, "HomePage", ("app/page", "HomePage"))
        elif route == "GET /product/{id}":
            api = Endpoint("api-gateway", "GET", "/api/products/{id}", f"/api/products/{product}")
            upstream = Endpoint("inventory", "GET", "/product/{id}", f"/product/{product}")
            reply = self._via_gateway(span, t, api, upstream, self._product_page(upstream, product), user=user)
            status, t = self._render(span, reply, "ProductPage", ("app/product/[id]/page", "ProductPage"), True)
        elif route == "POST /cart":
            api = Endpoint("api-gateway", "POST", "/api/cart", "/api/cart")
            upstream = Endpoint("checkout", "POST", "/cart", "/cart")
            reply = self._via_gateway(span, t, api, upstream, self._add_to_cart(upstream, product), user=user)
            status, t = (reply.status if reply.failed else 303), reply.end_ns + self._ms(SELF)
        else:
            api = Endpoint("api-gateway", "POST", "/api/checkout", "/api/checkout")
            upstream = Endpoint("checkout", "POST", "/checkout", "/checkout")
            reply = self._via_gateway(span, t, api, upstream, self._checkout(upstream, user), user=user)
            status, t = (502 if reply.failed else 303), reply.end_ns + self._ms(SELF)
        self.requests += 1
        self.errors += status >= 500
        self._finish_server(page, span, start_ns, t, status)

    def _render(
        self, span: Span, reply: Reply, component: str, code: tuple[str, str], may_break: bool = False
    ) -> tuple[int, int]:
        """Server-side rendering of the page (an INTERNAL span with code.*); a missing price breaks it."""
        if reply.failed:
            return 502, reply.end_ns + self._ms(SELF)
        render = self._internal("frontend", span, reply.end_ns, f"render {component}", code)
        end_ns = reply.end_ns + self._ms(RENDER)
        status = 200
        if may_break and self.rng.random() < P_PRICE_MISSING:
            end_ns = reply.end_ns + self._ms(RENDER) // 3
            self._fail("frontend", render, end_ns, failures.product_render_error())
            span.set_attribute("error.type", "TypeError")
            status = 500
        render.end(end_time=end_ns)
        return status, end_ns + self._ms(SELF)

    # --- api-gateway --------------------------------------------------------------------------------------------

    def _via_gateway(
        self, parent: Span, start_ns: int, api: Endpoint, upstream: Endpoint, handler: Handler, *, user: str | None
    ) -> Reply:
        """frontend → api-gateway (session lookup in Redis, sampled access log) → the upstream service."""

        def gateway(context: Context, at_ns: int) -> Reply:
            span = self._server(api, context, at_ns)
            if user:
                span.set_attribute("enduser.id", user)
            t = self._cache("api-gateway", span, at_ns + self._ms(SELF), f"GET session:{user or 'anonymous'}")
            reply = self._call("api-gateway", span, t, upstream, handler)
            end_ns = reply.end_ns + self._ms(SELF)
            if self.rng.random() < 0.1 or reply.failed:
                severity = SeverityNumber.WARN if reply.failed else SeverityNumber.INFO
                took = (end_ns - at_ns) // 1_000_000
                line = f"{api.method} {api.path} {reply.status} {took} ms"
                self._log("api-gateway", span, end_ns, severity, line, **{"http.route": api.route})
            return self._finish_server(api, span, at_ns, end_ns, reply.status)

        return self._call("frontend", parent, start_ns, api, gateway)

    # --- inventory ----------------------------------------------------------------------------------------------

    def _featured_products(self, parent: Context, start_ns: int) -> Reply:
        endpoint = Endpoint("inventory", "GET", "/products", "/products")
        span = self._server(endpoint, parent, start_ns)
        t = self._cache("inventory", span, start_ns + self._ms(SELF), "GET catalog:featured")
        if self.rng.random() < 0.2:  # cache miss: load and store
            query = "SELECT id, name, price FROM products WHERE featured = true LIMIT 12"
            t = self._db("inventory", span, t, query, DB_SELECT)
            t = self._cache("inventory", span, t, "SET catalog:featured [12 products] EX 300")
            self._log("inventory", span, t, SeverityNumber.INFO, "catalog:featured cache miss; reloaded 12 products")
        return self._finish_server(endpoint, span, start_ns, t + self._ms(SELF), 200)

    def _product_page(self, endpoint: Endpoint, product: int) -> Handler:
        def handle(parent: Context, start_ns: int) -> Reply:
            span = self._server(endpoint, parent, start_ns)
            t = self._db("inventory", span, start_ns + self._ms(SELF), f"SELECT * FROM products WHERE id = {product}",
                         DB_SELECT)  # fmt: skip
            # The N+1: one query for the variants, then one per variant for its stock.
            code = ("inventory.repository.ProductRepository", "variants_with_stock")
            repo = self._internal("inventory", span, t, "ProductRepository.variants_with_stock", code)
            t = self._db("inventory", repo, t + 200_000, f"SELECT * FROM variants WHERE product_id = {product}",
                         DB_SELECT)  # fmt: skip
            for index in range(self.rng.randint(N_PLUS_ONE_MIN, N_PLUS_ONE_MAX)):
                variant = product * 100 + index
                query = f"SELECT quantity FROM stock WHERE variant_id = {variant}"
                t = self._db("inventory", repo, t + 100_000, query, DB_STOCK_ROW)
            repo.end(end_time=t)
            return self._finish_server(endpoint, span, start_ns, t + self._ms(SELF), 200)

        return handle

    def _reserve(self, order_id: int, items: list[int]) -> Handler:
        endpoint = Endpoint("inventory", "POST", "/reserve", "/reserve")

        def handle(parent: Context, start_ns: int) -> Reply:
            span = self._server(endpoint, parent, start_ns)
            t = start_ns + self._ms(SELF)
            for product in items:
                variant = product * 100 + self.rng.randrange(12)
                statement = f"UPDATE stock SET quantity = quantity - 1 WHERE variant_id = {variant}"
                if self.rng.random() < P_STOCK_DEADLOCK:  # PostgreSQL detects deadlocks after deadlock_timeout (1 s)
                    failure = failures.stock_deadlock(variant)
                    db_end = self._db("inventory", span, t, statement, DEADLOCK_WAIT)
                    self._fail("inventory", span, db_end, failure)
                    return self._finish_server(endpoint, span, start_ns, db_end + self._ms(SELF), failure.http_status)
                t = self._db("inventory", span, t, statement, DB_WRITE)
                if product in self.stock:
                    self.stock[product] -= 1
                    if self.stock[product] < 50:  # the warehouse restocks
                        self.stock[product] += 400
            self._log("inventory", span, t, SeverityNumber.INFO, f"reserved {len(items)} items for order {order_id}")
            return self._finish_server(endpoint, span, start_ns, t + self._ms(SELF), 200)

        return handle

    # --- checkout -----------------------------------------------------------------------------------------------

    def _add_to_cart(self, endpoint: Endpoint, product: int) -> Handler:
        def handle(parent: Context, start_ns: int) -> Reply:
            span = self._server(endpoint, parent, start_ns)
            cart = self.rng.randrange(100, 1000)
            t = self._cache("checkout", span, start_ns + self._ms(SELF), f"GET cart:{cart}")
            t = self._db("checkout", span, t, f"SELECT id, price FROM products WHERE id = {product}", DB_SELECT)
            t = self._cache("checkout", span, t, f"SET cart:{cart} [{product}] EX 86400")
            return self._finish_server(endpoint, span, start_ns, t + self._ms(SELF), 201)

        return handle

    def _checkout(self, endpoint: Endpoint, user: str | None) -> Handler:
        def handle(parent: Context, start_ns: int) -> Reply:
            self._order_id += 1
            order = self._order_id
            span = self._server(endpoint, parent, start_ns)
            if user:
                span.set_attribute("enduser.id", user)
            cart = self.rng.randrange(100, 1000)
            items = [self.rng.randrange(1, 61) for _ in range(self.rng.randint(1, 3))]
            t = self._cache("checkout", span, start_ns + self._ms(SELF), f"GET cart:{cart}")
            reserve = Endpoint("inventory", "POST", "/reserve", "/reserve")
            reply = self._call("checkout", span, t, reserve, self._reserve(order, items))
            if reply.failed:
                message = f"order {order} not placed: stock reservation failed ({reply.status})"
                self._log("checkout", span, reply.end_ns, SeverityNumber.ERROR, message, **{"order.id": order})
                return self._finish_server(endpoint, span, start_ns, reply.end_ns + self._ms(SELF), 500)
            t = reply.end_ns + self._ms(SELF)
            if self.services["checkout"].version == CHECKOUT_NEW_VERSION:
                t = self._shipping(span, t)
            total = round(sum(9.9 + 10 * (item % 7) for item in items), 2)
            charge = Endpoint("payments", "POST", "/charge", "/charge")
            reply = self._call("checkout", span, t, charge, self._charge(charge, order, total))
            if reply.failed:
                message = f"order {order} not placed: payment failed ({reply.status})"
                self._log("checkout", span, reply.end_ns, SeverityNumber.ERROR, message, **{"order.id": order})
                return self._finish_server(endpoint, span, start_ns, reply.end_ns + self._ms(SELF), 502)
            insert = f"INSERT INTO orders (id, user_id, total) VALUES ({order}, '{user or 'guest'}', {total})"
            t = self._db("checkout", span, reply.end_ns + self._ms(SELF), insert, DB_WRITE)
            t = self._cache("checkout", span, t, f"DEL cart:{cart}")
            method = "card" if self.rng.random() < 0.8 else "paypal"
            self._instruments["checkout"]["orders"].add(1, {"payment.method": method})
            message = f"order {order} placed: {len(items)} items, {total} EUR"
            attributes = {"order.id": order, "order.total": total, "payment.method": method}
            self._log("checkout", span, t, SeverityNumber.INFO, message, **attributes)
            return self._finish_server(endpoint, span, start_ns, t + self._ms(SELF), 201)

        return handle

    def _shipping(self, parent: Span, start_ns: int) -> int:
        """New in 1.5.0: shipping is calculated synchronously against the carrier's rate tables."""
        span = self._internal("checkout", parent, start_ns, "calculate_shipping", ("checkout.shipping", "calculate"))
        country = self.rng.choice(("DE", "FR", "NL", "AT", "US"))
        query = f"SELECT * FROM shipping_rates WHERE country = '{country}'"
        t = self._db("checkout", span, start_ns + self._ms(SELF), query, DB_SELECT)
        end_ns = t + self._ms(SHIPPING_1_5_0)
        span.end(end_time=end_ns)
        return end_ns

    # --- payments -----------------------------------------------------------------------------------------------

    def _charge(self, endpoint: Endpoint, order: int, total: float) -> Handler:
        def handle(parent: Context, start_ns: int) -> Reply:
            span = self._server(endpoint, parent, start_ns)
            t = start_ns + self._ms(SELF)
            fraud = self._internal("payments", span, t, "FraudScreen.score", ("payments.fraud.FraudScreen", "score"))
            t += self._ms(FRAUD_SCREEN)
            fraud.end(end_time=t)
            api_end, api_status = self._payment_api(span, t)
            if api_status >= 500:
                failure = failures.payment_gateway_unavailable(order)
                self._fail("payments", span, api_end, failure)
                return self._finish_server(endpoint, span, start_ns, api_end + self._ms(SELF), failure.http_status)
            insert = f"INSERT INTO payments (order_id, amount, status) VALUES ({order}, {total}, 'captured')"
            t = self._db("payments", span, api_end + self._ms(SELF), insert, DB_WRITE)
            return self._finish_server(endpoint, span, start_ns, t + self._ms(SELF), 201)

        return handle

    def _payment_api(self, parent: Span, start_ns: int) -> tuple[int, int]:
        """The external payment API: slow (p50 ~400 ms, a long tail) and sometimes down (503)."""
        down = self.rng.random() < P_PAYMENT_API_DOWN
        status = 503 if down else 200
        call = self.services["payments"].tracer.start_span(
            "POST",
            context=trace.set_span_in_context(parent),
            kind=SpanKind.CLIENT,
            start_time=start_ns,
            attributes={
                "http.request.method": "POST",
                "url.full": f"https://{PAYMENT_API}/v1/charges",
                "server.address": PAYMENT_API,
                "server.port": 443,
                "http.response.status_code": status,
            },
        )
        stalled = not down and self.rng.random() < P_PAYMENT_API_STALL
        latency = PAYMENT_API_FAILING if down else PAYMENT_API_STALL if stalled else PAYMENT_API_CALL
        end_ns = start_ns + self._ms(latency)
        if down:
            call.set_attribute("error.type", "503")
            call.set_status(Status(StatusCode.ERROR))
        call.end(end_time=end_ns)
        self._instruments["payments"]["client_duration"].record(
            (end_ns - start_ns) / NS_PER_SECOND,
            {"server.address": PAYMENT_API, "http.request.method": "POST", "http.response.status_code": status},
        )
        return end_ns, status
