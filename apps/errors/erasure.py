"""GDPR: the error occurrences of one end user (apps/privacy calls this per project, next to the stores).

An occurrence keeps the end user's id (``enduser.id``, else ``user.id``) to count the users an issue affects;
deleting the user's telemetry deletes those occurrences too. Issues are counted from their occurrences, so
nothing else needs correcting. Other identifiers are not copied into occurrences.
"""

from __future__ import annotations

from django.db import connection

ID_KEYS = ("enduser.id", "user.id")

_COUNT = "SELECT count(*) FROM errors_occurrence WHERE organization_id = %s AND project_id = %s AND enduser_id = %s"
_DELETE = """
DELETE FROM errors_occurrence WHERE (organization_id, project_id, trace_id, span_id, seq, time) IN (
    SELECT organization_id, project_id, trace_id, span_id, seq, time FROM errors_occurrence
    WHERE organization_id = %s AND project_id = %s AND enduser_id = %s LIMIT %s)
"""


def count_occurrences(organization_id: int, project_id: int, key: str, value: str) -> int:
    if key not in ID_KEYS:
        return 0
    with connection.cursor() as cursor:
        cursor.execute(_COUNT, [organization_id, project_id, value])
        return int(cursor.fetchone()[0])


def delete_occurrence_batch(organization_id: int, project_id: int, key: str, value: str, limit: int) -> int:
    """Delete up to ``limit`` of the user's occurrences; returns how many (0: none left)."""
    if key not in ID_KEYS:
        return 0
    with connection.cursor() as cursor:
        cursor.execute(_DELETE, [organization_id, project_id, value, limit])
        return cursor.rowcount
