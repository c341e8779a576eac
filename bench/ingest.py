"""End-to-end OTLP/HTTP trace ingest: durable spans/s, latency, CPU per span, bytes per span, vs bare COPY.

Run from the repository root (about 4-5 minutes with the defaults):

    .venv/bin/python bench/ingest.py [--steps 5000,10000,15000,20000,30000,max] [--seconds 20]
                                     [--workers 1] [--senders 8] [--copy-seconds 10] [--pairs 1] [--profile 20]

What it does, all on 127.0.0.1 / unix sockets, everything stopped at the end (also on Ctrl-C):

1. Starts an embedded PostgreSQL 16 (pgserver) and Redis in a scratch ``--var-dir`` (default
   ``var/bench``, wiped before and after; ``DATABASE_URL`` / ``REDIS_URL`` are used instead when set),
   runs ``manage.py migrate`` and creates an organization, a project and an ingest key.
2. Bare ``COPY`` ceiling: the same spans, decoded and encoded once into the writer's own COPY rows
   (``apps.tracing.span_batch.SpanBatch``), then sent again and again with new trace ids patched in (the
   client does nothing else) in 512-row transactions into ``tracing_span`` itself, as the rows of a second
   project: the same partitions and indexes, grown as far as the server's steps have grown them (with
   ``--ceiling-table bench_copy``: into a fresh ``bench_copy (LIKE tracing_span INCLUDING ALL)``, not
   partitioned, as before 2026-11-30 05:55 UTC), from one and from two processes before the HTTP steps, and
   from two processes again right after the max step. That max step and the COPY after it are a pair
   (the same table, as grown by then, and the same minute of a VM whose speed drifts by ±10 % over minutes);
   ``--pairs N`` adds N - 1 more pairs, and the target's ratio is the median of the pairs' ratios. The best
   step against the highest ceiling is printed too.
3. Starts the real server: ``uvicorn config.asgi:application`` (``--workers`` processes) with the
   rate limiter raised out of the way.
4. A load-generator process (bench/ingest_load.py) sends realistic 512-span protobuf requests over
   keep-alive HTTP connections (``--senders`` threads) at each target rate for ``--seconds``, then as
   fast as it can ("max"). Only 200 responses count as durable (minus partial-success rejections).
   Per step: offered and durable spans/s, p50/p99 request latency, refusals, server CPU seconds per
   1,000 durable spans (uvicorn processes + every PostgreSQL process, from /proc), the CPU the load
   generator used, and "foreign" CPU (other work on the machine). A step whose foreign load exceeds
   ``--rerun-foreign`` cores is run once more and the quieter run is kept.
5. Optionally profiles the server under "max" load with py-spy (``--profile SECONDS``), and prints
   the hottest functions.
   ``--step-cpu`` serves bench/step_cpu.py instead, which times each pipeline step in the server (thread
   CPU per span), and prints each worker's last window.
   ``--compare DIR`` also serves another checkout (compiled, same schema) on the same database, and after the
   steps alternates ``--compare-rounds`` pairs of max steps between the two, printing the B/A ratios.
6. Bytes per span on disk (tracing_span partitions: heap + TOAST + indexes) and the rollup tables.
7. `write_spans` alone on fresh batches: wall time and client CPU per span (``--no-writer-timing`` skips it).

Exit status: 0 when the run completed, 1 on a failure (server died, no span accepted...), and with
``--require-target`` also 1 when the target (>= 15,000 durable spans/s and >= 0.5 of bare COPY) is
missed. Record the printed output in docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import http.client
import multiprocessing as mp
import os
import platform
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import ingest_load  # noqa: E402 (bench/ is the script's directory)

TARGET_DURABLE = 15_000
TARGET_RATIO = 0.5
GOAL = 30_000
HZ = os.sysconf("SC_CLK_TCK")


# --- CPU accounting from /proc --------------------------------------------------------------------------


def _stat(pid: int) -> tuple[int, float] | None:
    """(ppid, CPU seconds of the process and of its reaped children) or None if it is gone."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = raw[raw.rindex(")") + 2 :].split()
    # fields[0] is field 3 (state): ppid is field 4, utime..cstime are fields 14-17
    return int(fields[1]), sum(int(x) for x in fields[11:15]) / HZ


def _all_stats() -> dict[int, tuple[int, float]]:
    stats = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            found = _stat(int(entry))
            if found:
                stats[int(entry)] = found
    return stats


def tree_cpu(root: int | None, stats: dict[int, tuple[int, float]]) -> float:
    """CPU seconds of ``root`` and all its live descendants, including children they already reaped."""
    if root is None or root not in stats:
        return 0.0
    children: dict[int, list[int]] = defaultdict(list)
    for pid, (ppid, _) in stats.items():
        children[ppid].append(pid)
    total, todo = 0.0, [root]
    while todo:
        pid = todo.pop()
        total += stats[pid][1]
        todo += children.get(pid, [])
    return total


def machine_busy() -> float:
    """Busy CPU seconds of the whole machine (all cores) since boot."""
    values = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    return (values[0] + values[1] + values[2] + values[5] + values[6]) / HZ  # user nice system irq softirq


@dataclass
class CpuSnapshot:
    server: float
    postgres: float
    ours: float  # this script's process tree (load generator, server, Redis, COPY workers)
    busy: float
    at: float


