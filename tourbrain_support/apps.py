from django.apps import AppConfig


class TourbrainSupportConfig(AppConfig):
    name = "tourbrain_support"
    verbose_name = "Accounts and roles"

    def ready(self):
        from tourbrain_support import schema  # noqa: F401 - registers the OpenAPI extension
        from tourbrain_support.signals import register_signal_handlers

        register_signal_handlers()
