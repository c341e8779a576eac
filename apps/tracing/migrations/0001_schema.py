from pathlib import Path

from django.db import migrations

SQL = (Path(__file__).resolve().parent.parent / "sql" / "0001_schema.sql").read_text()
REVERSE = """
DROP FUNCTION vigil_hist_from_sparse(integer[], bigint[], integer);
DROP FUNCTION vigil_hist_add(integer[], integer[]);
DROP TABLE tracing_pending_edge, tracing_edge_hour, tracing_edge_minute, tracing_red_hour, tracing_red_minute,
    tracing_span;
"""


class Migration(migrations.Migration):
    initial = True
    dependencies = [("otlp", "0001_resources")]
    operations = [migrations.RunSQL(SQL, reverse_sql=REVERSE)]
