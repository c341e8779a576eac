"""``manage.py vigil_demo``: a simulated shop sends traces, metrics and logs to Vigil (docs/demo.md)."""

from __future__ import annotations

import argparse
import contextlib
import logging
import random
import signal
import threading
import time
from collections.abc import Iterator
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError


def _duration(text: str) -> int:
    from apps.demo.traffic import parse_duration

    try:
        return parse_duration(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


class Command(BaseCommand):
    help = (
        "Send demo traffic of a simulated shop (frontend, api-gateway, checkout, payments, inventory; PostgreSQL, "
        "Redis, an external payment API) to Vigil over OTLP/HTTP with the real OpenTelemetry SDK: first --backfill "
        "of history with past timestamps, then live traffic at --rate requests/s until Ctrl-C or --duration. "
        "Endpoint and key come from $VIGIL_VAR_DIR/demo-credentials.json (manage.py seed_demo) unless given."
    )
    requires_system_checks = []  # type: ignore[assignment]

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument(
            "--backfill", type=_duration, default=0, metavar="PERIOD",
            help="History to send first, e.g. 24h, 2h, 30m; 0 (default) for none. A period an earlier run already "
            "sent to the same endpoint and key is skipped ($VIGIL_VAR_DIR/demo-state.json).",
        )  # fmt: skip
        parser.add_argument("--rate", type=float, default=5.0, help="Live requests per second (default 5).")
        parser.add_argument(
            "--duration", type=float, default=None, metavar="SECONDS",
            help="Stop live traffic after this many seconds (0: backfill only). Default: until Ctrl-C/SIGTERM.",
        )  # fmt: skip
        parser.add_argument("--endpoint", help="Vigil's OTLP/HTTP base URL, e.g. http://127.0.0.1:8000.")
        parser.add_argument("--key", help="The project's ingest key.")
        parser.add_argument("--seed", type=int, default=None, help="Random seed: the same seed plays the same story.")
        parser.add_argument(
            "--deploy-ago", type=_duration, default=None, metavar="PERIOD",
            help="When checkout 1.5.0 (the latency regression) was deployed, before now. Default: 2h, or half "
            "the backfill when that is 2h or shorter.",
        )  # fmt: skip

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            from apps.demo import connection
        except ImportError as exc:  # production installs have no OpenTelemetry SDK
            raise CommandError(
                f"the OpenTelemetry SDK is not installed ({exc}); install requirements/local.txt"
            ) from None
        if options["rate"] < 0:
            raise CommandError("--rate must be 0 or more")
        stop = threading.Event()
        try:
            endpoint, key = connection.resolve(options["endpoint"], options["key"], settings.VAR_DIR)
            with _stopped_by_signals(stop):
                connection.preflight(endpoint, key, stop)
                self._run(endpoint, key, stop, options)
        except connection.DemoError as exc:
            if stop.is_set():  # stopped while the endpoint went away too (`serve` stops everything at once)
                self.stdout.write(f"vigil_demo: stopped ({exc})")
                return
            raise CommandError(str(exc)) from None

    def _run(self, endpoint: str, key: str, stop: threading.Event, options: dict[str, Any]) -> None:
        from apps.demo.connection import SentUntil
        from apps.demo.shop import Shop
        from apps.demo.telemetry import Exporters, local_host_suffix
        from apps.demo.traffic import EXIT_FLUSH_SECONDS, STOP_FLUSH_SECONDS, Runner, deploy_time

        # Not for security: the seed only makes the simulated story repeatable.
        seed = options["seed"] if options["seed"] is not None else random.randrange(2**32)  # noqa: S311
        now = time.time_ns()
        backfill, duration = options["backfill"], options["duration"]
        exporters = Exporters(endpoint, key)
        # Started before the backfill's first minute: cumulative metrics count from there.
        rng = random.Random(seed)  # noqa: S311
        shop = Shop(exporters, rng, now - (backfill + 60) * 1_000_000_000, local_host_suffix())
        sent_until = SentUntil(settings.VAR_DIR, endpoint, key)
        runner = Runner(shop, exporters, endpoint, stop, self.stderr._out, sent_until=sent_until)
        runner.deploy_at_ns = deploy_time(now, backfill, options["deploy_ago"])
        self.stdout.write(f"vigil_demo: sending to {endpoint} (seed {seed})")
        stopped_early = True
        with _quiet_sdk_logs():
            try:
                if backfill:
                    runner.backfill(now, backfill)
                if duration != 0 and not stop.is_set():
                    self.stdout.write(f"vigil_demo: live, {options['rate']:g} requests/s" + (
                        f" for {duration:g} s" if duration else " until stopped"))  # fmt: skip
                    runner.live(options["rate"], duration)
                stopped_early = stop.is_set()
            finally:
                runner.close(budget_seconds=STOP_FLUSH_SECONDS if stopped_early else EXIT_FLUSH_SECONDS)
        self.stdout.write(f"vigil_demo: done, {runner.summary().text()}")


@contextlib.contextmanager
def _stopped_by_signals(stop: threading.Event) -> Iterator[None]:
    """SIGINT/SIGTERM end the run cleanly (flushing the exporters) instead of killing it mid-batch."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


@contextlib.contextmanager
def _quiet_sdk_logs() -> Iterator[None]:
    """The SDK logs each retried export as a warning; the demo reports failures itself, in one line."""
    loggers = [logging.getLogger(name) for name in ("opentelemetry.exporter", "opentelemetry.sdk")]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)
