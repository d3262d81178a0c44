from django.apps import AppConfig


class AuditConfig(AppConfig):
    name = "audit"

    def ready(self) -> None:
        from audit import launch_checks
        from audit.metrics import audit_metrics_register
        from audit.signals import register_signal_handlers

        register_signal_handlers()
        audit_metrics_register()
        launch_checks.register()
