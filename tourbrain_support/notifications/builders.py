"""Message builders every app uses to compose outbox rows (the apps decide who is told what)."""

from __future__ import annotations

from typing import Any

from tourbrain_support.notifications.channels import SLACK_DEFAULT_CHANNEL, slack_webhook_configured
from tourbrain_support.notifications.models import OutboxMessage
from tourbrain_support.notifications.outbox import OutboxItem


def email_item(
    kind: str, key: str, person: Any, subject: str, body: str, about: dict[str, Any] | None = None
) -> OutboxItem:
    """An email to a person (a user with an address); `about` names what it concerns (a ticket, an alert)."""
    return OutboxItem(
        kind=kind,
        channel=OutboxMessage.Channel.EMAIL,
        recipient=person.email,
        subject=subject,
        body=body,
        idempotency_key=key,
        payload={**(about or {}), "user": person.pk},
    )


def slack_item(
    kind: str, key: str, subject: str, body: str, payload: dict[str, Any], channel: str = SLACK_DEFAULT_CHANNEL
) -> OutboxItem:
    """A post to a named Slack channel (SLACK_WEBHOOKS; falls back to the default webhook)."""
    return OutboxItem(
        kind=kind,
        channel=OutboxMessage.Channel.SLACK,
        recipient=channel,
        subject=subject,
        body=body,
        idempotency_key=key,
        payload=payload,
    )


def slack_enabled(channel: str = SLACK_DEFAULT_CHANNEL) -> bool:
    # No webhook for the channel nor a default one: no rows that could only fail.
    return slack_webhook_configured(channel)
