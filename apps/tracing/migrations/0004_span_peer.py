from pathlib import Path

from django.db import migrations

SQL = (Path(__file__).resolve().parent.parent / "sql" / "0004_span_peer.sql").read_text()


class Migration(migrations.Migration):
    dependencies = [("tracing", "0003_sampling")]
    operations = [
        migrations.RunSQL(SQL, reverse_sql="ALTER TABLE tracing_span DROP COLUMN peer, DROP COLUMN peer_kind")
    ]
