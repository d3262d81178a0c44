from django.apps import AppConfig


class TicketsConfig(AppConfig):
    name = "tickets"

    def ready(self) -> None:
        from tickets.alert_sources import alert_sources_register
        from tickets.email_inbound import quarantine_erase_person
        from tickets.incident_notices import incident_resolved_notify
        from tickets.intake import intake_erase_person
        from tickets.notifications import SLACK_BETA_PREFIX, beta_slack_webhook
        from tourbrain_support.erasure import register_erasure_step
        from tourbrain_support.notifications.channels import register_slack_target
        from tourbrain_support.oncall.incidents import register_incident_resolved

        # Beta organizations' own Slack channels are outbox targets the notification core cannot resolve alone.
        register_slack_target(SLACK_BETA_PREFIX, beta_slack_webhook)
        # Quarantined mail names people only inside its raw bytes: the GDPR erasure cannot find it alone.
        register_erasure_step("tickets.quarantined_email", quarantine_erase_person)
        # A widget ticket accepted but not filed yet must not be filed after its customer was erased.
        register_erasure_step("tickets.widget_intake", intake_erase_person)
        alert_sources_register()
        # Beta users with open tickets about a resolved incident's components are told (the core cannot ask).
        register_incident_resolved("tickets.beta_incident_resolved", incident_resolved_notify)
