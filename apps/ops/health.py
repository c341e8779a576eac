"""Readiness checks: can this process reach PostgreSQL and Redis, and is the schema current? Also reported:
how far behind alert evaluation is (informational: a stopped beat must not take the web servers out of a
load balancer, but operators and the pages must see it)."""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings
from django.core.cache import cache
from django.db import DEFAULT_DB_ALIAS, connections
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

from apps.alerting.scheduling import evaluation_lag


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str
    essential: bool = True  # False: reported, but the process is ready regardless


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


def check_alert_evaluation() -> Check:
    """Seconds the most overdue alert rule waits beyond its tick: beat or the workers are not keeping up."""
    try:
        lag = evaluation_lag(timezone.now())
    except Exception as exc:  # no database: the postgres check already says so
        return Check("alert_evaluation", False, f"unknown: {type(exc).__name__}", essential=False)
    limit = settings.VIGIL_ALERT_EVALUATION_LAG_LIMIT
    detail = f"{lag:.0f} s behind" if lag else "on time"
    return Check("alert_evaluation", lag <= limit, detail if lag <= limit else f"{detail}: is Celery beat running?",
                 essential=False)  # fmt: skip


def readiness() -> list[Check]:
    database = check_database()
    checks = [database, check_redis()]
    checks.append(check_migrations() if database.ok else Check("migrations", False, "database unreachable"))
    if database.ok:
        checks.append(check_alert_evaluation())
    return checks
