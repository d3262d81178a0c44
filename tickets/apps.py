from django.apps import AppConfig


class TicketsConfig(AppConfig):
    name = "tickets"

    def ready(self) -> None:
        from tickets.notifications import SLACK_BETA_PREFIX, beta_slack_webhook
        from tourbrain_support.notifications.channels import register_slack_target

        # Beta organizations' own Slack channels are outbox targets the notification core cannot resolve alone.
        register_slack_target(SLACK_BETA_PREFIX, beta_slack_webhook)
