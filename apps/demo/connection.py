"""Where the demo sends to: the endpoint and ingest key, checked once before any traffic is made, and the
record of how far an earlier run already sent (so restarting ``make run`` does not backfill twice)."""

from __future__ import annotations

import hashlib
import json
import os
import threading
import time
from pathlib import Path
from typing import Any

import requests

# Written by `manage.py seed_demo` (apps/ops/demo.py, which this app may not import: it sits above us).
CREDENTIALS_FILE = "demo-credentials.json"
STATE_FILE = "demo-state.json"
STATE_KEEP_SECONDS = 15 * 86_400
PREFLIGHT_ATTEMPTS = 6


class DemoError(Exception):
    """Stops the demo; the message is the one line to show."""


def resolve(endpoint: str | None, key: str | None, var_dir: Path) -> tuple[str, str]:
    """``--endpoint``/``--key`` if given, else the demo credentials file."""
    if endpoint and key:
        return endpoint.rstrip("/"), key
    path = var_dir / CREDENTIALS_FILE
    hint = "run `manage.py seed_demo` (make run does) or pass --endpoint and --key"
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise DemoError(f"no endpoint and ingest key: {path} does not exist; {hint}") from None
    except (OSError, ValueError) as exc:
        raise DemoError(f"cannot read {path} ({exc}); {hint}") from None
    data = data if isinstance(data, dict) else {}
    endpoint = endpoint or data.get("otlp_http")
    key = key or data.get("ingest_key")
    if not endpoint or not key:
        raise DemoError(f"{path} has no otlp_http or ingest_key; {hint}")
    return str(endpoint).rstrip("/"), str(key)


def preflight(endpoint: str, key: str, stop: threading.Event) -> None:
    """An empty OTLP trace export: proves the endpoint is Vigil and takes the key, before hours of backfill.

    Connection errors and 503 (busy, starting) are retried for about 15 s; a refused key is final.
    """
    url = f"{endpoint}/v1/traces"
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/x-protobuf"}
    problem = ""
    for attempt in range(PREFLIGHT_ATTEMPTS):
        try:
            response = requests.post(url, data=b"", headers=headers, timeout=10)
        except requests.RequestException as exc:
            problem = f"cannot reach {url} ({type(exc).__name__})"
        else:
            if response.status_code in (401, 403):
                raise DemoError(
                    f"{endpoint} refused the ingest key (HTTP {response.status_code}); pass a valid --key "
                    "or run `manage.py seed_demo` to issue the demo key again"
                )
            if response.status_code == 200:
                return
            problem = f"{url} answered HTTP {response.status_code}"
            if response.status_code not in (429, 502, 503, 504):
                raise DemoError(f"{problem}; is {endpoint} a Vigil OTLP/HTTP endpoint?")
        if attempt + 1 < PREFLIGHT_ATTEMPTS and stop.wait(min(1.0 + attempt, 4.0)):
            break
    raise DemoError(f"{problem} after {PREFLIGHT_ATTEMPTS} attempts; is Vigil running?")


class SentUntil:
    """How far (simulated time) traffic to this endpoint and key has been sent, in ``$VIGIL_VAR_DIR``."""

    def __init__(self, var_dir: Path, endpoint: str, key: str) -> None:
        self.path = var_dir / STATE_FILE
        self.slot = hashlib.sha256(f"{endpoint}\n{key}".encode()).hexdigest()[:16]  # no key in the file

    def _load(self) -> dict[str, Any]:
        try:
            data = json.loads(self.path.read_text())
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def get(self) -> int:
        value = self._load().get(self.slot, 0)
        return value if isinstance(value, int) else 0

    def set(self, until_ns: int) -> None:
        oldest = time.time_ns() - STATE_KEEP_SECONDS * 1_000_000_000
        data = {slot: ns for slot, ns in self._load().items() if isinstance(ns, int) and ns > oldest}
        data[self.slot] = until_ns
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.path.with_suffix(".tmp")
            tmp.write_text(json.dumps(data))
            os.replace(tmp, self.path)
        except OSError:
            pass  # only costs a repeated backfill next time
