"""Where one ingest request's time goes: CPU per pipeline step and wall time per SQL statement, one process.

Run from the repository root (about a minute):

    .venv/bin/python bench/ingest_phases.py [--requests 60] [--group 1] [--no-sql-timing]

It starts an embedded PostgreSQL and Redis in ``var/bench-phases`` (wiped before and after), migrates,
creates a tenant, and then runs bench/ingest.py's realistic 512-span requests (fresh trace ids and
timestamps each) through the ingest pipeline's steps one by one, in this process and without
concurrency: decode, attribute limits, PII scrubbing, then one transaction with ``write_spans`` and
``record_errors``. It prints this process's CPU per span for each step and, for every SQL statement and
COPY, the wall time and the PostgreSQL backend's CPU per span (Linux schedstat of the backend process).
``--group N`` writes N requests in each transaction (``--requests`` then counts transactions), as group
commit writes them under load. Ten warm-up transactions are not counted. ``--no-sql-timing`` leaves the
statements untimed: timing them costs this process a few µs per span, so the steps' CPU figures are
cleaner without it. Complements bench/ingest.py, whose figures are end to end under load; this one says which
step to work on.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import ingest  # noqa: E402 (bench/ingest.py: tenant setup)
import ingest_load  # noqa: E402

WARM_UP = 10


def _backend_cpu(connection: Any) -> float:
    """CPU seconds the PostgreSQL backend of a psycopg connection has run (Linux schedstat, in nanoseconds)."""
    with open(f"/proc/{connection.info.backend_pid}/schedstat") as stat:
        return int(stat.read().split()[0]) / 1e9


def _instrument(
    walls: collections.Counter[str], cpus: collections.Counter[str], calls: collections.Counter[str]
) -> None:
    """Time every psycopg ``execute`` and ``copy`` (Django's cursors call these) by statement: wall time and the
    PostgreSQL backend's CPU."""
    import psycopg

    def label(query: Any) -> str:
        text = " ".join((query.decode() if isinstance(query, bytes) else str(query)).split())
        return "SAVEPOINT / RELEASE" if "SAVEPOINT" in text else text[:80]

    execute = psycopg.Cursor.execute
    copy = psycopg.Cursor.copy

    def timed_execute(self: Any, query: Any, *args: Any, **kwargs: Any) -> Any:
        started, backend = time.perf_counter(), _backend_cpu(self.connection)
        try:
            return execute(self, query, *args, **kwargs)
        finally:
            walls[label(query)] += time.perf_counter() - started
            cpus[label(query)] += _backend_cpu(self.connection) - backend
            calls[label(query)] += 1

    @contextlib.contextmanager
    def timed_copy(self: Any, statement: Any, *args: Any, **kwargs: Any) -> Iterator[Any]:
        started, backend = time.perf_counter(), _backend_cpu(self.connection)
        with copy(self, statement, *args, **kwargs) as running:
            yield running
        walls[label(statement)] += time.perf_counter() - started
        cpus[label(statement)] += _backend_cpu(self.connection) - backend
        calls[label(statement)] += 1

    psycopg.Cursor.execute = timed_execute  # type: ignore[method-assign]
    psycopg.Cursor.copy = timed_copy  # type: ignore[method-assign,assignment]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=60, help="timed transactions (of --group 512-span requests)")
    parser.add_argument("--group", type=int, default=1, help="requests per transaction, as group commit writes them")
    parser.add_argument("--no-sql-timing", action="store_true", help="time the steps only (SQL timing costs CPU)")
    options = parser.parse_args()
    var = ROOT / "var" / "bench-phases"
    shutil.rmtree(var, ignore_errors=True)
    var.mkdir(parents=True)
    os.environ.update(DJANGO_SETTINGS_MODULE="config.settings.local", VIGIL_VAR_DIR=str(var), VIGIL_LOG_LEVEL="WARNING")
    from apps.ops.embedded import start_services

    services = start_services(postgres_dir=var / "pg", redis_dir=var / "redis")
    try:
        os.environ.update(services.env)
        subprocess.run([sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=ROOT, check=True)
        organization_id, project_id, _, _ = ingest._setup_tenant()
        run(organization_id, project_id, options.requests, sql_timing=not options.no_sql_timing, group=options.group)
    finally:
        services.stop()
        shutil.rmtree(var, ignore_errors=True)


def run(organization_id: int, project_id: int, requests: int, *, sql_timing: bool = True, group: int = 1) -> None:
    from django.db import connection, transaction

    from apps.errors.writers import record_errors
    from apps.ingest import decode_protobuf, pipeline
    from apps.ingest.limits import limit_decoded
    from apps.ingest.scrub import Scrubber
    from apps.tracing.writers import write_spans

    walls: collections.Counter[str] = collections.Counter()
    cpus: collections.Counter[str] = collections.Counter()
    calls: collections.Counter[str] = collections.Counter()
    if sql_timing:
        _instrument(walls, cpus, calls)
    patchers = [ingest_load.Patcher(t) for t in ingest_load.build_templates(11, 8)]
    scrubber = Scrubber([], scrub_ips=False, hash_secret=b"bench" * 8)
    pipeline.tune_garbage_collector()  # as the ingest server runs
    steps: collections.Counter[str] = collections.Counter()
    spans = 0
    for i in range(WARM_UP + requests):
        if i == WARM_UP:
            walls.clear()
            cpus.clear()
            calls.clear()
            steps.clear()
            spans = 0
        bodies = [patchers[(i * group + j) % len(patchers)].make(time.time_ns()) for j in range(group)]
        cpu = [time.process_time()]
        decoded = decode_protobuf.decode_traces(bodies[0])
        for body in bodies[1:]:  # a group commit's transaction: the spans of several requests
            decoded.spans += decode_protobuf.decode_traces(body).spans
        cpu.append(time.process_time())
        limit_decoded(decoded, pipeline.attribute_limits())
        cpu.append(time.process_time())
        scrubber.scrub_decoded(decoded)
        cpu.append(time.process_time())
        wall = time.perf_counter()
        connection.ensure_connection()
        backend = _backend_cpu(connection.connection)
        with connection.wrap_database_errors, transaction.atomic():
            pipeline.configure_transaction()
            write_spans(organization_id, project_id, decoded.spans, optimistic=True)  # as the pipeline writes
            cpu.append(time.process_time())
            record_errors(organization_id, project_id, decoded.spans, decoded.logs)
            cpu.append(time.process_time())
        steps["transaction, wall"] += time.perf_counter() - wall
        steps["transaction, PostgreSQL backend CPU"] += _backend_cpu(connection.connection) - backend
        cpu.append(time.process_time())
        names = ("decode", "attribute limits", "PII scrubbing", "write_spans", "record_errors", "commit")
        for name, before, after in zip(names, cpu[:-1], cpu[1:], strict=True):
            steps[f"{name}, CPU"] += after - before
        spans += len(decoded.spans)
    print(
        f"{requests} transactions of {group} request(s), {spans} spans (after {WARM_UP} warm-up transactions); "
        "per span:"
    )
    for name, seconds in steps.items():
        print(f"  {seconds / spans * 1e6:7.2f} µs  {name}")
    if sql_timing:
        _print_statements(walls, cpus, calls, spans)


def _print_statements(
    walls: collections.Counter[str], cpus: collections.Counter[str], calls: collections.Counter[str], spans: int
) -> None:
    print("SQL statements: wall time, PostgreSQL backend CPU:")
    for statement, seconds in walls.most_common():
        backend = cpus[statement] / spans * 1e6
        print(f"  {seconds / spans * 1e6:7.2f} µs {backend:7.2f} µs  {calls[statement]:4d}x  {statement}")


if __name__ == "__main__":
    main()
