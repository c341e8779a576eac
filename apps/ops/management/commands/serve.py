"""``manage.py serve``: what ``make run`` runs."""

from __future__ import annotations

import signal
import subprocess
import sys
import urllib.request
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from apps.ops.embedded import child_environment
from apps.ops.management.commands._services import start_configured_services
from apps.ops.supervisor import ChildSpec, Supervisor


class Command(BaseCommand):
    help = (
        "Start Vigil: embedded PostgreSQL/Redis unless DATABASE_URL/REDIS_URL are set, migrate, "
        "create the demo organization once, then run the ASGI server (HTTP, WebSocket, OTLP/HTTP), the OTLP/gRPC "
        "receiver, a Celery worker, Celery beat and, once the web server is healthy, the demo traffic "
        "(vigil_demo, off with VIGIL_DEMO=0) under one supervisor until Ctrl-C."
    )
    requires_system_checks = []  # type: ignore[assignment]

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument(
            "--no-demo", action="store_true", help="Do not create the demo organization (nor send demo traffic)."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        # SIGTERM before the supervisor runs must still stop the embedded servers.
        signal.signal(signal.SIGTERM, _interrupt)
        settings.VAR_DIR.mkdir(parents=True, exist_ok=True)
        try:
            self._serve(no_demo=options["no_demo"])
        except KeyboardInterrupt:
            self.stdout.write("vigil: stopped")

    def _serve(self, *, no_demo: bool) -> None:
        services = start_configured_services()
        try:
            env = child_environment(services)
            self._run_step(env, ["migrate", "--no-input", "-v", "0"], "migrations")
            if not no_demo:
                self._run_step(env, ["seed_demo"], "demo organization")
            children = self._children()
            if settings.VIGIL_DEMO and not no_demo:
                children.append(self._demo_traffic())
            status = Supervisor(children, env).wait_after_start()
        finally:
            services.stop()
        if status:
            raise CommandError(f"a Vigil process exited with status {status}")

    def _run_step(self, env: dict[str, str], command: list[str], what: str) -> None:
        result = subprocess.run([sys.executable, "manage.py", *command], env=env, cwd=settings.BASE_DIR, check=False)
        if result.returncode:
            raise CommandError(f"setting up the {what} failed (exit {result.returncode}); see the output above")

    def _children(self) -> list[ChildSpec]:
        python = sys.executable
        return [
            ChildSpec(
                "web",
                [
                    python,
                    "-m",
                    "uvicorn",
                    "config.asgi:application",
                    "--host",
                    settings.VIGIL_HOST,
                    "--port",
                    str(settings.VIGIL_PORT),
                    "--no-access-log",
                    "--lifespan",
                    "off",
                ],
            ),
            ChildSpec(
                "worker",
                [
                    python,
                    "-m",
                    "celery",
                    "-A",
                    "config.celery_app",
                    "worker",
                    "--loglevel",
                    "INFO",
                    "--concurrency",
                    str(settings.VIGIL_CELERY_CONCURRENCY),
                    "--without-gossip",
                    "--without-mingle",
                ],
            ),
            ChildSpec("otlp-grpc", [python, "manage.py", "otlp_grpc"]),
            ChildSpec("beat", [python, "-m", "celery", "-A", "config.celery_app", "beat", "--loglevel", "INFO"]),
        ]

    def _demo_traffic(self) -> ChildSpec:
        """The simulated shop (apps/demo): 24 h of history, then live traffic, into the demo project.

        Started once the web server answers, since it sends there; its failure is logged, not fatal.
        """
        host = settings.VIGIL_HOST
        if host in ("", "0.0.0.0", "::"):  # listening everywhere: loopback reaches it  # noqa: S104
            host = "127.0.0.1"
        base = f"http://{f'[{host}]' if ':' in host else host}:{settings.VIGIL_PORT}"
        argv = [sys.executable, "manage.py", "vigil_demo", "--backfill", "24h", "--endpoint", base]
        return ChildSpec("demo", argv, essential=False, start_when=_answers_healthz(base))


def _answers_healthz(base: str) -> Callable[[], bool]:
    def healthy() -> bool:
        try:
            with urllib.request.urlopen(f"{base}/healthz", timeout=1) as response:  # noqa: S310 (our own http URL)
                return bool(response.status == 200)
        except OSError:  # refused, timed out, or an HTTP error status
            return False

    return healthy


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt
