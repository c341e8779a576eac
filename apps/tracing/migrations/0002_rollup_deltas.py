from pathlib import Path

from django.db import migrations

SQL = (Path(__file__).resolve().parent.parent / "sql" / "0002_rollup_deltas.sql").read_text()


class Migration(migrations.Migration):
    dependencies = [("tracing", "0001_schema")]
    # Forward only: the rollups of v1 cannot be rebuilt from v2's.
    operations = [migrations.RunSQL(SQL)]
