from django.apps import AppConfig


class OtlpConfig(AppConfig):
    name = "apps.otlp"
    label = "otlp"
    verbose_name = "OTLP data types (decoded telemetry shared by ingest and the stores)"
