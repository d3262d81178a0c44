from django.apps import AppConfig


class TicketsConfig(AppConfig):
    name = "tickets"

    def ready(self) -> None:
        from tickets.alert_sources import alert_sources_register

        alert_sources_register()
