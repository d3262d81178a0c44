from django.apps import AppConfig


class TicketsConfig(AppConfig):
    name = "tickets"

    def ready(self) -> None:
        from tickets.email_inbound import quarantine_erase_person
        from tickets.notifications import SLACK_BETA_PREFIX, beta_slack_webhook
        from tourbrain_support.erasure import register_erasure_step
        from tourbrain_support.notifications.channels import register_slack_target

        # Beta organizations' own Slack channels are outbox targets the notification core cannot resolve alone.
        register_slack_target(SLACK_BETA_PREFIX, beta_slack_webhook)
        # Quarantined mail names people only inside its raw bytes: the GDPR erasure cannot find it alone.
        register_erasure_step("tickets.quarantined_email", quarantine_erase_person)
