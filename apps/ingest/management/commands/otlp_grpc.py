from __future__ import annotations

import signal
import threading
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from apps.ingest.grpc_server import build_server
from apps.ingest.pipeline import tune_garbage_collector


class Command(BaseCommand):
    help = "Run the OTLP/gRPC receiver on VIGIL_HOST:VIGIL_OTLP_GRPC_PORT (4317) until SIGINT/SIGTERM."

    def handle(self, *args: Any, **options: Any) -> None:
        address = f"{settings.VIGIL_HOST}:{settings.VIGIL_OTLP_GRPC_PORT}"
        try:
            server = build_server(address)
        except OSError as exc:
            raise CommandError(str(exc)) from exc
        tune_garbage_collector()
        stop = threading.Event()
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, lambda *_: stop.set())
        server.start()
        self.stdout.write(f"OTLP/gRPC listening on {address}", ending="\n")
        self.stdout.flush()
        stop.wait()
        # Finish requests in flight (their spans are being committed), then exit.
        server.stop(grace=5).wait()
