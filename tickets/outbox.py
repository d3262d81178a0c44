"""Outbox services: enqueue a notification with its cause, deliver it once, retry with backoff.

Enqueue inserts the row in the caller's transaction and schedules a delivery task after commit; a broker
that is down only delays delivery (the periodic `deliver_pending_outbox` takes every due row), it never
fails the caller. Delivery claims a row with one conditional UPDATE, so two workers never both send it;
the claim is a lease (`next_attempt_at` moves to now + lease), so a worker that died mid-send leaves a
row that is taken over once the lease expires. The result is written only by the holder of the claim
(the attempt number is the fencing token).

Channels: email through Django's email backend (`EMAIL_URL`; text attachments such as a calendar invite),
Slack through an incoming webhook (`SLACK_WEBHOOK_URL`, or a beta organization's own webhook for the
target `beta:<profile id>`). A transient failure (network, SMTP 4xx, HTTP 5xx or 429) is retried with
exponential backoff and jitter up to `OUTBOX_MAX_ATTEMPTS`; a permanent one (SMTP 5xx, HTTP 4xx) fails
the row at once.
"""

from __future__ import annotations

import json
import logging
import random
import smtplib
import urllib.error
import urllib.request
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.mail import EmailMultiAlternatives, get_connection
from django.core.mail.backends.smtp import EmailBackend as SMTPEmailBackend
from django.db import connection, transaction
from django.db.models import F, Q
from django.utils import timezone

from audit.gdpr import transfer_record
from audit.services import audit_record
from tickets.models import BetaSupportProfile, OutboxMessage
from tourbrain_support.broker import publish

logger = logging.getLogger(__name__)

PROVIDER_RESPONSE_LIMIT = 2000
ERROR_LIMIT = 2000
SLACK_DEFAULT_TARGET = "default"
SLACK_BETA_PREFIX = "beta:"


@dataclass(frozen=True)
class OutboxItem:
    """One message for `outbox_enqueue_many` (same fields as `outbox_enqueue`)."""

    kind: str
    channel: str
    recipient: str
    subject: str
    body: str
    idempotency_key: str
    payload: dict[str, Any] = field(default_factory=dict)
    html_body: str = ""
    # Email only: ({"filename", "content_type", "content"}, ...) with text content (a calendar invite).
    attachments: tuple[dict[str, str], ...] = ()


class DeliveryError(Exception):
    """A failed send; `permanent` ones are not retried."""

    def __init__(self, message: str, *, permanent: bool = False, retry_after: float | None = None, response: str = ""):
        super().__init__(message)
        self.permanent = permanent
        self.retry_after = retry_after
        self.response = response


# --- enqueue -----------------------------------------------------------------------------------------


def outbox_enqueue(
    *,
    kind: str,
    channel: str,
    recipient: str,
    subject: str,
    body: str,
    idempotency_key: str,
    payload: dict[str, Any] | None = None,
    html_body: str = "",
    attachments: tuple[dict[str, str], ...] = (),
) -> OutboxMessage | None:
    """Write one message in the current transaction; deliver it after commit.

    Returns the new row, or None when a row with this idempotency key already exists (nothing is sent twice).
    """
    item = OutboxItem(
        kind=kind,
        channel=channel,
        recipient=recipient,
        subject=subject,
        body=body,
        idempotency_key=idempotency_key,
        payload=payload or {},
        html_body=html_body,
        attachments=attachments,
    )
    created = outbox_enqueue_many([item])
    return created[0] if created else None


