from django.apps import AppConfig


class DemoConfig(AppConfig):
    name = "apps.demo"
    label = "demo"
    verbose_name = "Demo traffic (a simulated shop instrumented with the OpenTelemetry SDK)"
