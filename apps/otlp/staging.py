"""The first half of every telemetry write: binary COPY into a temporary staging table.

Each writer then moves the rows with one ``INSERT ... SELECT ... ON CONFLICT DO NOTHING RETURNING``
(idempotent retries) and feeds its rollups from ``RETURNING``. The staging table lives per
connection, is emptied at commit (``ON COMMIT DELETE ROWS``) and explicitly after each use, so a
caller working inside a savepoint never sees another batch's rows.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any


def stage_rows(
    cursor: Any, *, stage: str, like: str, columns: Sequence[str], types: Sequence[str], rows: Iterable[tuple[Any, ...]]
) -> None:
    """COPY ``rows`` into ``stage`` (created on first use, shaped like the table ``like``)."""
    cursor.execute(f"CREATE TEMP TABLE IF NOT EXISTS {stage} (LIKE {like} INCLUDING DEFAULTS) ON COMMIT DELETE ROWS")
    with cursor.copy(f"COPY {stage} ({', '.join(columns)}) FROM STDIN (FORMAT BINARY)") as copy:
        copy.set_types(list(types))
        for row in rows:
            copy.write_row(row)


def clear_stage(cursor: Any, stage: str) -> None:
    cursor.execute(f"TRUNCATE {stage}")