def outbox_enqueue_many(items: Iterable[OutboxItem]) -> list[OutboxMessage]:
    """Bulk-insert messages in the current transaction, skipping keys that already exist; one on_commit for all.

    Returns the rows actually inserted (their ids are loaded back by key, which works on every backend).
    """
    items = list({item.idempotency_key: item for item in items}.values())
    if not items:
        return []
    _validate(items)
    keys = [item.idempotency_key for item in items]
    with transaction.atomic():
        existing = set(OutboxMessage.objects.filter(idempotency_key__in=keys).values_list("idempotency_key", flat=True))
        fresh = [item for item in items if item.idempotency_key not in existing]
        if not fresh:
            return []
        now = timezone.now()
        # ignore_conflicts: a concurrent writer may insert the same key between the check and the insert.
        OutboxMessage.objects.bulk_create(
            [
                OutboxMessage(
                    kind=item.kind,
                    channel=item.channel,
                    recipient=item.recipient,
                    # Header-safe: a line break in a subject would be refused by the mail backend on every try.
                    subject=" ".join(item.subject.split())[:255],
                    body=item.body,
                    html_body=item.html_body,
                    payload=item.payload,
                    attachments=[dict(attachment) for attachment in item.attachments],
                    idempotency_key=item.idempotency_key,
                    next_attempt_at=now,
                    created_at=now,
                )
                for item in fresh
            ],
            ignore_conflicts=True,
        )
        # Rows inserted by this call: the fresh keys whose row carries this call's timestamp.
        created = list(
            OutboxMessage.objects.filter(idempotency_key__in=[item.idempotency_key for item in fresh], created_at=now)
        )
    ids = [message.pk for message in created]
    if ids:
        transaction.on_commit(lambda: _schedule_delivery(ids))
    return created


def _validate(items: list[OutboxItem]) -> None:
    channels = set(OutboxMessage.Channel.values)
    for item in items:
        if item.channel not in channels:
            raise ValueError(f"Unknown outbox channel {item.channel!r}.")
        if not item.recipient or not item.idempotency_key:
            raise ValueError("An outbox message needs a recipient and an idempotency key.")
        if item.attachments and item.channel != OutboxMessage.Channel.EMAIL:
            raise ValueError("Only email messages carry attachments.")
        for attachment in item.attachments:
            if not {"filename", "content_type", "content"} <= set(attachment):
                raise ValueError("An attachment needs a filename, a content type and its (text) content.")


def _schedule_delivery(ids: list[int]) -> None:
    """Hand new rows to delivery tasks; a broker that is down is logged, not raised (the periodic task delivers).

    One task per message, or per chunk of a large batch (a sweep's thousand rows are twenty publishes, and
    each chunk reuses one SMTP connection), so several workers share a burst. Publishing makes one attempt
    and pauses after a failure (`tourbrain_support.broker.publish`), so a write never waits on the broker.
    """
    from tickets.tasks import deliver_outbox_message, deliver_outbox_messages

    chunk = settings.OUTBOX_TASK_CHUNK
    for start in range(0, len(ids), chunk):
        part = ids[start : start + chunk]
        if len(part) == 1:
            published = publish(deliver_outbox_message, part[0])
        else:
            published = publish(deliver_outbox_messages, part)
        if not published:
            # The broker's failure itself is logged once per pause, as a warning, by publish().
            logger.info(
                "outbox: broker unavailable, message left for the periodic delivery",
                extra={"outbox_message_ids": ids},
            )
            return


# --- claim -------------------------------------------------------------------------------------------


def _lease_expiry(now: datetime) -> datetime:
    return now + timedelta(seconds=settings.OUTBOX_LEASE_SECONDS)


def _due(now: datetime) -> Q:
    # Pending and due, or being sent by someone whose lease has expired.
    return Q(status__in=[OutboxMessage.Status.PENDING, OutboxMessage.Status.SENDING], next_attempt_at__lte=now)


def outbox_claim(message_id: int) -> OutboxMessage | None:
    """Take one due row for sending (conditional UPDATE: at most one caller wins). None when not due or taken."""
    now = timezone.now()
    claimed = (
        OutboxMessage.objects.filter(_due(now), pk=message_id)
        .filter(attempts__lt=settings.OUTBOX_MAX_ATTEMPTS)
        .update(
            status=OutboxMessage.Status.SENDING,
            attempts=F("attempts") + 1,
            next_attempt_at=_lease_expiry(now),
            updated_at=now,
        )
    )
    if not claimed:
        return None
    return OutboxMessage.objects.get(pk=message_id)


