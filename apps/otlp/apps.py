from django.apps import AppConfig


class OtlpConfig(AppConfig):
    name = "apps.otlp"
    label = "otlp"
    verbose_name = "OTLP data types (decoded telemetry shared by ingest and the stores)"

    def ready(self) -> None:
        import psycopg
        from psycopg.adapt import PyFormat

        # Binary COPY looks dumpers up by column type. For bytea the last one registered is psycopg's
        # pure-Python DB-API ``Binary`` dumper; registering the (C) dumper of ``bytes`` again makes it the
        # one chosen, which costs a quarter of the per-row COPY time on spans (4 bytea columns). Connections
        # copy the global adapters when they open, so this runs before any of them.
        psycopg.adapters.register_dumper(bytes, psycopg.adapters.get_dumper(bytes, PyFormat.BINARY))
