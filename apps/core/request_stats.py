"""Self-monitoring: request counts and latencies of this process, in Prometheus text format.

A deliberately small registry instead of prometheus_client: one process per
server (uvicorn), three metric families, and the queue depth and database
connections read at scrape time.
"""

from __future__ import annotations

import threading
import time
from collections import defaultdict
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class RequestStats:
    """Counts and latency histograms by (method, route, status), thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.counts: dict[tuple[str, str, str], int] = defaultdict(int)
        self.buckets: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0] * (len(LATENCY_BUCKETS) + 1))
        self.sums: dict[tuple[str, str], float] = defaultdict(float)

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        index = next((i for i, bound in enumerate(LATENCY_BUCKETS) if seconds <= bound), len(LATENCY_BUCKETS))
        with self._lock:
            self.counts[(method, route, str(status))] += 1
            self.buckets[(method, route)][index] += 1
            self.sums[(method, route)] += seconds

    def render(self) -> list[str]:
        lines = [
            "# HELP vigil_http_requests_total HTTP requests served by this process.",
            "# TYPE vigil_http_requests_total counter",
        ]
        with self._lock:
            for (method, route, status), count in sorted(self.counts.items()):
                lines.append(
                    f'vigil_http_requests_total{{method="{method}",route="{route}",status="{status}"}} {count}'
                )
            lines += [
                "# HELP vigil_http_request_duration_seconds Latency of HTTP requests served by this process.",
                "# TYPE vigil_http_request_duration_seconds histogram",
            ]
            for (method, route), counts in sorted(self.buckets.items()):
                labels = f'method="{method}",route="{route}"'
                cumulative = 0
                for bound, count in zip((*LATENCY_BUCKETS, float("inf")), counts, strict=True):
                    cumulative += count
                    le = "+Inf" if bound == float("inf") else repr(bound)
                    lines.append(f'vigil_http_request_duration_seconds_bucket{{{labels},le="{le}"}} {cumulative}')
                lines.append(f"vigil_http_request_duration_seconds_sum{{{labels}}} {self.sums[(method, route)]:.6f}")
                lines.append(f"vigil_http_request_duration_seconds_count{{{labels}}} {cumulative}")
        return lines


REQUEST_STATS = RequestStats()


class RequestMetricsMiddleware:
    """Times every request; the route is the URL pattern, never the raw path (bounded label set)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        started = time.perf_counter()
        response = self.get_response(request)
        match = getattr(request, "resolver_match", None)
        route = match.route if match is not None and match.route else "unmatched"
        REQUEST_STATS.observe(request.method or "GET", "/" + route, response.status_code, time.perf_counter() - started)
        return response
