from django.apps import AppConfig


class NotificationsConfig(AppConfig):
    name = "tourbrain_support.notifications"
    label = "notifications"
    verbose_name = "Notifications"