@dataclass
class Pids:
    server: int | None = None
    postmaster: int | None = None

    def snapshot(self) -> CpuSnapshot:
        stats = _all_stats()
        return CpuSnapshot(
            server=tree_cpu(self.server, stats),
            postgres=tree_cpu(self.postmaster, stats),
            ours=tree_cpu(os.getpid(), stats),
            busy=machine_busy(),
            at=time.monotonic(),
        )


# --- the world: services, schema, tenant --------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _postmaster_pid(database_url: str) -> int | None:
    import psycopg

    with contextlib.suppress(Exception), psycopg.connect(database_url, autocommit=True) as conn:
        data_dir = conn.execute("SHOW data_directory").fetchone()[0]
        return int(Path(data_dir, "postmaster.pid").read_text().split()[0])
    return None


def _setup_tenant() -> tuple[int, int, str, int]:
    """A fresh organization, project and ingest key (in this process, through the services), and a second project
    whose rows the bare COPY writes into the same span table."""
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.db import connections

    from apps.ops.maintenance import maintain
    from apps.tenants import services as tenants

    stamp = f"{int(time.time())}-{os.getpid()}"
    user = get_user_model().objects.create_user(f"bench-{stamp}", email=f"bench-{stamp}@example.com")
    organization = tenants.create_organization("Ingest bench", user, slug=f"bench-{stamp}")
    project = tenants.create_project(organization.pk, user, name="Ingest", slug="ingest")
    key = tenants.create_ingest_key(project, user, name="bench").plaintext
    bare = tenants.create_project(organization.pk, user, name="Bare COPY", slug="bare-copy")
    maintain()  # partitions for today and the days ahead, as the hourly beat job creates them in production
    connections.close_all()
    return organization.pk, project.pk, key, bare.pk


def _sizes(database_url: str, project_id: int) -> dict[str, tuple[int, int, int, int]]:
    """{table: (rows of our project, table+TOAST bytes, index bytes, all rows)} summed over partitions (the bare
    COPY's rows share ``tracing_span``)."""
    import psycopg

    tables = {
        "tracing_span": True,
        "tracing_red_minute": True,
        "tracing_red_hour": True,
        "tracing_edge_minute": True,
        "tracing_edge_hour": True,
        "tracing_red_delta_packed": False,
        "tracing_edge_delta_packed": False,
        "tracing_pending_edge": False,
        "otlp_resource": False,
    }
    out = {}
    with psycopg.connect(database_url, autocommit=True) as conn:
        for table, partitioned in tables.items():
            relations = (
                "SELECT inhrelid FROM pg_inherits WHERE inhparent = %s::regclass"
                if partitioned
                else "SELECT %s::regclass::oid"
            )
            # table names come from the constant above, never from input
            size_sql = "SELECT coalesce(sum(pg_table_size(r)), 0), coalesce(sum(pg_indexes_size(r)), 0) FROM "
            table_bytes, index_bytes = conn.execute(
                f"{size_sql} ({relations}) AS t(r)",
                [table],
            ).fetchone()
            rows, all_rows = conn.execute(
                f"SELECT count(*) FILTER (WHERE project_id = %s), count(*) FROM {table}",  # noqa: S608
                [project_id],
            ).fetchone()
            out[table] = (rows, int(table_bytes), int(index_bytes), all_rows)
    return out


@dataclass(frozen=True)
class Wal:
    """PostgreSQL's WAL counters (pg_stat_wal, pg_stat_bgwriter): what a step cost in WAL, and its checkpoints."""

    bytes: int
    full_page_images: int
    checkpoints: int
    buffers_full: int  # times a backend found the WAL buffers full and had to write WAL out itself
    commits: int  # transactions committed in the database (group commit's groups, and anything else)

    @classmethod
    def now(cls, database_url: str) -> Wal:
        import psycopg

        with psycopg.connect(database_url, autocommit=True) as conn:
            row = conn.execute(
                "SELECT wal_bytes, wal_fpi, (SELECT checkpoints_timed + checkpoints_req FROM pg_stat_bgwriter), "
                "wal_buffers_full, (SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()) "
                "FROM pg_stat_wal"
            ).fetchone()
        return cls(int(row[0]), int(row[1]), int(row[2]), int(row[3]), int(row[4]))

    def rows_per_commit(self, before: Wal, rows: int) -> float:
        return max(rows, 1) / max(self.commits - before.commits, 1)

    def since(self, before: Wal, rows: int) -> str:
        rows = max(rows, 1)
        return (
            f"WAL {(self.bytes - before.bytes) / rows:,.0f} B/row "
            f"({(self.full_page_images - before.full_page_images) * 1000 / rows:.1f} full-page images per 1k rows, "
            f"WAL buffers full {(self.buffers_full - before.buffers_full) * 1000 / rows:.1f} times per 1k rows), "
            f"{self.checkpoints - before.checkpoints} checkpoint(s), "
            f"{self.rows_per_commit(before, rows):,.0f} rows per commit"
        )


# --- the bare COPY ceiling ------------------------------------------------------------------------------

Into = tuple[str, int, int]  # the table the bare COPY writes into, and the organization and project of its rows