def outbox_claim_due(*, limit: int, ids: list[int] | None = None) -> list[OutboxMessage]:
    """Take up to `limit` due rows (oldest due first; only `ids` when given) in one statement.

    Concurrent callers get disjoint sets: PostgreSQL skips rows another claim has locked, SQLite runs
    one writing statement at a time.
    """
    now = timezone.now()
    table = OutboxMessage._meta.db_table
    lock = " FOR UPDATE SKIP LOCKED" if connection.vendor == "postgresql" else ""
    only = f" AND id IN ({', '.join(['%s'] * len(ids))})" if ids else ""
    # One UPDATE ... RETURNING (PostgreSQL, SQLite >= 3.35): the claim and the read are the same statement.
    sql = (
        f"UPDATE {table} SET status = %s, attempts = attempts + 1, next_attempt_at = %s, updated_at = %s "  # noqa: S608
        f"WHERE id IN (SELECT id FROM {table} WHERE status IN (%s, %s) AND next_attempt_at <= %s "
        f"AND attempts < %s{only} ORDER BY next_attempt_at LIMIT %s{lock}) RETURNING id"
    )
    params = [
        OutboxMessage.Status.SENDING,
        _lease_expiry(now),
        now,
        OutboxMessage.Status.PENDING,
        OutboxMessage.Status.SENDING,
        now,
        settings.OUTBOX_MAX_ATTEMPTS,
        *(ids or []),
        limit,
    ]
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(sql, params)
        ids = [row[0] for row in cursor.fetchall()]
    return list(OutboxMessage.objects.filter(pk__in=ids).order_by("next_attempt_at", "pk"))


def outbox_fail_exhausted() -> int:
    """Rows whose last lease expired with no attempts left (the worker died on the final try) become failed."""
    now = timezone.now()
    return (
        OutboxMessage.objects.filter(_due(now), attempts__gte=settings.OUTBOX_MAX_ATTEMPTS)
        .exclude(status=OutboxMessage.Status.SENT)
        .update(
            status=OutboxMessage.Status.FAILED,
            last_error="Gave up: the last attempt did not report back before its lease expired.",
            updated_at=now,
        )
    )


# --- deliver -----------------------------------------------------------------------------------------


def outbox_deliver(message_id: int) -> OutboxMessage | None:
    """Deliver one message if it is due and nobody else holds it; a no-op for sent, failed or claimed rows."""
    message = outbox_claim(message_id)
    if message is None:
        return None
    with _Senders() as senders:
        return _attempt(message, senders)


def outbox_deliver_many(message_ids: list[int]) -> dict[str, int]:
    """Deliver the given messages that are due and free, over one SMTP connection (a chunk of a burst)."""
    return _deliver(outbox_claim_due(limit=len(message_ids), ids=message_ids)) if message_ids else _counts()


def _counts() -> dict[str, int]:
    return {"sent": 0, "retry": 0, "failed": 0}


def _deliver(batch: list[OutboxMessage], counts: dict[str, int] | None = None) -> dict[str, int]:
    counts = counts if counts is not None else _counts()
    with _Senders() as senders:
        for index, message in enumerate(batch):
            # A slow provider can eat a batch's lease; hand back what is left rather than race a takeover.
            if timezone.now() + timedelta(seconds=2 * settings.OUTBOX_SEND_TIMEOUT) >= message.next_attempt_at:
                counts["released"] = counts.get("released", 0) + _release(batch[index:])
                break
            result = _attempt(message, senders)
            if result is not None:
                counts[{"sent": "sent", "failed": "failed"}.get(result.status, "retry")] += 1
    return counts


def _release(messages: list[OutboxMessage]) -> int:
    """Give claimed but unsent rows back: pending, due now, the claim's attempt not counted."""
    now = timezone.now()
    released = 0
    for message in messages:
        released += OutboxMessage.objects.filter(
            pk=message.pk, status=OutboxMessage.Status.SENDING, attempts=message.attempts
        ).update(status=OutboxMessage.Status.PENDING, attempts=F("attempts") - 1, next_attempt_at=now, updated_at=now)
    if released:
        logger.warning("outbox: lease running out, released unsent messages", extra={"released": released})
    return released


