from django.apps import AppConfig


class AlertingConfig(AppConfig):
    name = "apps.alerting"
    label = "alerting"
    verbose_name = "Alert rules, their evaluation, incidents and alert analytics"