def copy_worker(out: Any, go: Any, templates: list[ingest_load.Template], seconds: float, into: Into) -> None:
    """Process entry: the writer's COPY rows for the templates, then 512-row COPY transactions until time is up."""
    import random

    import django

    django.setup()
    import psycopg

    from apps.ingest import decode_protobuf
    from apps.ingest.limits import limit_decoded
    from apps.ingest.pipeline import attribute_limits, tune_garbage_collector
    from apps.otlp.resources import Fingerprints
    from apps.tracing import writers
    from apps.tracing.span_batch import SpanBatch

    table, organization_id, project_id = into
    tune_garbage_collector()  # as the ingest server runs
    t0 = time.process_time()
    decoded = [decode_protobuf.decode_traces(t.body) for t in templates]
    t1 = time.process_time()
    for d in decoded:
        limit_decoded(d, attribute_limits())
    t2 = time.process_time()
    batches = [SpanBatch(organization_id, project_id, d.spans, Fingerprints().of) for d in decoded]
    t3 = time.process_time()
    spans = sum(len(b) for b in batches)
    costs = {
        "decode_us": (t1 - t0) / spans * 1e6,
        "limits_us": (t2 - t1) / spans * 1e6,
        "rows_us": (t3 - t2) / spans * 1e6,
    }
    copies = [_trace_id_places(batch) for batch in batches]
    statement = f"COPY {table} ({', '.join(writers.COLUMNS)}) FROM STDIN (FORMAT BINARY)"
    rnd = random.Random(os.getpid())  # noqa: S311
    with psycopg.connect(os.environ["DATABASE_URL"], autocommit=True) as conn:
        out.put(("ready", os.getpid(), costs))
        go.wait()
        rows = 0
        cpu0 = time.process_time()
        start = time.monotonic()
        while time.monotonic() - start < seconds:
            encoded, places = copies[rnd.randrange(len(copies))]
            buffer = bytearray(encoded)
            fresh: dict[bytes, bytes] = {}
            for offset, trace_id in places:  # new trace ids: every row is new to the table, as in the HTTP run
                new = fresh.get(trace_id)
                if new is None:
                    new = fresh[trace_id] = rnd.randbytes(16)
                buffer[offset : offset + 16] = new
            with conn.transaction(), conn.cursor() as cursor, cursor.copy(statement) as copy:
                copy.write(buffer)
            rows += len(places)
        out.put(("done", rows, time.monotonic() - start, time.process_time() - cpu0))


def _trace_id_places(batch: Any) -> tuple[bytes, list[tuple[int, bytes]]]:
    """A batch's COPY buffer and where each row's trace id lies in it, so that copies of the rows get new trace ids
    without being encoded again (a bare COPY: the client's only work is sending)."""
    encoded, places, position = batch.copy, [], 0
    for span in batch.spans:  # a row's trace id is its first 16-byte value: found after the row before's
        position = encoded.index(b"\x00\x00\x00\x10" + span.trace_id, position) + 4
        places.append((position, span.trace_id))
        position += 16
    return encoded, places


def copy_ceiling(
    templates: list[ingest_load.Template], processes: int, seconds: float, into: Into, pids: Pids
) -> dict[str, Any]:
    ctx = mp.get_context("spawn")
    out, go = ctx.Queue(), ctx.Event()
    workers = [ctx.Process(target=copy_worker, args=(out, go, templates, seconds, into)) for _ in range(processes)]
    try:
        for w in workers:
            w.start()
        costs = [out.get(timeout=120)[2] for _ in workers]
        before = pids.snapshot()
        go.set()
        done = [out.get(timeout=seconds + 120) for _ in workers]
        after = pids.snapshot()
        for w in workers:
            w.join(timeout=30)
    finally:
        for w in workers:
            if w.is_alive():
                w.terminate()
                w.join()
    rows = sum(d[1] for d in done)
    wall = max(d[2] for d in done)
    return {
        "processes": processes,
        "rows": rows,
        "rate": rows / wall,
        "pg_cpu_us": (after.postgres - before.postgres) / rows * 1e6,
        "client_cpu_us": sum(d[3] for d in done) / rows * 1e6,
        "costs": costs[0],
        "foreign": _foreign(before, after),
    }


# --- the server, the load generator, the profile ------------------------------------------------------


def _foreign(before: CpuSnapshot, after: CpuSnapshot) -> float:
    """Average cores used by processes this run did not start (other work on the machine)."""
    elapsed = max(after.at - before.at, 1e-6)
    ours = (after.ours - before.ours) + (after.postgres - before.postgres)
    return max((after.busy - before.busy) - ours, 0.0) / elapsed


def start_server(
    env: dict[str, str], workers: int, log: Path, *, step_cpu: bool = False, root: Path = ROOT
) -> tuple[subprocess.Popen[bytes], str]:
    """uvicorn on a free port, serving the checkout at ``root``; with ``step_cpu``, the application with its
    pipeline steps timed (bench/step_cpu.py)."""
    port = _free_port()
    app = "config.asgi:application"
    if step_cpu:
        app = "step_cpu:application"
        env = {**env, "PYTHONPATH": os.pathsep.join(filter(None, [str(root / "bench"), env.get("PYTHONPATH")]))}
    args = [sys.executable, "-m", "uvicorn", app, "--host", "127.0.0.1", "--port", str(port)]
    args += ["--lifespan", "off", "--no-access-log", "--log-level", "warning"]
    if workers > 1:
        args += ["--workers", str(workers)]
    with log.open("ab") as handle:
        process = subprocess.Popen(
            args, cwd=root, env=env, stdin=subprocess.DEVNULL, stdout=handle, stderr=handle, start_new_session=True
        )
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the server exited with status {process.returncode}; see {log}")
        with contextlib.suppress(OSError, http.client.HTTPException):
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/healthz")
            if conn.getresponse().status == 200:
                conn.close()
                return process, f"http://127.0.0.1:{port}/v1/traces"
        time.sleep(0.3)
    raise RuntimeError(f"the server did not answer /healthz within 90 s; see {log}")


