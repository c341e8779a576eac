"""Rollup deltas packed: one row per tenant, minute and ingest transaction (sql/0007_packed_deltas.sql)."""

from pathlib import Path

from django.db import migrations

SQL = (Path(__file__).resolve().parent.parent / "sql" / "0007_packed_deltas.sql").read_text()


class Migration(migrations.Migration):
    dependencies = [("tracing", "0006_coarser_rollups")]
    operations = [migrations.RunSQL(SQL)]
