"""``manage.py serve``: what ``make run`` runs."""

from __future__ import annotations

import signal
import subprocess
import sys
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
        "receiver, a Celery worker and Celery beat "
        "under one supervisor until Ctrl-C."
    )
    requires_system_checks = []  # type: ignore[assignment]

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--no-demo", action="store_true", help="Do not create the demo organization.")

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
            status = Supervisor(self._children(), env).wait_after_start()
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


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt
