"""Gauges read at scrape time from PostgreSQL and Redis."""

from __future__ import annotations

from django.conf import settings
from django.db import connection


def database_connections() -> dict[str, int]:
    """Connections to our database by state (active, idle, ...): the pool as PostgreSQL sees it."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT coalesce(state, 'unknown'), count(*) FROM pg_stat_activity "
            "WHERE datname = current_database() GROUP BY 1"
        )
        return dict(cursor.fetchall())


def celery_queue_depth(queue: str = "celery") -> int:
    """Messages waiting in a Celery queue (a Redis list named after the queue)."""
    import redis

    client = redis.Redis.from_url(settings.REDIS_URL, socket_timeout=1)
    try:
        return int(client.llen(queue))
    finally:
        client.close()
