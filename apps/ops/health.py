"""Readiness checks: can this process reach PostgreSQL and Redis, and is the schema current?"""

from __future__ import annotations

from dataclasses import dataclass

from django.core.cache import cache
from django.db import DEFAULT_DB_ALIAS, connections
from django.db.migrations.executor import MigrationExecutor


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str


def check_database() -> Check:
    try:
        with connections[DEFAULT_DB_ALIAS].cursor() as cursor:
            cursor.execute("SELECT 1")
        return Check("postgres", True, "reachable")
    except Exception as exc:  # any driver error means not ready
        return Check("postgres", False, f"unreachable: {type(exc).__name__}")


def check_migrations() -> Check:
    try:
        connection = connections[DEFAULT_DB_ALIAS]
        executor = MigrationExecutor(connection)
        pending = executor.migration_plan(executor.loader.graph.leaf_nodes())
        if pending:
            return Check("migrations", False, f"{len(pending)} not applied; run manage.py migrate")
        return Check("migrations", True, "applied")
    except Exception as exc:  # no database means we cannot tell
        return Check("migrations", False, f"unknown: {type(exc).__name__}")


def check_redis() -> Check:
    try:
        cache.set("readyz", "1", timeout=5)
        ok = cache.get("readyz") == "1"
        return Check("redis", ok, "reachable" if ok else "read back failed")
    except Exception as exc:  # any client error means not ready
        return Check("redis", False, f"unreachable: {type(exc).__name__}")


def readiness() -> list[Check]:
    database = check_database()
    checks = [database, check_redis()]
    checks.append(check_migrations() if database.ok else Check("migrations", False, "database unreachable"))
    return checks
