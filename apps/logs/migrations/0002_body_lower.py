"""The searched body text is stored lower-cased (``body_lower``), so ``q`` compares it with LIKE instead of ILIKE."""

from pathlib import Path

from django.db import migrations

SQL = (Path(__file__).resolve().parent.parent / "sql" / "0002_body_lower.sql").read_text()
# Rewrites the records whose text has capitals (most of them): a one-off copy of those rows in each partition,
# whose space autovacuum frees for new rows.
BACKFILL = "UPDATE logs_record SET body_lower = lower(body_lower) WHERE body_lower <> lower(body_lower)"


class Migration(migrations.Migration):
    dependencies = [("logs", "0001_schema")]
    operations = [
        # Backwards, the text keeps its lower case: ILIKE, which the older code runs, finds the same records in it.
        migrations.RunSQL(SQL, reverse_sql="ALTER TABLE logs_record RENAME COLUMN body_lower TO body_text"),
        migrations.RunSQL(BACKFILL, reverse_sql=migrations.RunSQL.noop),
    ]