def outbox_deliver_due(*, batch_size: int = 50, max_batches: int = 20) -> dict[str, int]:
    """Deliver every due row (the periodic safety net), batch by batch; one SMTP connection per batch."""
    counts = _counts()
    counts["failed"] += outbox_fail_exhausted()
    for _ in range(max_batches):
        batch = outbox_claim_due(limit=batch_size)
        if not batch:
            break
        _deliver(batch, counts)
        if len(batch) < batch_size:
            break
    return counts


@transaction.atomic
def outbox_retry_now(*, message_ids: Iterable[int], actor: Any | None = None, request: Any | None = None) -> int:
    """Make failed or waiting rows due again now with a fresh attempt budget (the admin's "retry now"); audited."""
    now = timezone.now()
    retry = OutboxMessage.objects.filter(
        pk__in=list(message_ids), status__in=[OutboxMessage.Status.PENDING, OutboxMessage.Status.FAILED]
    )
    ids = list(retry.select_for_update().values_list("pk", flat=True))
    if not ids:
        return 0
    OutboxMessage.objects.filter(pk__in=ids).update(
        status=OutboxMessage.Status.PENDING, attempts=0, next_attempt_at=now, updated_at=now
    )
    audit_record(
        actor=actor,
        action="update",
        resource_type="outbox_message",
        resource_id=ids[0] if len(ids) == 1 else None,
        changes={"operation": "retry_now", "messages": ids},
        request=request,
    )
    transaction.on_commit(lambda: _schedule_delivery(ids))
    return len(ids)


def retry_delay(attempts: int, *, retry_after: float | None = None) -> float:
    """Seconds before the next attempt: exponential in the attempts made, capped, with jitter (half to full)."""
    base = settings.OUTBOX_RETRY_BASE_SECONDS * (2 ** max(attempts - 1, 0))
    delay = min(base, settings.OUTBOX_RETRY_MAX_SECONDS)
    # Jitter spreads retries of a burst that failed together (e.g. Slack was down for everyone).
    delay = delay / 2 + random.uniform(0, delay / 2)  # noqa: S311 - not security relevant
    if retry_after is not None:
        delay = max(delay, min(retry_after, settings.OUTBOX_RETRY_MAX_SECONDS))
    return delay


def _attempt(message: OutboxMessage, senders: _Senders) -> OutboxMessage | None:
    """Send a claimed row and record the outcome under the claim (attempt number as fencing token)."""
    try:
        response = senders.send(message)
    except DeliveryError as error:
        return _record_failure(message, error)
    except Exception as error:  # an unexpected bug in a channel must not leave the row in `sending`
        logger.exception("outbox: unexpected error delivering message", extra={"outbox_message_id": message.pk})
        return _record_failure(message, DeliveryError(f"{type(error).__name__}: {error}"))
    now = timezone.now()
    changes = {
        "status": OutboxMessage.Status.SENT,
        "sent_at": now,
        "provider_response": response[:PROVIDER_RESPONSE_LIMIT],
        "last_error": "",
        "updated_at": now,
    }
    updated = OutboxMessage.objects.filter(
        pk=message.pk, status=OutboxMessage.Status.SENDING, attempts=message.attempts
    ).update(**changes)
    if not updated:
        logger.warning("outbox: claim lost before the result was recorded", extra={"outbox_message_id": message.pk})
        return None
    _record_transfer(message)
    logger.info(
        "outbox: message sent",
        extra={"outbox_message_id": message.pk, "kind": message.kind, "channel": message.channel},
    )
    return _with(message, changes)


