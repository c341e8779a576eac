from pathlib import Path

from django.db import migrations

SQL = (Path(__file__).resolve().parent.parent / "sql" / "0001_schema.sql").read_text()


class Migration(migrations.Migration):
    initial = True
    dependencies = [("otlp", "0001_resources")]
    operations = [migrations.RunSQL(SQL, reverse_sql="DROP TABLE logs_count_minute, logs_record")]