def stop_process(process: subprocess.Popen[bytes] | None, group: bool = True) -> None:
    if process is None or process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        if group:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)  # its own session: only what we started
        process.kill()
        process.wait()


def summarize_profile(raw: Path, top: int = 22) -> list[str]:
    """py-spy's collapsed stacks → shares of samples per function (inclusive and self) and per app file."""
    inclusive: Counter[str] = Counter()
    own: Counter[str] = Counter()
    files: Counter[str] = Counter()
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not count_text.isdigit():
            continue
        count = int(count_text)
        frames = []
        for frame in stack.split(";"):
            if frame.startswith(("process ", "thread ")):
                continue
            name, _, where = frame.partition(" (")
            path = where.rsplit(":", 1)[0].rstrip(")")
            for prefix in ("site-packages/", f"{ROOT}/", "lib/python3.11/"):
                if prefix in path:
                    path = path.split(prefix, 1)[1]
            frames.append((f"{name} ({path})", path))
        if not frames:
            continue
        total += count
        for key in {f for f, _ in frames}:
            inclusive[key] += count
        for path in {p for _, p in frames if p.startswith("apps/")}:
            files[path] += count
        own[frames[-1][0]] += count
    if not total:
        return ["(no samples)"]
    lines = [f"{total} samples"]
    lines.append("inclusive (function and everything it calls):")
    lines += [f"  {n / total:6.1%}  {k}" for k, n in inclusive.most_common(top)]
    lines.append("self (the function's own code, leaves of the stacks):")
    lines += [f"  {n / total:6.1%}  {k}" for k, n in own.most_common(top)]
    lines.append("inclusive per app file:")
    lines += [f"  {n / total:6.1%}  {k}" for k, n in files.most_common(12)]
    return lines


def time_writer(template: ingest_load.Template, tenant: tuple[int, int], runs: int = 5) -> list[str]:
    """``write_spans`` alone on fresh batches (each rolled back): wall time and this process's CPU per span.

    Run after the load, so the day's partitions and indexes are as in a steady stream. The wall time minus
    the client CPU is (roughly) PostgreSQL's share of one batch.
    """
    from django.db import connections, transaction

    from apps.ingest import decode_protobuf
    from apps.tracing import writers

    patcher = ingest_load.Patcher(template)
    walls, cpus = [], []
    spans = 0
    for _ in range(runs):
        decoded = decode_protobuf.decode_traces(patcher.make(time.time_ns()))
        spans = len(decoded.spans)
        with transaction.atomic():
            wall, cpu = time.perf_counter(), time.process_time()
            writers.write_spans(*tenant, decoded.spans, optimistic=True)  # as the pipeline writes
            walls.append(time.perf_counter() - wall)
            cpus.append(time.process_time() - cpu)
            transaction.set_rollback(True)
    connections.close_all()
    wall, cpu = statistics.median(walls), statistics.median(cpus)
    return [
        f"write_spans alone on {spans} fresh spans (median of {runs}, rolled back): {wall * 1e3:.1f} ms wall = "
        f"{wall * 1e6 / spans:.0f} µs/span, of which client CPU {cpu * 1e6 / spans:.0f} µs/span"
    ]


# --- the run ---------------------------------------------------------------------------------------------


@dataclass
class Row:
    label: str
    result: dict[str, Any]
    server_cpu: float
    postgres_cpu: float
    foreign: float
    load: float
    wal: str
    rows_per_commit: float

    @property
    def durable_rate(self) -> float:
        return self.result["durable_spans"] / self.result["seconds"]

    @property
    def offered_rate(self) -> float:
        return self.result["requests"] * ingest_load.SPANS_PER_REQUEST / self.result["seconds"]

    def cpu_per_1k(self) -> tuple[float, float, float]:
        k = max(self.result["durable_spans"], 1) / 1000
        return (self.server_cpu + self.postgres_cpu) / k, self.server_cpu / k, self.postgres_cpu / k


