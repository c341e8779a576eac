"""``manage.py with_services -- CMD...``: run a command with PostgreSQL and Redis available."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from apps.ops.embedded import child_environment
from apps.ops.management.commands._services import start_configured_services


class Command(BaseCommand):
    help = (
        "Run CMD with DATABASE_URL and REDIS_URL pointing at running servers: the embedded ones "
        "(started for the command and stopped after it) unless the variables are set. `make test` uses it."
    )
    requires_system_checks = []  # type: ignore[assignment]

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("cmd", nargs="+", help="The command and its arguments (put -- before it).")

    def handle(self, *args: Any, **options: Any) -> None:
        settings.VAR_DIR.mkdir(parents=True, exist_ok=True)
        services = start_configured_services()
        try:
            code = subprocess.call(options["cmd"], env=child_environment(services), cwd=settings.BASE_DIR)
        finally:
            services.stop()
        if code:
            sys.stdout.flush()
            raise CommandError(f"{options['cmd'][0]} exited with status {code}", returncode=code)
