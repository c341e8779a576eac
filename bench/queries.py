"""Read API latency on a loaded project: each page's API calls against 10 million spans, p50/p95/max vs targets.

Run from the repository root (about 15-25 minutes for 10 M spans on 2 cores; seconds with ``--reuse``):

    .venv/bin/python bench/queries.py [--spans 10000000] [--runs 20] [--keep] [--reuse] [--explain]

What it does, all on unix sockets, everything it started stopped at the end (also on Ctrl-C):

1. Starts an embedded PostgreSQL 16 (pgserver) and Redis in ``--var-dir`` (default ``var/bench-queries``;
   ``DATABASE_URL`` / ``REDIS_URL`` are used instead when set), migrates, creates a user, an organization and
   a project, and the partitions ahead (as the maintenance job does).
2. Loads ``--spans`` spans with bench/queries_load.py from ``--workers`` (2) processes: bench/ingest_load.py's
   realistic 512-span OTLP requests (traces of 5-30 spans over 3-8 of 12 services, 12-17 attributes, events,
   2 % errors), each with fresh trace ids and shifted to its slot in the 24 hours before the load started
   (oldest first), plus log records (one per 10 spans, one ERROR per error span, same trace and span ids),
   through the steps of ``apps.ingest.pipeline.ingest_decoded`` (decode, limits, scrubbing, then ``write_spans``
   with its rollup deltas, ``write_logs`` and ``record_errors`` in one transaction): the rows are the ones
   ingest stores. Each template is decoded once and copied with new ids and times (checked to give the same
   rows as decoding the patched body; ``--decode-each`` decodes every request). Meanwhile it
   folds the rollup deltas every 15 s like the beat job, at the end until none is left, then ``VACUUM ANALYZE``.
3. Measures each page's API calls through the real HTTP stack in this process (Django's test client: URL
   routing, middleware, API-token authentication, tenant access, the view, the query, JSON rendering), with
   ``from``/``to`` = the last hour and the last 24 hours of the data: ``--runs`` timed calls after one
   warm-up; p50/p95/max, and the SQL part (statements timed with ``connection.execute_wrapper``).
4. With ``--explain``: ``EXPLAIN (ANALYZE, BUFFERS)`` of the slowest statement of each call that missed its
   target (and of the calls without a target).

``--keep`` keeps the database afterwards; ``--reuse`` (implies ``--keep``) skips the load when the kept
database already holds a complete load of ``--spans`` spans, so measurements can be repeated in a minute.
Exit status 0 unless the run failed, or ``--require-targets`` and a target was missed.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import math
import multiprocessing as mp
import os
import platform
import queue
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import ingest_load  # noqa: E402 (bench/ is the script's directory)
import queries_load  # noqa: E402

STATE_FILE = "state.json"
HOUR = 3600 * 10**9

# Targets (issue 4, point 12), p95 in ms; None: reported without a target.
TARGETS: dict[str, float | None] = {
    "overview": 100,
    "service page": 100,
    "operations": 100,
    "service map": 100,
    "error list": 100,
    "trace search": 500,
    "trace by id": 50,
    "log search": 500,
    "database calls": None,
}


@dataclass
class Call:
    page: str
    label: str
    range_label: str
    path: str
    params: dict[str, str] | Callable[[int], dict[str, str]] = field(default_factory=dict)
    per_run_path: Callable[[int], str] | None = None  # a different URL per run (one trace id each)

    @property
    def target(self) -> float | None:
        return TARGETS[self.page]


@dataclass
class Measured:
    call: Call
    times_ms: list[float]
    sql_ms: list[float]
    statements: int
    items: str
    slowest: tuple[float, str, Any] | None  # (ms, sql, params) of the last run's slowest statement

    def pct(self, q: float, values: list[float] | None = None) -> float:
        ordered = sorted(self.times_ms if values is None else values)
        return ordered[max(math.ceil(q * len(ordered)), 1) - 1]  # nearest rank

    @property
    def met(self) -> bool | None:
        target = self.call.target
        return None if target is None else self.pct(0.95) < target


class Recorder:
    """``connection.execute_wrapper``: the duration, SQL and parameters of every statement of a call."""

    def __init__(self) -> None:
        self.statements: list[tuple[float, str, Any]] = []

    def __call__(self, execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        t0 = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            self.statements.append(((time.perf_counter() - t0) * 1e3, sql, params))


# --- the world -------------------------------------------------------------------------------------------------------


def setup_tenant() -> dict[str, Any]:
    """A user, an organization and a project; partitions for today and the days ahead."""
    from django.contrib.auth import get_user_model

    from apps.ops.maintenance import maintain
    from apps.tenants import services as tenants

    stamp = f"{int(time.time())}-{os.getpid()}"
    user = get_user_model().objects.create_user(f"qbench-{stamp}", email=f"qbench-{stamp}@example.com")
    organization = tenants.create_organization("Query bench", user, slug=f"qbench-{stamp}")
    project = tenants.create_project(organization.pk, user, name="Shop", slug="shop")
    maintain()
    return {
        "user_id": user.pk,
        "organization_id": organization.pk,
        "organization_slug": organization.slug,
        "project_id": project.pk,
        "project_slug": project.slug,
    }


def api_token(state: dict[str, Any]) -> str:
    """A fresh telemetry:read token for the bench user (created per run; the database is scratch)."""
    from django.contrib.auth import get_user_model

    from apps.accounts.services import create_api_token
    from apps.core.access import resolve_access

    user = get_user_model().objects.get(pk=state["user_id"])
    access = resolve_access(user, state["organization_slug"])
    return create_api_token(access, user, name=f"bench {time.time():.0f}", scopes=["telemetry:read"]).plaintext


def _fmt_duration(seconds: float) -> str:
    seconds = max(int(seconds), 0)
    return f"{seconds // 60}:{seconds % 60:02d}"


class Loader:
    def __init__(self, args: argparse.Namespace, cleanups: list[Callable[[], None]]) -> None:
        self.args = args
        self.cleanups = cleanups
        self.folds = 0
        self.fold_seconds = 0.0

    def compact(self) -> int:
        from apps.tracing.rollups import compact_rollups

        t0 = time.perf_counter()
        folded = compact_rollups()
        self.fold_seconds += time.perf_counter() - t0
        self.folds += 1
        return folded

    def run(self, state: dict[str, Any]) -> dict[str, Any]:  # noqa: PLR0912, PLR0915 (one loop with its reporting)
        from django.db import connections

        args = self.args
        t0 = time.monotonic()
        requests = -(-args.spans // ingest_load.SPANS_PER_REQUEST)
        window_ns = int(args.window_hours * HOUR)
        window_end = time.time_ns()
        # built "before" the window: a Patcher moves a template's times forward only
        templates = ingest_load.build_templates(seed=20261129, count=args.templates,
                                                now_ns=window_end - window_ns - 60 * 10**9)  # fmt: skip
        plan = queries_load.Plan(requests, window_end - window_ns, window_ns, state["organization_id"],
                                 state["project_id"], args.decode_each)  # fmt: skip
        total = sum(templates[plan.template_of(i, len(templates))].spans for i in range(requests))
        print(
            f"loading {total:,} spans ({requests:,} requests of {ingest_load.SPANS_PER_REQUEST}, {len(templates)} "
            f"templates built in {time.monotonic() - t0:.1f} s) over the {args.window_hours:g} h before "
            f"{dt.datetime.fromtimestamp(window_end / 1e9, dt.UTC):%H:%M:%S} UTC, from {args.workers} processes, "
            f"+ ~{100 // queries_load.LOG_EVERY + 2} % as log records",
            flush=True,
        )
        connections.close_all()
        ctx = mp.get_context("spawn")
        out = ctx.Queue()
        workers = [
            ctx.Process(target=queries_load.load_worker, args=(i, args.workers, templates, plan, out), daemon=True)
            for i in range(args.workers)
        ]

        def stop_workers() -> None:
            for w in workers:
                if w.is_alive():
                    w.terminate()
                    w.join(timeout=10)

        self.cleanups.append(stop_workers)
        for w in workers:
            w.start()
        spans = dict.fromkeys(range(args.workers), 0)
        logs = dict.fromkeys(range(args.workers), 0)
        done: set[int] = set()
        tty = sys.stdout.isatty()
        start = last_fold = last_print = time.monotonic()
        while len(done) < len(workers):
            try:
                message = out.get(timeout=1)
            except queue.Empty:
                message = None
            if message is not None:
                kind, index, *rest = message
                if kind == "error":
                    raise RuntimeError(f"loader process {index} failed:\n{rest[0]}")
                if kind == "progress":
                    spans[index], logs[index] = rest
                elif kind == "done":
                    done.add(index)
            elif not all(w.is_alive() for i, w in enumerate(workers) if i not in done):
                dead = [i for i, w in enumerate(workers) if not w.is_alive() and i not in done]
                if dead and out.empty():
                    raise RuntimeError(f"loader process(es) {dead} died without a report")
            now = time.monotonic()
            if now - last_fold >= args.compact_every:
                self.compact()  # the beat job's work, every 15 s in production
                last_fold = time.monotonic()
            if now - last_print >= (1 if tty else 30) or len(done) == len(workers):
                written = sum(spans.values())
                rate = written / max(now - start, 1e-6)
                eta = (total - written) / rate if rate else 0
                line = (
                    f"  {written / total:6.1%}  {written:>12,} / {total:,} spans  {rate:8,.0f} spans/s  "
                    f"ETA {_fmt_duration(eta)}  elapsed {_fmt_duration(now - start)}  load {os.getloadavg()[0]:.1f}"
                )
                print(f"\r{line}" if tty else line, end="" if tty else "\n", flush=True)
                last_print = now
        if tty:
            print()
        for w in workers:
            w.join(timeout=30)
        load_seconds = time.monotonic() - start
        written, written_logs = sum(spans.values()), sum(logs.values())
        print(
            f"loaded {written:,} spans and {written_logs:,} log records in {_fmt_duration(load_seconds)} "
            f"({written / load_seconds:,.0f} spans/s; {self.folds} rollup compactions during the load, "
            f"{self.fold_seconds:.1f} s)",
            flush=True,
        )
        t0 = time.monotonic()
        rounds = 0
        while self.compact() > 0 or self.deltas_left():
            rounds += 1
        print(f"final rollup compaction: {rounds + 1} run(s), {time.monotonic() - t0:.1f} s; no delta left", flush=True)
        t0 = time.monotonic()
        vacuum_analyze()
        print(f"VACUUM ANALYZE: {time.monotonic() - t0:.1f} s", flush=True)
        return {
            "spans": written,
            "logs": written_logs,
            "window_end_ns": window_end,
            "window_hours": args.window_hours,
            "load_seconds": round(load_seconds, 1),
            "load_rate": round(written / load_seconds),
        }

    @staticmethod
    def deltas_left() -> bool:
        from django.db import connection

        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT (SELECT count(*) FROM tracing_red_delta) + (SELECT count(*) FROM tracing_edge_delta)"
            )
            return cursor.fetchone()[0] > 0


def vacuum_analyze() -> None:
    import psycopg

    with psycopg.connect(os.environ["DATABASE_URL"], autocommit=True) as conn:
        conn.execute("VACUUM (ANALYZE)")


# --- the measurements ------------------------------------------------------------------------------------------------


def pick(state: dict[str, Any], end: int) -> dict[str, Any]:
    """Values a user would search for, taken from the data: a busy service, a user id of the last hour,
    and trace ids from across the window (one per run)."""
    from django.db import connection

    org, project = state["organization_id"], state["project_id"]
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT service_name, count(*) FROM tracing_span WHERE organization_id = %s AND project_id = %s "
            "AND start_time >= to_timestamp(%s / 1e9) AND kind = 2 GROUP BY 1 ORDER BY 2 DESC LIMIT 1",
            [org, project, end - HOUR],
        )
        service = cursor.fetchone()[0]
        cursor.execute(
            "SELECT enduser_id FROM tracing_span WHERE organization_id = %s AND project_id = %s "
            "AND start_time >= to_timestamp(%s / 1e9) AND enduser_id IS NOT NULL "
            "ORDER BY start_time DESC LIMIT 1 OFFSET 5000",
            [org, project, end - HOUR],
        )
        user = cursor.fetchone()[0]
        cursor.execute(
            "SELECT DISTINCT trace_id FROM tracing_span TABLESAMPLE SYSTEM (0.05) REPEATABLE (7) "
            "WHERE organization_id = %s AND project_id = %s LIMIT 200",
            [org, project],
        )
        traces = [bytes(t).hex() for (t,) in cursor.fetchall()]
    if len(traces) < 2:
        raise RuntimeError("too few spans to pick traces from")
    return {"service": service, "user": user, "traces": traces}


def calls(state: dict[str, Any], picked: dict[str, Any], end: int) -> list[Call]:
    base = f"/api/v1/orgs/{state['organization_slug']}/projects/{state['project_slug']}"
    service, user, traces = picked["service"], picked["user"], picked["traces"]
    out: list[Call] = []
    for label, hours in (("1 h", 1), ("24 h", 24)):
        window = {"from": str(end - hours * HOUR), "to": str(end)}
        out += [
            Call("overview", "services list", label, f"{base}/services/", window),
            Call("service page", f"{service}: series + deploys", label, f"{base}/services/{service}/series/", window),
            Call("operations", f"{service}: operations", label, f"{base}/services/{service}/operations/", window),
            Call("service map", "service map", label, f"{base}/service-map/", window),
            Call("error list", "issues (unresolved)", label, f"{base}/errors/", window),
            Call("trace search", f"service={service}, min 100 ms", label, f"{base}/traces/",
                 {**window, "service": service, "min_duration_ms": "100"}),
            Call("trace search", f"attr.enduser.id={user}", label, f"{base}/traces/",
                 {**window, "attr.enduser.id": user}),
            Call("log search", "q='timed out', severity >= error", label, f"{base}/logs/",
                 {**window, "q": "timed out", "severity_min": "error"}),
            Call("log search", f"q='{user}' (rare)", label, f"{base}/logs/", {**window, "q": user}),
            Call("database calls", "database calls", label, f"{base}/database-calls/", window),
        ]  # fmt: skip
    by_id = Call("trace by id", "one trace (a different one per run)", "-", f"{base}/traces/")
    by_id.per_run_path = lambda run: f"{base}/traces/{traces[run % len(traces)]}/"
    out.append(by_id)
    order = list(TARGETS)
    return sorted(out, key=lambda c: (order.index(c.page), c.range_label != "1 h"))


def _items(data: Any) -> str:
    if isinstance(data, dict):
        for key in ("results", "points", "spans", "edges"):
            if isinstance(data.get(key), list):
                extra = f", {len(data['nodes'])} nodes" if key == "edges" and "nodes" in data else ""
                return f"{len(data[key])} {key}{extra}"
    return "-"


def measure(client: Any, call: Call, runs: int, budget: float) -> Measured:
    """``runs`` timed calls after one warm-up; fewer (at least 5) when they would take more than ``budget`` s."""
    from django.db import connection

    times, sql = [], []
    recorder = Recorder()
    items = "-"
    run, planned = 0, runs
    while run <= planned:  # run 0 is the warm-up
        path = call.per_run_path(run) if call.per_run_path else call.path
        recorder.statements = []
        with connection.execute_wrapper(recorder):
            t0 = time.perf_counter()
            response = client.get(path, call.params)
            body = response.content
            elapsed = (time.perf_counter() - t0) * 1e3
        if response.status_code != 200:
            raise RuntimeError(f"{call.label} ({call.range_label}): HTTP {response.status_code}: {body[:300]!r}")
        if run == 0:
            items = _items(json.loads(body))
            planned = max(5, min(runs, int(budget * 1e3 / max(elapsed, 1e-3))))
        else:
            times.append(elapsed)
            sql.append(sum(ms for ms, _, _ in recorder.statements))
        run += 1
    slowest = max(recorder.statements, default=None, key=lambda s: s[0])
    return Measured(call, times, sql, len(recorder.statements), items, slowest)


def explain(measured: Measured) -> list[str]:
    from django.db import connection

    if measured.slowest is None:
        return []
    ms, sql, params = measured.slowest
    lines = [
        "",
        f"EXPLAIN (ANALYZE, BUFFERS) of the slowest statement of '{measured.call.label}' "
        f"({measured.call.range_label}; {ms:.0f} ms in the last run):",
    ]
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN (ANALYZE, BUFFERS) {sql}", params)
        lines += [f"  {row[0]}" for row in cursor.fetchall()]
    return lines


def storage(state: dict[str, Any]) -> list[str]:
    import psycopg

    org, project = state["organization_id"], state["project_id"]
    tables = {
        "tracing_span": True, "tracing_red_minute": True, "tracing_red_tenmin": True, "tracing_red_hour": True,
        "tracing_red_sixhour": True, "tracing_edge_minute": True, "tracing_edge_tenmin": True,
        "tracing_edge_hour": True, "tracing_edge_sixhour": True, "logs_record": True, "logs_count_minute": True,
        "errors_occurrence": True, "errors_issue_minute": True, "errors_issue_tenmin": True, "errors_issue_hour": True,
        "errors_issue_service_day": True, "errors_issue_user_day": True, "errors_errorgroup": False,
        "otlp_resource": False,
    }  # fmt: skip
    lines = []
    spans = 1
    with psycopg.connect(os.environ["DATABASE_URL"], autocommit=True) as conn:
        for table, partitioned in tables.items():
            relations = (
                "SELECT inhrelid FROM pg_inherits WHERE inhparent = %s::regclass"
                if partitioned
                else "SELECT %s::regclass::oid"
            )
            size_sql = "SELECT coalesce(sum(pg_table_size(r)), 0), coalesce(sum(pg_indexes_size(r)), 0) FROM "
            table_bytes, index_bytes = conn.execute(
                f"{size_sql} ({relations}) AS t(r)",
                [table],
            ).fetchone()
            rows = conn.execute(
                f"SELECT count(*) FROM {table} WHERE organization_id = %s AND project_id = %s",  # noqa: S608 (constant)
                [org, project],
            ).fetchone()[0]
            if table == "tracing_span":
                spans = max(rows, 1)
            size = int(table_bytes) + int(index_bytes)
            lines.append(
                f"  {table:<24} {rows:>12,} rows  {size / 2**30:7.2f} GiB  (table+TOAST {table_bytes / 2**30:.2f}, "
                f"indexes {index_bytes / 2**30:.2f})  {size / spans:7.1f} B per span"
            )
        database = conn.execute("SELECT pg_database_size(current_database())").fetchone()[0]
    lines.append(f"  database total: {database / 2**30:.2f} GiB")
    return lines


def _row(m: Measured) -> str:
    target = m.call.target
    verdict = "-" if m.met is None else ("met" if m.met else "MISSED")
    return (
        f"| {m.call.page} | {m.call.label} | {m.call.range_label} | {m.pct(0.5):.1f} | {m.pct(0.95):.1f} | "
        f"{max(m.times_ms):.1f} | {len(m.times_ms)} | {m.pct(0.5, m.sql_ms):.1f} | {m.statements} | {m.items} | "
        f"{'-' if target is None else f'< {target:g}'} | {verdict} |"
    )


# --- the run ---------------------------------------------------------------------------------------------------------


def run(args: argparse.Namespace, cleanups: list[Callable[[], None]]) -> int:  # noqa: PLR0912, PLR0915 (one linear script)
    var = Path(args.var_dir).resolve()
    state_path = var / STATE_FILE
    state: dict[str, Any] | None = None
    if args.reuse and state_path.exists():
        found = json.loads(state_path.read_text())
        if found.get("complete") and found.get("requested_spans") == args.spans:
            state = found
    external_db = bool(os.environ.get("DATABASE_URL"))
    if state is None and var.exists():
        shutil.rmtree(var)
    var.mkdir(parents=True, exist_ok=True)

    print(f"date: {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC")
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    print(f"machine: {os.cpu_count()} cores, {mem:.0f} GiB, {platform.platform()}, Python {platform.python_version()}")
    print(f"load average at start: {os.getloadavg()[0]:.2f}")

    from apps.ops.embedded import start_services

    t0 = time.monotonic()
    services = start_services(
        postgres_dir=None if external_db else var / "pg",
        redis_dir=None if os.environ.get("REDIS_URL") else var / "redis",
    )
    cleanups.append(services.stop)
    os.environ.update(services.env)
    os.environ.update(DJANGO_SETTINGS_MODULE="config.settings.local", VIGIL_VAR_DIR=str(var), VIGIL_LOG_LEVEL="WARNING")
    print(f"services up in {time.monotonic() - t0:.1f} s ({'external' if external_db else 'embedded'} PostgreSQL)")
    subprocess.run([sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=ROOT, env=os.environ,
                   check=True)  # fmt: skip

    import django

    django.setup()
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SHOW server_version")
        version = cursor.fetchone()[0]
        shown = []
        for name in ("shared_buffers", "work_mem", "effective_cache_size", "random_page_cost", "jit"):
            cursor.execute(f"SHOW {name}")
            shown.append(f"{name}={cursor.fetchone()[0]}")
    print(f"PostgreSQL {version} ({', '.join(shown)})")

    if state is None:
        state = {"requested_spans": args.spans, "complete": False, **setup_tenant()}
        state_path.write_text(json.dumps(state, indent=1))
        state.update(Loader(args, cleanups).run(state), complete=True)
        state_path.write_text(json.dumps(state, indent=1))
    else:
        loaded_at = dt.datetime.fromtimestamp(state["window_end_ns"] / 1e9, dt.UTC)
        print(
            f"reusing the load of {state['spans']:,} spans and {state['logs']:,} log records "
            f"(window ending {loaded_at:%Y-%m-%d %H:%M} UTC; loaded at {state['load_rate']:,} spans/s)"
        )

    from django.test import Client

    end = state["window_end_ns"]  # "now" for the user: the newest data (a load can be hours old with --reuse)
    picked = pick(state, end)
    client = Client(HTTP_AUTHORIZATION=f"Bearer {api_token(state)}", HTTP_HOST="localhost")
    print(
        f"measuring {args.runs} runs per call after one warm-up, 'now' = the end of the load window; "
        f"service {picked['service']!r}, user {picked['user']!r}, {len(picked['traces'])} sampled trace ids"
    )
    print(f"load average before measuring: {os.getloadavg()[0]:.2f}", flush=True)
    header = (
        "| page | call | range | p50 ms | p95 ms | max ms | runs | SQL p50 ms | statements | result (warm-up) | "
        "target p95 ms | verdict |"
    )
    print()
    print(header)
    print("|---|---|---|---:|---:|---:|---:|---:|---:|---|---:|---|")
    results = []
    for call in calls(state, picked, end):
        if args.only and not any(word in call.page for word in args.only.split(",")):
            continue
        measured = measure(client, call, args.runs, args.call_budget)
        results.append(measured)
        print(_row(measured), flush=True)
    print(f"\nload average after measuring: {os.getloadavg()[0]:.2f}")

    print(f"\nstorage (project rows; {state['spans']:,} spans loaded over {state['window_hours']:g} h):")
    for line in storage(state):
        print(line)

    missed = [m for m in results if m.met is False]
    if args.explain:
        for m in results:
            if m.met is not True:
                for line in explain(m):
                    print(line)
    print()
    if missed:
        print(f"targets missed by {len(missed)} of {sum(m.met is not None for m in results)} calls:")
        for m in missed:
            print(f"  {m.call.page}: {m.call.label} ({m.call.range_label}) p95 {m.pct(0.95):.0f} ms "
                  f"(target < {m.call.target:g} ms)")  # fmt: skip
    else:
        print("every target met")
    return 1 if args.require_targets and missed else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spans", type=int, default=10_000_000, help="spans to load (whole 512-span requests)")
    parser.add_argument("--runs", type=int, default=20, help="timed calls per API call (after one warm-up)")
    parser.add_argument(
        "--call-budget", type=float, default=90, help="seconds per call; slower calls get fewer runs (at least 5)"
    )
    parser.add_argument("--workers", type=int, default=2, help="loader processes")
    parser.add_argument("--templates", type=int, default=24, help="distinct 512-span request templates")
    parser.add_argument(
        "--decode-each", action="store_true", help="decode, limit and scrub every request (not once per template)"
    )
    parser.add_argument("--window-hours", type=float, default=24, help="the load's spans start within this window")
    parser.add_argument("--compact-every", type=float, default=15, help="fold rollup deltas this often while loading")
    parser.add_argument("--var-dir", default=str(ROOT / "var" / "bench-queries"), help="scratch directory")
    parser.add_argument("--keep", action="store_true", help="keep the scratch database afterwards")
    parser.add_argument("--reuse", action="store_true", help="reuse a kept complete load of --spans (implies --keep)")
    parser.add_argument("--explain", action="store_true", help="EXPLAIN ANALYZE the slowest statement of slow calls")
    parser.add_argument("--only", default="", help="measure only the pages whose name contains one of these words")
    parser.add_argument("--require-targets", action="store_true", help="exit 1 when a target is missed")
    args = parser.parse_args()
    args.keep = args.keep or args.reuse or bool(os.environ.get("VIGIL_BENCH_KEEP"))

    cleanups: list[Callable[[], None]] = []

    def terminate(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, terminate)
    code = 1
    try:
        code = run(args, cleanups)
    except KeyboardInterrupt:
        print("\ninterrupted; stopping what the benchmark started", file=sys.stderr)
        code = 130
    except Exception as exc:  # report, clean up, exit non-zero
        print(f"\nFAILURE: {type(exc).__name__}: {exc}", file=sys.stderr)
        code = 1
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not interrupt the clean-up
        with contextlib.suppress(Exception):
            from django.db import connections

            connections.close_all()
        for cleanup in reversed(cleanups):
            try:
                cleanup()
            except Exception as exc:
                print(f"clean-up step failed: {exc}", file=sys.stderr)
        var = Path(args.var_dir).resolve()
        if not args.keep and var.exists():
            shutil.rmtree(var, ignore_errors=True)
    return code


if __name__ == "__main__":
    sys.exit(main())
