"""Audit and compliance alerts: the one place that tells people when the trail, a backup or the login guard trips,
or a data-subject request runs past its deadline.

`audit_alert_raise(kind=, message=, details=)` does three things, each independent of the next:

1. an ERROR line on the `audit.alerts` logger (log-based alerting sees it whatever else is down);
2. a Sentry message tagged `alert_kind` (the logging integration's copy of line 1 is dropped in
   `tourbrain_support.sentry`, so Sentry gets one event per alert);
3. notification outbox rows, delivered by the outbox tasks: an email to every active admin and auditor
   (`SUPPORT_EMAIL` when there is none) and, when `SLACK_WEBHOOK_URL` is set, one post to the ops channel.

Steps 1 and 2 do not depend on the database (Sentry's transfer-log entry is best effort), so an alert
about a broken database still goes out. Step 3 runs in its own transaction or savepoint; if it fails
(the database is the thing that is broken, or the caller's transaction is already aborted) the failure
is logged and swallowed: alerting must never hide, or replace, the failure it reports. Inside a caller's
transaction the rows commit (and are sent) with it.

Deduplication: the rows' idempotency keys name the alert kind, a digest of the message and the UTC
clock hour, so the same alert is emailed at most once per clock hour however often its cause repeats
(a job that fails every minute mails once an hour; the daily backup or verification that fails every
run mails once a day, each day). A different message is a different alert. Callers with an identity
of their own pass `dedupe_key` instead (login lockouts: the UTC hour, whichever account or IP; an
overdue data-subject request: its id and the UTC day), which replaces message and hour: the first
lockout of an hour is notified, one notification a day per overdue request. Lines 1 and 2 are not
deduplicated: the log and Sentry (which groups repeats) keep every occurrence.

Follow-ups: `audit_alert_notify` is step 3 alone, for a notification about occurrences the log and Sentry
have already seen (the hourly summary of the lockouts after the first, `audit.lockout_alerts`);
`audit_alerts_notified` tells a periodic job which of its dedupe keys were already notified, so a rerun
or a late run neither builds nor sends them again.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone

from tourbrain_support.notifications.builders import email_item, slack_enabled, slack_item
from tourbrain_support.notifications.models import OutboxMessage
from tourbrain_support.notifications.outbox import OutboxItem, outbox_enqueue_many
from tourbrain_support.roles import Role

alert_logger = logging.getLogger("audit.alerts")  # one ERROR line per alert, nothing else
# Trouble while alerting: a WARNING elsewhere, so the alert stream (and Sentry) is not doubled by it.
logger = logging.getLogger("audit.alerting")
# Audit alerts are posted to the team's alerts channel (SLACK_WEBHOOKS; the default webhook when it has none).
ALERTS_SLACK_CHANNEL = "alerts"

# Listed values in the email body; the rest are counted.
DETAIL_ITEMS = 20
SUBJECT_PREFIX = "[TourBrain alert]"


class AlertKind:
    """The alerts raised today (free text in the outbox payload and on Sentry: a new kind needs nothing else)."""

    AUDIT_VERIFY_FAILED = "audit.verify_failed"
    BACKUP_FAILED = "backup.failed"
    BACKUP_VERIFY_FAILED = "backup.verify_failed"
    RESTORE_DRILL_FAILED = "backup.drill_failed"
    RESTORE_DRILL_OVER_RTO = "backup.drill_over_rto"
    LOGIN_LOCKOUT = "security.lockout"
    LOGIN_LOCKOUT_SUMMARY = "security.lockout_summary"
    GDPR_REQUEST_OVERDUE = "gdpr.request_overdue"


# Where on the portal to look, by the kind's first part.
_PAGES = {"audit": "/audit/", "backup": "/audit/backups/", "security": "/audit/security/", "gdpr": "/audit/gdpr/"}


def audit_alert_raise(
    *,
    kind: str,
    message: str,
    details: dict[str, Any] | None = None,
    dedupe_key: str | None = None,
    now: datetime | None = None,
) -> list[OutboxMessage]:
    """Log, report to Sentry and notify admins and auditors; returns the outbox rows written (none when deduplicated
    or when writing them failed). Never raises."""
    details = details or {}
    now = now or timezone.now()
    alert_logger.error(message, extra={"alert_kind": kind, "alert_details": details})
    _sentry_capture(kind=kind, message=message, details=details)
    return audit_alert_notify(kind=kind, message=message, details=details, dedupe_key=dedupe_key, now=now)


def audit_alert_notify(
    *,
    kind: str,
    message: str,
    details: dict[str, Any] | None = None,
    dedupe_key: str | None = None,
    now: datetime | None = None,
) -> list[OutboxMessage]:
    """Step 3 alone (no log line, no Sentry message): for a follow-up about occurrences already logged and
    reported. Returns the outbox rows written; never raises."""
    details = details or {}
    now = now or timezone.now()
    try:
        # Its own transaction, or a savepoint in the caller's: a failure here undoes only these rows.
        with transaction.atomic():
            return outbox_enqueue_many(
                _items(kind=kind, message=message, details=details, dedupe_key=dedupe_key, now=now)
            )
    except Exception:
        logger.warning("audit alert %s: notifications not written", kind, exc_info=True)
        return []


def _sentry_capture(*, kind: str, message: str, details: dict[str, Any]) -> None:
    try:
        import sentry_sdk

        with sentry_sdk.new_scope() as scope:
            scope.set_tag("alert_kind", kind)
            scope.set_context("alert", dict(details))
            sentry_sdk.capture_message(message, level="error")
    except Exception:  # reporting the alert must not raise into the job that failed
        logger.warning("audit alert %s: could not send the Sentry message", kind, exc_info=True)


def alert_recipients():
    """Active admins and auditors with an email address (the people who own the audit trail)."""
    return (
        get_user_model()
        .objects.filter(is_active=True, groups__name__in=[Role.ADMIN, Role.AUDITOR])
        .exclude(email="")
        .distinct()
        .order_by("pk")
    )


def alert_dedupe_key(*, kind: str, message: str, now: datetime) -> str:
    """Kind, message digest and UTC clock hour: the same alert is notified at most once per hour."""
    digest = hashlib.sha256(f"{kind}\n{message}".encode()).hexdigest()[:16]
    return f"{digest}:{now.astimezone(UTC):%Y%m%dT%H}"


def audit_alerts_notified(*, kind: str, dedupe_keys: Iterable[str]) -> set[str]:
    """The dedupe keys among these whose notification was already written (to any of today's recipients,
    the support mailbox or Slack). Two queries however many keys."""
    prefixes = {_notification_key(kind=kind, instance=key): key for key in dedupe_keys}
    if not prefixes:
        return set()
    suffixes = [str(pk) for pk in alert_recipients().values_list("pk", flat=True)] + ["support", "slack"]
    keys = [f"{prefix}:{suffix}" for prefix in prefixes for suffix in suffixes]
    written = OutboxMessage.objects.filter(idempotency_key__in=keys).values_list("idempotency_key", flat=True)
    return {prefixes[key.rsplit(":", 1)[0]] for key in written}


def _notification_key(*, kind: str, instance: str) -> str:
    # The rows' idempotency keys are this plus ":<user id>", ":support" or ":slack".
    return f"{OutboxMessage.Kind.AUDIT_ALERT}:{kind[:64]}:{instance[:100]}"


def _items(
    *, kind: str, message: str, details: dict[str, Any], dedupe_key: str | None, now: datetime
) -> list[OutboxItem]:
    instance = dedupe_key or alert_dedupe_key(kind=kind, message=message, now=now)
    key = _notification_key(kind=kind, instance=instance)
    headline = " ".join(message.split())
    subject = f"{SUBJECT_PREFIX} {headline}"
    body = _body(kind=kind, message=message, details=details, now=now)
    people = list(alert_recipients())
    items = [
        email_item(OutboxMessage.Kind.AUDIT_ALERT, f"{key}:{person.pk}", person, subject, body) for person in people
    ]
    if not people:
        # Nobody holds the admin or auditor role yet: the support mailbox rather than no one.
        items.append(
            OutboxItem(
                kind=OutboxMessage.Kind.AUDIT_ALERT,
                channel=OutboxMessage.Channel.EMAIL,
                recipient=settings.SUPPORT_EMAIL,
                subject=subject,
                body=body,
                idempotency_key=f"{key}:support",
                payload={"alert": kind},
            )
        )
    if slack_enabled(ALERTS_SLACK_CHANNEL):
        slack_body = f"Alert `{kind}`. Look at {_page(kind)}"
        items.append(
            slack_item(
                OutboxMessage.Kind.AUDIT_ALERT,
                f"{key}:slack",
                subject,
                slack_body,
                {"alert": kind},
                channel=ALERTS_SLACK_CHANNEL,
            )
        )
    return items


def _page(kind: str) -> str:
    return f"{settings.SITE_URL}{_PAGES.get(kind.split('.')[0], '/audit/')}"


def _body(*, kind: str, message: str, details: dict[str, Any], now: datetime) -> str:
    lines = [message, "", f"Alert:  {kind}", f"Raised: {now.astimezone(UTC):%Y-%m-%d %H:%M:%S} UTC"]
    for name, value in details.items():
        if isinstance(value, list | tuple):
            lines.append(f"{name}:")
            lines += [f"  - {_text(item)}" for item in value[:DETAIL_ITEMS]]
            if len(value) > DETAIL_ITEMS:
                lines.append(f"  … and {len(value) - DETAIL_ITEMS} more")
        else:
            lines.append(f"{name}: {_text(value)}")
    lines += ["", f"Look at: {_page(kind)}", "", "— TourBrain Support"]
    return "\n".join(lines)


def _text(value: Any) -> str:
    return value if isinstance(value, str) else str(value)
