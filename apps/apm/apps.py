from django.apps import AppConfig


class ApmConfig(AppConfig):
    name = "apps.apm"
    label = "apm"
    verbose_name = "APM pages (services, traces, service map) over the telemetry stores"
