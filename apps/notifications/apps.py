from django.apps import AppConfig


class NotificationsConfig(AppConfig):
    name = "apps.notifications"
    label = "notifications"
    verbose_name = "Notifications: transports (Slack, PagerDuty, email, SMS, webhooks) and safe outbound HTTP"
