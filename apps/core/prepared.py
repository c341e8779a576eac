"""Hot statements of the ingest path as server-side prepared statements, in the caller's transaction.

Django's PostgreSQL cursors bind parameters on the client, so every execution is parsed and planned anew. For the
writers' large statements that planning was most of their cost: the service-map edge statement planned in ~1.4 ms
and ran in ~0.4 ms per 512-span request (EXPLAIN ANALYZE, bench/ingest_phases.py), as it reaches into every day
partition of the span table. A psycopg cursor with server-side binding and ``prepare=True`` plans it once per
connection (then PostgreSQL settles on a generic plan, pruning partitions at execution). Errors are psycopg's own:
callers run inside ``connection.wrap_database_errors``, as the ingest pipeline does.
A connection pooler in front of PostgreSQL must keep prepared statements per server connection (PgBouncer 1.21+
in transaction mode does, docs/deploy.md).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import psycopg
from django.db import connection


def execute_prepared(sql: str, params: Mapping[str, Any]) -> list[tuple[Any, ...]]:
    """Execute ``sql`` (psycopg ``%(name)s`` placeholders; our own statements, values only as parameters) as a
    prepared statement on Django's connection; returns the rows it returns (none for a statement without)."""
    connection.ensure_connection()
    with psycopg.Cursor(connection.connection) as cursor:
        cursor.execute(sql.encode(), params, prepare=True)
        return cursor.fetchall() if cursor.description is not None else []