def _record_transfer(message: OutboxMessage) -> None:
    """Log the delivery in the GDPR transfer log when the channel's processor is abroad."""
    processor = settings.CROSS_BORDER_PROCESSORS.get(message.channel) or {}
    if not processor.get("country"):
        return
    transfer_record(
        recipient=processor["recipient"],
        country=processor["country"],
        legal_basis=processor["legal_basis"],
        data_categories=["contact", "ticket_content"],
        purpose=f"notification {message.kind}",
        reference=f"outbox:{message.pk}",
    )


def _with(message: OutboxMessage, changes: dict[str, Any]) -> OutboxMessage:
    # The row as written, without reading it back.
    for name, value in changes.items():
        setattr(message, name, value)
    return message


def _record_failure(message: OutboxMessage, error: DeliveryError) -> OutboxMessage | None:
    now = timezone.now()
    final = error.permanent or message.attempts >= settings.OUTBOX_MAX_ATTEMPTS
    changes: dict[str, Any] = {
        "last_error": str(error)[:ERROR_LIMIT],
        "provider_response": error.response[:PROVIDER_RESPONSE_LIMIT],
        "updated_at": now,
    }
    if final:
        changes["status"] = OutboxMessage.Status.FAILED
    else:
        changes["status"] = OutboxMessage.Status.PENDING
        changes["next_attempt_at"] = now + timedelta(
            seconds=retry_delay(message.attempts, retry_after=error.retry_after)
        )
    updated = OutboxMessage.objects.filter(
        pk=message.pk, status=OutboxMessage.Status.SENDING, attempts=message.attempts
    ).update(**changes)
    log = logger.error if final else logger.warning
    log(
        "outbox: delivery failed" + (" for good" if final else ", will retry"),
        extra={"outbox_message_id": message.pk, "attempts": message.attempts, "error": str(error)[:300]},
    )
    if not updated:
        return None
    return _with(message, changes)


# --- channels ----------------------------------------------------------------------------------------


class _Senders:
    """Per-batch channel state: one email connection opened on first use and closed at the end."""

    def __init__(self) -> None:
        self._email_connection = None

    def __enter__(self) -> _Senders:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._close_email()

    def send(self, message: OutboxMessage) -> str:
        if message.channel == OutboxMessage.Channel.EMAIL:
            return self._send_email(message)
        if message.channel == OutboxMessage.Channel.SLACK:
            return _send_slack(message)
        raise DeliveryError(f"Unknown channel {message.channel!r}.", permanent=True)

    def _close_email(self) -> None:
        if self._email_connection is not None:
            try:
                self._email_connection.close()
            except Exception:  # closing a broken SMTP session is best effort
                logger.debug("outbox: error closing the email connection", exc_info=True)
            self._email_connection = None

    def _send_email(self, message: OutboxMessage) -> str:
        email = EmailMultiAlternatives(
            subject=message.subject,
            body=message.body,
            from_email=settings.DEFAULT_FROM_EMAIL,
            to=[message.recipient],
            # Customer mail carries its threading headers (Message-ID, In-Reply-To, References, Reply-To).
            headers={
                "X-TourBrain-Notification": message.kind,
                "X-TourBrain-Outbox-Key": message.idempotency_key,
                **(message.payload or {}).get("email_headers", {}),
            },
        )
        if message.html_body:
            email.attach_alternative(message.html_body, "text/html")
        for attachment in message.attachments or []:
            email.attach(attachment["filename"], attachment["content"], attachment["content_type"])
        try:
            if self._email_connection is None:
                options = {} if settings.EMAIL_TIMEOUT else {"timeout": settings.OUTBOX_SEND_TIMEOUT}
                self._email_connection = get_connection(fail_silently=False, **options)
                self._email_connection.open()
            with _smtp_data_reply(self._email_connection) as reply:
                sent = self._email_connection.send_messages([email])
        except smtplib.SMTPRecipientsRefused as error:
            self._close_email()
            codes = [code for code, _text in error.recipients.values()]
            detail = "; ".join(f"{code} {_text(text)}" for code, text in error.recipients.values())
            raise DeliveryError(
                f"Recipient refused: {detail}", permanent=all(code >= 500 for code in codes), response=detail
            ) from error
        except smtplib.SMTPResponseException as error:
            self._close_email()
            detail = f"{error.smtp_code} {_text(error.smtp_error)}"
            raise DeliveryError(f"SMTP error: {detail}", permanent=error.smtp_code >= 500, response=detail) from error
        except (smtplib.SMTPException, OSError) as error:
            self._close_email()
            raise DeliveryError(f"SMTP unavailable: {type(error).__name__}: {error}") from error
        if not sent:
            raise DeliveryError("The email backend accepted no message.")
        if reply:
            return f"{reply[0]} {_text(reply[1])}"
        # Non-SMTP backends (console, locmem, file) give no server answer.
        return "250 accepted"


