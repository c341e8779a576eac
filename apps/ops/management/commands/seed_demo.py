from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from apps.ops.demo import credentials_path, ensure_demo


class Command(BaseCommand):
    help = (
        "Create the demo organization 'Demo' with project 'shop', the owner 'demo', an ingest key and an "
        "API token (once; later runs reuse them) and write var/demo-credentials.json."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        creds = ensure_demo()
        self.stdout.write(
            self.style.SUCCESS("Vigil is starting.")
            + f"\n  Open      {creds.url}/"
            + f"\n  Username  {creds.username}"
            + f"\n  Password  {creds.password}"
            + f"\n  Org/proj  {creds.organization}/{creds.project}"
            + f"\n  OTLP      {creds.otlp_http} (HTTP: /v1/traces)  {creds.otlp_grpc} (gRPC)"
            + f"\n  Saved to  {credentials_path()} (ingest key and API token inside)\n"
        )
