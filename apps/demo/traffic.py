"""Time in the demo: the daily traffic curve, the backfill (history, minute by minute, compressed) and live mode.

The backfill walks the simulated minutes of the period and plays a few requests per minute with past
timestamps; the volume is scaled so a 24 h backfill is ~5k requests (~75k spans), which Vigil on two cores
takes in under a minute. Live mode plays ``rate`` requests per second of wall time.
"""

from __future__ import annotations

import math
import random
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TextIO

from apps.demo.connection import DemoError, SentUntil
from apps.demo.progress import Progress
from apps.demo.shop import CHECKOUT_NEW_VERSION, Shop
from apps.demo.telemetry import NS_PER_SECOND, Exporters

NS_PER_MINUTE = 60 * NS_PER_SECOND
BACKFILL_REQUESTS = 5_000  # spread over the whole backfill, whatever its length...
BACKFILL_MIN_PER_MINUTE, BACKFILL_MAX_PER_MINUTE = 4.0, 40.0  # ...within these averages per simulated minute
# Backpressure: the simulation waits while more spans than this are queued and not yet sent. Below it, the
# exporters' threads send while the simulation goes on, so the server and the simulation work at the same time.
MAX_SPANS_IN_FLIGHT = 15_000
METRICS_REQUEST_MINUTES = 30  # a backfill sends the metrics of this many simulated minutes per request
LIVE_METRICS_SECONDS = 10
DEFAULT_DEPLOY_AGO_SECONDS = 2 * 3600
STOP_FLUSH_SECONDS = 2.5  # a stopped demo flushes at most this long (serve's supervisor waits 7 s in all)
EXIT_FLUSH_SECONDS = 60.0  # at the end of a run, everything queued is sent
FAILED_EXPORTS_TO_GIVE_UP = 3
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*$")
_UNIT_SECONDS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86_400}


def parse_duration(text: str) -> int:
    """``24h``, ``30m``, ``90s``, ``1d`` or plain seconds (``0`` = none) → seconds."""
    match = _DURATION.match(text.lower())
    if not match:
        raise ValueError(f"{text!r} is not a duration like 24h, 30m, 90s or 0")
    return round(float(match.group(1)) * _UNIT_SECONDS[match.group(2)])