@contextmanager
def _smtp_data_reply(email_connection) -> Iterator[list]:
    """Capture the SMTP server's reply to DATA (smtplib's sendmail drops it) for the provider response."""
    reply: list = []
    smtp = getattr(email_connection, "connection", None)
    if not isinstance(email_connection, SMTPEmailBackend) or smtp is None:
        yield reply
        return
    original = smtp.data

    def data(msg):
        answer = original(msg)
        reply[:] = answer
        return answer

    smtp.data = data
    try:
        yield reply
    finally:
        smtp.data = original


def _text(value: bytes | str) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def slack_beta_target(profile_id: int) -> str:
    """The Slack target of a beta organization's own channel (its webhook is read when the message is sent)."""
    return f"{SLACK_BETA_PREFIX}{profile_id}"


def _slack_webhook_url(target: str) -> str:
    if target == SLACK_DEFAULT_TARGET and settings.SLACK_WEBHOOK_URL:
        return settings.SLACK_WEBHOOK_URL
    if target.startswith(SLACK_BETA_PREFIX) and target[len(SLACK_BETA_PREFIX) :].isdigit():
        # Read at send time: a webhook rotated by a lead applies to messages still waiting.
        url = (
            BetaSupportProfile.objects.filter(pk=int(target[len(SLACK_BETA_PREFIX) :]), is_active=True)
            .values_list("slack_webhook_url", flat=True)
            .first()
        )
        if url:
            return url
        raise DeliveryError(f"The beta profile of target {target!r} has no Slack webhook (or is off).", permanent=True)
    raise DeliveryError(f"No Slack webhook configured for target {target!r} (SLACK_WEBHOOK_URL).", permanent=True)


def _send_slack(message: OutboxMessage) -> str:
    url = _slack_webhook_url(message.recipient)
    if not url.startswith(("https://", "http://")):
        raise DeliveryError("SLACK_WEBHOOK_URL must be an http(s) URL.", permanent=True)
    text = f"*{message.subject}*\n{message.body}" if message.subject else message.body
    data = json.dumps({"text": text}).encode()
    request = urllib.request.Request(  # noqa: S310 - scheme checked above
        url, data=data, method="POST", headers={"Content-Type": "application/json; charset=utf-8"}
    )
    try:
        with urllib.request.urlopen(request, timeout=settings.OUTBOX_SEND_TIMEOUT) as response:  # noqa: S310
            body = response.read(PROVIDER_RESPONSE_LIMIT).decode("utf-8", "replace")
            return f"{response.status} {body}".strip()
    except urllib.error.HTTPError as error:
        body = error.read(PROVIDER_RESPONSE_LIMIT).decode("utf-8", "replace") if error.fp else ""
        answer = f"{error.code} {body}".strip()
        transient = error.code == 429 or error.code >= 500
        retry_after = _retry_after(error.headers.get("Retry-After")) if error.code == 429 else None
        raise DeliveryError(
            f"Slack answered {answer[:300]}", permanent=not transient, retry_after=retry_after, response=answer
        ) from error
    except OSError as error:  # URLError, timeouts and refused connections are all OSErrors
        raise DeliveryError(f"Slack unreachable: {error}") from error


def _retry_after(value: str | None) -> float | None:
    try:
        return max(float(value), 0.0) if value else None
    except ValueError:
        return None
