from django.apps import AppConfig


class NotificationsConfig(AppConfig):
    name = "apps.notifications"
    label = "notifications"
    verbose_name = "Notifications: channels, the delivery outbox and log, transports and safe outbound HTTP"