def day_factor(epoch_ns: int) -> float:
    """Traffic at this time of day relative to the daily mean: low at night (01:00), peak at 13:00, local time."""
    moment = time.localtime(epoch_ns // NS_PER_SECOND)
    hour = moment.tm_hour + moment.tm_min / 60
    wave = (0.5 - 0.5 * math.cos(2 * math.pi * (hour - 1) / 24)) ** 2  # 0 at 01:00, 1 at 13:00, mean 3/8
    return (0.15 + 0.85 * wave) / (0.15 + 0.85 * 3 / 8)


def deploy_time(now_ns: int, backfill_seconds: int, deploy_ago_seconds: int | None) -> int:
    """When checkout 1.5.0 goes out: 2 h ago, or half-way through a shorter backfill so its history shows it."""
    if deploy_ago_seconds is None:
        deploy_ago_seconds = DEFAULT_DEPLOY_AGO_SECONDS
        if 0 < backfill_seconds <= DEFAULT_DEPLOY_AGO_SECONDS:
            deploy_ago_seconds = backfill_seconds // 2
    return now_ns - deploy_ago_seconds * NS_PER_SECOND


@dataclass
class Summary:
    requests: int = 0
    errors: int = 0
    spans: int = 0

    def text(self) -> str:
        share = self.errors / self.requests if self.requests else 0
        return f"{self.requests} requests, {self.spans} spans, {self.errors} errors ({share:.1%})"


class Runner:
    """Drives the shop through simulated time and watches what the endpoint answers."""

    def __init__(
        self, shop: Shop, exporters: Exporters, endpoint: str, stop: threading.Event, stderr: TextIO,
        *, sent_until: SentUntil | None = None,
    ) -> None:  # fmt: skip
        self.shop = shop
        self.exporters = exporters
        self.endpoint = endpoint
        self.stop = stop
        self.stderr = stderr
        self.sent_until = sent_until
        self.deploy_at_ns: int | None = None
        # A stop (Ctrl-C, SIGTERM) gets STOP_FLUSH_SECONDS to send what is queued; then the exporters are shut,
        # which ends any retry still waiting (the endpoint may be stopping too: `serve` stops all at once).
        threading.Thread(target=self._abort_exports_after_stop, daemon=True).start()

    @property
    def rng(self) -> random.Random:
        return self.shop.rng

    def summary(self) -> Summary:
        return Summary(self.shop.requests, self.shop.errors, self.shop.span_counts[0])

    def _deploy_if_due(self, at_ns: int) -> None:
        if self.deploy_at_ns is not None and at_ns >= self.deploy_at_ns:
            self.deploy_at_ns = None
            self.shop.deploy("checkout", CHECKOUT_NEW_VERSION, at_ns)

    def _abort_exports_after_stop(self) -> None:
        self.stop.wait()
        time.sleep(STOP_FLUSH_SECONDS)
        self.exporters.close()

    def check(self) -> None:
        health = self.exporters.health
        if health.refused is not None:
            raise DemoError(f"{self.endpoint} refused the ingest key (HTTP {health.refused}); pass a valid --key")
        if health.consecutive_failures >= FAILED_EXPORTS_TO_GIVE_UP:
            status = health.last_status
            last = f" (last answer: HTTP {status})" if status is not None and status >= 400 else ""
            raise DemoError(f"{self.endpoint} did not take telemetry after retries{last}; is Vigil running?")

    def flush(self) -> None:
        self.shop.flush()
        self.exporters.flush_metrics()
        self.check()

    def _keep_up(self) -> None:
        """Wait while the exporters are too far behind (they send at least every second)."""
        while self.shop.span_counts[0] - self.exporters.spans.handled > MAX_SPANS_IN_FLIGHT:
            self.check()
            if self.stop.wait(0.02):
                return

    def backfill(self, now_ns: int, seconds: int) -> None:
        """The period before ``now_ns`` (minus what an earlier run already sent), minute by minute."""
        end = now_ns // NS_PER_MINUTE * NS_PER_MINUTE
        start = end - math.ceil(seconds / 60) * NS_PER_MINUTE
        resumed = self.sent_until is not None and self.sent_until.get() > start
        if self.sent_until is not None and resumed:
            start = -(-self.sent_until.get() // NS_PER_MINUTE) * NS_PER_MINUTE
            if self.deploy_at_ns is not None:  # the earlier run's checkout was already on the new version
                self.deploy_at_ns = min(self.deploy_at_ns, start)
        minutes = max((end - start) // NS_PER_MINUTE, 0)
        if not minutes:
            self.stderr.write("backfill: nothing to do, an earlier run already sent this period\n")
            return
        per_minute = min(max(BACKFILL_REQUESTS / minutes, BACKFILL_MIN_PER_MINUTE), BACKFILL_MAX_PER_MINUTE)
        progress = Progress(minutes, "backfill", self.stderr, unit="min")
        for index in range(minutes):
            if self.stop.is_set():
                break
            minute = start + index * NS_PER_MINUTE
            self._deploy_if_due(minute)
            expected = per_minute * day_factor(minute)
            count = int(expected) + (self.rng.random() < expected % 1)
            for offset in sorted(self.rng.randrange(NS_PER_MINUTE) for _ in range(count)):
                self.shop.request(minute + offset)
            self.shop.end_interval(minute, minute + NS_PER_MINUTE, count)
            if (index + 1) % METRICS_REQUEST_MINUTES == 0:
                self.exporters.flush_metrics()
                self.check()
                if self.sent_until is not None:
                    self.sent_until.set(minute + NS_PER_MINUTE)
            self._keep_up()
            progress.advance()
        if self.stop.is_set():
            return  # close() sends what it can within the stop budget
        self.flush()
        if self.sent_until is not None and not self.stop.is_set():
            self.sent_until.set(end)
        progress.finish(self.summary().text())

    def live(self, rate: float, duration: float | None, clock: Callable[[], int] = time.time_ns) -> None:
        """``rate`` requests per second of wall time, in one-second ticks, until stopped or ``duration`` is over."""
        started = time.monotonic()
        next_tick = started
        carry = 0.0
        interval_start, interval_requests = clock(), 0
        while not self.stop.is_set() and (duration is None or time.monotonic() - started < duration):
            now = clock()
            self._deploy_if_due(now)
            expected = rate + carry
            count = int(expected)
            carry = expected - count
            for offset in sorted(self.rng.randrange(NS_PER_SECOND) for _ in range(count)):
                self.shop.request(now - NS_PER_SECOND + offset)  # the second that just passed
            interval_requests += count
            if now - interval_start >= LIVE_METRICS_SECONDS * NS_PER_SECOND:
                self.shop.end_interval(interval_start, now, interval_requests)
                self.exporters.flush_metrics()
                interval_start, interval_requests = now, 0
                if self.sent_until is not None:
                    self.sent_until.set(now)
            self.check()
            self._keep_up()
            next_tick += 1.0
            self.stop.wait(max(next_tick - time.monotonic(), 0.0))
        now = clock()
        if now > interval_start:
            self.shop.end_interval(interval_start, now, interval_requests)
        if self.sent_until is not None:
            self.sent_until.set(now)
        if not self.stop.is_set():
            self.flush()

    def close(self, *, budget_seconds: float | None = None) -> None:
        """Flush what is queued (bounded when stopping on a signal), then shut every provider down."""
        flushing = threading.Thread(target=self._flush_quietly, daemon=True)
        flushing.start()
        flushing.join(budget_seconds)
        self.exporters.close()  # aborts a retry still waiting; exports after this fail at once
        closing = threading.Thread(target=self.shop.shutdown, daemon=True)
        closing.start()
        closing.join(2.0)
        self.stop.set()  # releases the stop watcher

    def _flush_quietly(self) -> None:
        try:
            self.shop.flush()
            self.exporters.flush_metrics()
        except Exception:  # noqa: S110 (the endpoint is going away; nothing left to report to)
            pass
