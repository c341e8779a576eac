from pathlib import Path

from django.db import migrations

SQL = (Path(__file__).resolve().parent.parent / "sql" / "0001_schema.sql").read_text()
REVERSE = "DROP TABLE metrics_rollup_hour, metrics_rollup_minute, metrics_point, metrics_series_count, metrics_series"


class Migration(migrations.Migration):
    initial = True
    dependencies = [("otlp", "0001_resources")]
    operations = [migrations.RunSQL(SQL, reverse_sql=REVERSE)]