class Bench:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.pids = Pids()
        self.loadgen: Any = None
        self.loadgen_conn: Any = None
        self.acknowledged = 0  # durable spans of every step run, kept or not
        self.database_url = ""
        self.server: Any = None
        self.url = ""
        self.compared: Any = None  # --compare's server
        self.compared_url = ""

    def step(self, label: str, target: float | None, seconds: float, *, compared: bool = False) -> Row:
        """One step against this checkout's server, or with ``compared`` against ``--compare``'s."""
        server, url = (self.compared, self.compared_url) if compared else (self.server, self.url)
        pids = Pids(server.pid, self.pids.postmaster)
        wal = Wal.now(self.database_url)
        before = pids.snapshot()
        self.loadgen_conn.send(("run", target, seconds, self.args.senders, url))
        if not self.loadgen_conn.poll(seconds + 180):
            raise RuntimeError("the load generator did not report back")
        _, result = self.loadgen_conn.recv()
        self.acknowledged += result["durable_spans"]
        after = pids.snapshot()
        if server.poll() is not None:
            raise RuntimeError(f"the server died during step {label}; see {self.log.parent}")
        wal_after = Wal.now(self.database_url)
        return Row(
            label,
            result,
            after.server - before.server,
            after.postgres - before.postgres,
            _foreign(before, after),
            os.getloadavg()[0],
            wal_after.since(wal, result["durable_spans"]),
            wal_after.rows_per_commit(wal, result["durable_spans"]),
        )

    def bare_copy(
        self, templates: list[ingest_load.Template], tenant: tuple[int, int], processes: tuple[int, ...], when: str
    ) -> list[dict[str, Any]]:
        """The bare-COPY ceiling from each number of ``processes``; printed. Into ``tracing_span`` itself, as rows
        of ``tenant`` (a project of its own), or with ``--ceiling-table bench_copy`` into a fresh table."""
        import psycopg

        table = self.args.ceiling_table
        if table == "bench_copy":
            with psycopg.connect(self.database_url, autocommit=True) as conn:
                conn.execute("DROP TABLE IF EXISTS bench_copy")
                conn.execute("CREATE TABLE bench_copy (LIKE tracing_span INCLUDING ALL)")
        ceilings = []
        for count in processes:
            wal = Wal.now(self.database_url)
            ceiling = copy_ceiling(templates, count, self.args.copy_seconds, (table, *tenant), self.pids)
            ceiling["wal"] = Wal.now(self.database_url).since(wal, ceiling["rows"])
            ceilings.append(ceiling)
            print(
                f"bare COPY{when}, {count} process(es): {ceiling['rate']:,.0f} rows/s, PostgreSQL "
                f"{ceiling['pg_cpu_us']:.1f} µs/row, client {ceiling['client_cpu_us']:.1f} µs/row, "
                f"foreign load {ceiling['foreign']:.2f} cores; {ceiling['wal']}",
                flush=True,
            )
        if table != "bench_copy":
            return ceilings
        with psycopg.connect(self.database_url, autocommit=True) as conn:
            copied = conn.execute(
                "SELECT count(*), pg_table_size('bench_copy'), pg_indexes_size('bench_copy') FROM bench_copy"
            ).fetchone()
            conn.execute("DROP TABLE bench_copy")
        print(
            f"bare COPY table: {(copied[1] + copied[2]) / copied[0]:,.0f} B/row "
            f"({copied[1] / copied[0]:,.0f} table + {copied[2] / copied[0]:,.0f} indexes)"
        )
        return ceilings

    def measured_step(self, label: str, target: float | None) -> Row:
        row = self.step(label, target, self.args.seconds)
        if row.foreign > self.args.rerun_foreign:
            print(f"  (step {label}: other work used {row.foreign:.2f} cores; running it again)", flush=True)
            time.sleep(3)
            again = self.step(label, target, self.args.seconds)
            row = again if again.foreign < row.foreign else row
        return row

    def run(self) -> int:  # noqa: PLR0912, PLR0915 (one linear script)
        args = self.args
        var = Path(args.var_dir).resolve()
        external_db = bool(os.environ.get("DATABASE_URL"))
        external_redis = bool(os.environ.get("REDIS_URL"))
        if var.exists() and not args.keep:
            shutil.rmtree(var)
        var.mkdir(parents=True, exist_ok=True)
        self.log = var / "server.log"
        print(f"date: {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC")
        mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
        print(
            f"machine: {os.cpu_count()} cores, {mem:.0f} GiB, {platform.platform()}, Python {platform.python_version()}"
        )
        print(f"load average at start: {os.getloadavg()[0]:.2f}")

        from apps.ops.embedded import start_services

        t0 = time.monotonic()
        services = start_services(
            postgres_dir=None if external_db else var / "pg", redis_dir=None if external_redis else var / "redis"
        )
        self.cleanups.append(services.stop)
        env = dict(os.environ)
        env.update(services.env)
        env.update(
            DJANGO_SETTINGS_MODULE="config.settings.local",
            VIGIL_VAR_DIR=str(var),
            VIGIL_INGEST_RATE_LIMIT_PER_SECOND=str(10**9),
            VIGIL_LOG_LEVEL="WARNING",
        )
        os.environ.update({k: env[k] for k in ("DJANGO_SETTINGS_MODULE", "VIGIL_VAR_DIR", "DATABASE_URL", "REDIS_URL")})
        database_url = self.database_url = env["DATABASE_URL"]
        self.pids.postmaster = _postmaster_pid(database_url)
        print(f"services up in {time.monotonic() - t0:.1f} s ({'external' if external_db else 'embedded'} PostgreSQL)")
        subprocess.run([sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=ROOT, env=env, check=True)
        organization_id, project_id, key, bare_project_id = _setup_tenant()
        copy_tenant = (organization_id, bare_project_id)
        sizes_before = _sizes(database_url, project_id)

        import psycopg

        with psycopg.connect(database_url, autocommit=True) as conn:
            pg_version = conn.execute("SHOW server_version").fetchone()[0]
            settings_text = ", ".join(
                f"{name}={conn.execute(f'SHOW {name}').fetchone()[0]}"
                for name in ("shared_buffers", "synchronous_commit", "fsync", "max_wal_size")
            )
        print(f"PostgreSQL {pg_version} ({settings_text})")

        t0 = time.monotonic()
        templates = ingest_load.build_templates(seed=20261129, count=args.templates)
        wire = sum(len(t.body) for t in templates) / sum(t.spans for t in templates)
        print(
            f"{len(templates)} request templates of {ingest_load.SPANS_PER_REQUEST} spans built in "
            f"{time.monotonic() - t0:.1f} s ({wire:.0f} B/span on the wire, uncompressed protobuf)"
        )

        # 1. the ceiling: bare COPY of the writer's rows
        ceilings = []
        if args.copy_seconds > 0:
            if args.ceiling_table == "bench_copy":
                self.cleanups.append(lambda: _drop_bench_copy(database_url))  # if a run stops halfway
            ceilings = self.bare_copy(templates, copy_tenant, (1, 2), "")
            costs = ceilings[0]["costs"]
            print(
                f"Python cost per span outside the server, one core: decode {costs['decode_us']:.1f} µs, "
                f"attribute limits {costs['limits_us']:.1f} µs, SpanBatch {costs['rows_us']:.1f} µs"
            )

        # 2. the server and the load generator
        self.server, url = start_server(env, args.workers, self.log, step_cpu=args.step_cpu)
        self.url = url
        self.cleanups.append(lambda: stop_process(self.server))
        self.pids.server = self.server.pid
        if args.compare:
            other = Path(args.compare).resolve()
            self.compared, self.compared_url = start_server(
                env, args.workers, var / "server-compared.log", step_cpu=args.step_cpu, root=other
            )
            self.cleanups.append(lambda: stop_process(self.compared))
            print(f"compared server: {other}, pid {self.compared.pid}")
        ctx = mp.get_context("spawn")
        self.loadgen_conn, child = ctx.Pipe()
        self.loadgen = ctx.Process(target=ingest_load.loadgen_main, args=(child, templates, url, key), daemon=True)
        self.loadgen.start()
        self.cleanups.append(self._stop_loadgen)
        if not self.loadgen_conn.poll(120):
            raise RuntimeError("the load generator did not start")
        self.loadgen_conn.recv()
        print(
            f"server: uvicorn, {args.workers} worker process(es), pid {self.server.pid}; load generator: "
            f"{args.senders} keep-alive connections in pid {self.loadgen.pid}"
        )
        warm = self.step("warm-up", 5000, 4)
        print(f"warm-up: {warm.durable_rate:,.0f} spans/s, statuses {warm.result['statuses']}", flush=True)

        rows: list[Row] = []
        header = (
            f"{'step':>7} {'offered/s':>10} {'durable/s':>10} {'p50 ms':>8} {'p99 ms':>8} {'refusals':>12} "
            f"{'CPU s/1k':>9} {'(uvicorn':>9} {'+ pg)':>8} {'loadgen':>8} {'foreign':>8} {'load':>5}"
        )
        print(header, flush=True)
        saturated = False
        for step in args.steps.split(","):
            target = None if step == "max" else float(step)
            if saturated and target is not None:
                continue
            label = step if target is None else f"{target / 1000:g}k"
            row = self.measured_step(label, target)
            rows.append(row)
            print(_format_row(row), flush=True)
            print(f"{'':>8}{row.wal}", flush=True)
            if target is not None and row.durable_rate < 0.85 * target:
                saturated = True  # higher fixed rates cannot do better; go to "max"
            time.sleep(2)

        if args.copy_seconds > 0:  # the ceiling again, right after the max step: the first pair
            ceilings += self.bare_copy(templates, copy_tenant, (2,), " after the steps")
        # Pairs: a max step and the bare COPY run right after it. The ceiling drifts by ±10 % over minutes on these
        # VMs, so the ratio of each pair, and their median, move less than the best step against the highest ceiling.
        pairs: list[float] = []
        if args.copy_seconds > 0 and rows and rows[-1].label == "max":
            pairs.append(rows[-1].durable_rate / ceilings[-1]["rate"])
            for number in range(2, args.pairs + 1):
                time.sleep(2)
                row = self.measured_step(f"max {number}", None)
                rows.append(row)
                print(_format_row(row), flush=True)
                ceilings += self.bare_copy(templates, copy_tenant, (2,), f" after max step {number}")
                pairs.append(row.durable_rate / ceilings[-1]["rate"])

        if args.compare:
            self.compare_servers(header)

        profile_lines: list[str] = []
        if args.profile > 0:
            profile_lines = self.profile(var)
        explain_lines = time_writer(templates[0], (organization_id, project_id)) if args.explain else []

        from apps.tracing.rollups import compact_rollups  # the beat job's work, every 15 s in production

        folding = time.perf_counter()
        folded = compact_rollups()
        print(f"rollup compaction (the 15 s beat job, run once here): {folded:,} deltas folded in "
              f"{time.perf_counter() - folding:.2f} s")  # fmt: skip
        sizes = _sizes(database_url, project_id)
        spans_stored = sizes["tracing_span"][0]
        print()
        print(f"stored spans: {spans_stored:,} (acknowledged durable: {self.acknowledged:,})")
        for table, (count, table_bytes, index_bytes, all_rows) in sizes.items():
            _, tb0, ib0, all_rows0 = sizes_before[table]
            grown = (table_bytes - tb0) + (index_bytes - ib0)
            # the span table's bytes per row over all its rows (the bare COPY's too); the rollups' per stored span
            per = max(all_rows - all_rows0 if table == "tracing_span" else spans_stored, 1)
            print(
                f"  {table:<22} {count:>10,} rows  {grown / 2**20:8.1f} MiB  {grown / per:7.1f} B/span"
                + (
                    f"  (table+TOAST {(table_bytes - tb0) / per:.0f}, indexes {(index_bytes - ib0) / per:.0f})"
                    if table == "tracing_span"
                    else ""
                )
            )

        best = max(rows, key=lambda r: r.durable_rate)
        ceiling_rate = max((c["rate"] for c in ceilings), default=0.0)
        print()
        print(header)
        for row in rows:
            print(_format_row(row))
        print()
        print(f"best durable rate: {best.durable_rate:,.0f} spans/s ({best.label})")
        if ceiling_rate:
            print(
                f"bare COPY ceiling (highest measured): {ceiling_rate:,.0f} rows/s; best durable / highest ceiling = "
                f"{best.durable_rate / ceiling_rate:.2f}"
            )
        # The target's ratio: each max step against the bare COPY right after it, into the same table as grown by
        # then (the median over pairs); without pairs, the best step against the highest ceiling.
        ratio = statistics.median(pairs) if pairs else best.durable_rate / ceiling_rate if ceiling_rate else 0.0
        if pairs:
            print(
                f"pairs (a max step / the bare COPY right after it): {', '.join(f'{p:.2f}' for p in pairs)}; "
                f"median {ratio:.2f}"
            )
        met = best.durable_rate >= TARGET_DURABLE and ratio >= TARGET_RATIO
        print(
            f"target (>= {TARGET_DURABLE:,} spans/s durable and >= {TARGET_RATIO} of bare COPY, the pairs' median): "
            f"{'met' if met else 'NOT met'}; goal {GOAL:,} spans/s: {'met' if best.durable_rate >= GOAL else 'not met'}"
        )
        for line in [*profile_lines, "", *explain_lines, *self.step_cpu_lines()]:
            print(line)
        if spans_stored != self.acknowledged:
            print(f"FAILURE: {self.acknowledged:,} spans were acknowledged but {spans_stored:,} are stored")
            return 1
        if best.durable_rate <= 0:
            print("FAILURE: no span was accepted")
            return 1
        return 1 if args.require_target and not met else 0

    def compare_servers(self, header: str) -> None:
        """Max steps alternating between this checkout's server (A) and ``--compare``'s (B), B first in every other
        round so that a drift of the machine favours neither; prints each round's B/A ratios and their medians.
        Why: these VMs' speed drifts by tens of per cent within minutes (docs/benchmarks.md), so separate runs of two
        versions cannot show a difference of a few per cent; steps seconds apart, into the same database, can."""
        print()
        print(f"A: this checkout; B: {Path(self.args.compare).resolve()}")
        print(header)
        rates, cpus, totals = [], [], []
        for number in range(1, self.args.compare_rounds + 1):
            order = (False, True) if number % 2 else (True, False)
            measured = {}
            for compared in order:
                time.sleep(2)
                row = self.step(f"{'B' if compared else 'A'} {number}", None, self.args.seconds, compared=compared)
                print(f"{_format_row(row)}  {row.rows_per_commit:,.0f} rows per commit", flush=True)
                measured[compared] = row
            a, b = measured[False], measured[True]
            rates.append(b.durable_rate / a.durable_rate)
            cpus.append(b.cpu_per_1k()[1] / a.cpu_per_1k()[1])
            totals.append(b.cpu_per_1k()[0] / a.cpu_per_1k()[0])
        print(
            f"B/A durable spans/s: {', '.join(f'{r:.3f}' for r in rates)}; median {statistics.median(rates):.3f}\n"
            f"B/A uvicorn CPU per span: {', '.join(f'{c:.3f}' for c in cpus)}; median {statistics.median(cpus):.3f}\n"
            f"B/A CPU per span (uvicorn + PostgreSQL): {', '.join(f'{c:.3f}' for c in totals)}; "
            f"median {statistics.median(totals):.3f}"
        )

    def step_cpu_lines(self) -> list[str]:
        """With ``--step-cpu``: each worker's last window of CPU per span by pipeline step (from the last max step),
        with ``--compare`` the compared server's too (its lines prefixed "B")."""
        if not self.args.step_cpu:
            return []
        logs = [("", self.log)]
        if self.args.compare:
            logs.append(("B ", self.log.parent / "server-compared.log"))
        last: dict[str, str] = {}
        for prefix, log in logs:
            for line in log.read_text(errors="replace").splitlines():
                if line.startswith("step-cpu"):
                    last[prefix + line.split(":", 1)[0]] = prefix + line
        return [
            "",
            "CPU per span by pipeline step in the server (bench/step_cpu.py; thread CPU, µs/span):",
            *last.values(),
        ]

    def profile(self, var: Path) -> list[str]:
        spy = shutil.which("py-spy", path=str(Path(sys.executable).parent)) or shutil.which("py-spy")
        if spy is None:
            return ["profile: py-spy is not installed (pip install -r requirements/test.txt)"]
        raw = var / "profile.txt"
        command = [spy, "record", "--pid", str(self.server.pid), "--duration", str(round(self.args.profile))]
        command += ["--rate", "100", "--format", "raw", "--output", str(raw)]
        if self.args.workers > 1:
            command.append("--subprocesses")
        if self.args.profile_native:
            command.append("--native")
        if not self.args.profile_all_threads:
            command.append("--gil")
        spy_log = (var / "py-spy.log").open("wb")
        spy_process = subprocess.Popen(command, stdout=spy_log, stderr=spy_log, start_new_session=True)
        self.cleanups.append(lambda: stop_process(spy_process))
        time.sleep(1)
        row = self.step("profile", None, self.args.profile)
        spy_process.wait(timeout=60)
        print(f"\nprofile pass (max load under py-spy, not in the table): {row.durable_rate:,.0f} spans/s", flush=True)
        if not raw.exists():
            return [f"profile: py-spy wrote nothing; see {var / 'py-spy.log'}"]
        mode = "all busy threads" if self.args.profile_all_threads else "the thread holding the GIL"
        return ["", f"py-spy profile of the server under max load ({raw}; samples of {mode}):", *summarize_profile(raw)]

    def _stop_loadgen(self) -> None:
        if self.loadgen is None:
            return
        with contextlib.suppress(OSError, ValueError):
            self.loadgen_conn.send(("stop",))
        self.loadgen.join(timeout=10)
        if self.loadgen.is_alive():
            self.loadgen.terminate()
            self.loadgen.join()

    cleanups: list[Any]


def _drop_bench_copy(database_url: str) -> None:
    import psycopg

    with contextlib.suppress(Exception), psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("DROP TABLE IF EXISTS bench_copy")


def _format_row(row: Row) -> str:
    r = row.result
    refusals = ",".join(f"{k}:{v}" for k, v in sorted(r["statuses"].items()) if k != "200") or "-"
    total, server, postgres = row.cpu_per_1k()
    p50 = f"{r['p50_ms']:.0f}" if r["p50_ms"] is not None else "-"
    p99 = f"{r['p99_ms']:.0f}" if r["p99_ms"] is not None else "-"
    return (
        f"{row.label:>7} {row.offered_rate:>10,.0f} {row.durable_rate:>10,.0f} {p50:>8} {p99:>8} {refusals:>12} "
        f"{total:>9.4f} {server:>9.4f} {postgres:>8.4f} {r['loadgen_cpu'] / r['seconds']:>7.2f}c "
        f"{row.foreign:>7.2f}c {row.load:>5.1f}"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", default="5000,10000,15000,20000,30000,max", help="target spans/s, comma-separated")
    parser.add_argument("--seconds", type=float, default=20, help="length of each step")
    parser.add_argument("--workers", type=int, default=1, help="uvicorn worker processes")
    parser.add_argument("--senders", type=int, default=8, help="concurrent keep-alive connections")
    parser.add_argument("--templates", type=int, default=24, help="distinct 512-span request templates")
    parser.add_argument("--copy-seconds", type=float, default=10, help="length of each bare-COPY run (0: skip)")
    parser.add_argument(
        "--ceiling-table",
        choices=("tracing_span", "bench_copy"),
        default="tracing_span",
        help="where the bare COPY writes: the span table itself (as another project) or a fresh table",
    )
    parser.add_argument(
        "--pairs", type=int, default=1, help="max steps, each followed by a bare COPY (the steps' max is the first)"
    )
    parser.add_argument(
        "--compare",
        metavar="DIR",
        help="another checkout (compiled, same schema): its server against this one's, max steps alternating",
    )
    parser.add_argument("--compare-rounds", type=int, default=8, help="rounds of an A and a B max step (--compare)")
    parser.add_argument("--profile", type=float, default=0, help="py-spy the server for this many seconds at max load")
    parser.add_argument(
        "--step-cpu", action="store_true", help="time the server's pipeline steps (bench/step_cpu.py; ~1 µs/span)"
    )
    parser.add_argument("--profile-native", action="store_true", help="include native frames in the profile")
    parser.add_argument(
        "--profile-all-threads",
        action="store_true",
        help="sample every busy thread (default: only the thread holding the GIL, i.e. where Python CPU goes)",
    )
    parser.add_argument(
        "--no-writer-timing", dest="explain", action="store_false", help="skip timing write_spans alone"
    )
    parser.add_argument(
        "--rerun-foreign", type=float, default=0.35, help="rerun a step once if other work used more cores"
    )
    parser.add_argument("--var-dir", default=str(ROOT / "var" / "bench"), help="scratch directory (wiped)")
    parser.add_argument("--keep", action="store_true", help="keep the scratch directory (and its database) afterwards")
    parser.add_argument("--require-target", action="store_true", help="exit 1 when the target is missed")
    args = parser.parse_args()

    bench = Bench(args)
    bench.cleanups = []

    def terminate(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, terminate)
    code = 1
    try:
        code = bench.run()
    except KeyboardInterrupt:
        print("interrupted; stopping what the benchmark started", file=sys.stderr)
        code = 130
    except Exception as exc:  # report, clean up, exit non-zero
        print(f"FAILURE: {type(exc).__name__}: {exc}", file=sys.stderr)
        code = 1
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not interrupt the clean-up
        for cleanup in reversed(bench.cleanups):
            try:
                cleanup()
            except Exception as exc:
                print(f"clean-up step failed: {exc}", file=sys.stderr)
        var = Path(args.var_dir).resolve()
        if not args.keep and not os.environ.get("VIGIL_BENCH_KEEP") and (var / "pg").exists():
            shutil.rmtree(var / "pg", ignore_errors=True)
    return code


if __name__ == "__main__":
    sys.exit(main())
