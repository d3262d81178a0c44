from django.apps import AppConfig


class AuditConfig(AppConfig):
    name = "audit"

    def ready(self) -> None:
        from audit import launch_checks
        from audit.alert_sources import alert_sources_register
        from audit.gdpr import transfer_record, transfer_references_recorded
        from audit.metrics import audit_metrics_register
        from audit.services import audit_record
        from audit.signals import register_signal_handlers
        from tourbrain_support.recorders import register_recorders

        register_signal_handlers()
        audit_metrics_register()
        # The core audits through tourbrain_support.recorders (it must not import this app).
        register_recorders(
            action=audit_record, transfer=transfer_record, transfers_recorded=transfer_references_recorded
        )
        alert_sources_register()
        launch_checks.register()
