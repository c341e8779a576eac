"""How long one password hash and one login (check_password) take on this machine.

Run from the repository root:

    .venv/bin/python bench/bench_password_hash.py [--runs 30]

It uses config.settings.test and needs no database or Redis. It measures the
configured hasher (settings.PASSWORD_HASHERS[0], through Django's
make_password/check_password) and, for comparison, Django's stock
Argon2PasswordHasher with its default costs. The target: one login under 100 ms.
Record the output in docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import math
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings.test"

import django  # noqa: E402

django.setup()

from django.contrib.auth.hashers import (  # noqa: E402
    Argon2PasswordHasher,
    check_password,
    get_hasher,
    make_password,
)

PASSWORD = "correct horse battery staple"  # noqa: S105  a benchmark input, not a credential
TARGET_MS = 100.0


def _timings(func: Callable[[], object], runs: int) -> list[float]:
    """Milliseconds per call, after one warm-up call."""
    func()
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        func()
        samples.append((time.perf_counter() - started) * 1000)
    return samples


def _p95(samples: list[float]) -> float:
    """Nearest-rank 95th percentile."""
    ordered = sorted(samples)
    return ordered[max(math.ceil(0.95 * len(ordered)) - 1, 0)]


def _costs(hasher: Argon2PasswordHasher) -> str:
    return f"t={hasher.time_cost} m={hasher.memory_cost} KiB p={hasher.parallelism}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=30, help="timed calls per measurement (default 30)")
    runs = parser.parse_args().runs

    configured = get_hasher("default")
    encoded = make_password(PASSWORD)
    if not check_password(PASSWORD, encoded):
        raise SystemExit("check_password rejected the password it just hashed")

    stock = Argon2PasswordHasher()
    stock_encoded = stock.encode(PASSWORD, stock.salt())

    costs = _costs(configured) if isinstance(configured, Argon2PasswordHasher) else "-"
    rows = [
        (f"{type(configured).__name__} ({costs})", "make_password", _timings(lambda: make_password(PASSWORD), runs)),
        (
            f"{type(configured).__name__} ({costs})",
            "check_password",
            _timings(lambda: check_password(PASSWORD, encoded), runs),
        ),
        (
            f"Django Argon2PasswordHasher ({_costs(stock)})",
            "encode",
            _timings(lambda: stock.encode(PASSWORD, stock.salt()), runs),
        ),
        (
            f"Django Argon2PasswordHasher ({_costs(stock)})",
            "verify",
            _timings(lambda: stock.verify(PASSWORD, stock_encoded), runs),
        ),
    ]

    print(f"date     {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC")
    print(f"machine  {os.cpu_count()} CPUs, {platform.platform()}, Python {platform.python_version()}")
    print(f"runs     {runs} per row (after one warm-up call)\n")
    width = max(len(row[0]) for row in rows)
    print(f"{'hasher':<{width}}  {'operation':<14}  {'median ms':>9}  {'p95 ms':>8}")
    for name, operation, samples in rows:
        print(f"{name:<{width}}  {operation:<14}  {statistics.median(samples):>9.1f}  {_p95(samples):>8.1f}")

    login_p95 = _p95(rows[1][2])
    verdict = "meets" if login_p95 < TARGET_MS else "MISSES"
    print(f"\none login (check_password) p95 {login_p95:.1f} ms {verdict} the {TARGET_MS:.0f} ms target")
    return 0 if login_p95 < TARGET_MS else 1


if __name__ == "__main__":
    sys.exit(main())
