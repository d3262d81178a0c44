"""Outbox services: enqueue a notification with its cause, deliver it once, retry with backoff.

Enqueue inserts the row in the caller's transaction and schedules a delivery task after commit; a broker
that is down only delays delivery (the periodic `deliver_pending_outbox` takes every due row), it never
fails the caller. Delivery claims a row with one conditional UPDATE, so two workers never both send it;
the claim is a lease (`next_attempt_at` moves to now + lease), so a worker that died mid-send leaves a
row that is taken over once the lease expires. The result is written only by the holder of the claim
(the attempt number is the fencing token).

The channels (email, Slack) are in `tourbrain_support.notifications.channels`. A transient failure
(network, SMTP 4xx, HTTP 5xx or 429) is retried with exponential backoff and jitter up to
`OUTBOX_MAX_ATTEMPTS`; a permanent one (SMTP 5xx, HTTP 4xx) fails the row at once.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.db.models import F, Q
from django.utils import timezone

from tourbrain_support.broker import publish
from tourbrain_support.db import insert_new
from tourbrain_support.notifications.channels import PROVIDER_RESPONSE_LIMIT, DeliveryError, Senders
from tourbrain_support.notifications.models import OutboxMessage
from tourbrain_support.recorders import record_action, record_transfer

logger = logging.getLogger(__name__)

ERROR_LIMIT = 2000


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

    Returns the rows actually inserted (ids set by the insert itself).
    """
    items = list({item.idempotency_key: item for item in items}.values())
    if not items:
        return []
    _validate(items)
    now = timezone.now()
    # One statement: rows whose key exists (from an earlier call or a concurrent writer) are skipped, and the
    # inserted ones come back with their ids; no savepoint, no SELECT before or after.
    created = insert_new(
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
            for item in items
        ],
        key="idempotency_key",
    )
    ids = [message.pk for message in created]
    if ids:
        deferred = _deferred_ids.get()
        if deferred is not None:
            deferred.extend(ids)
        else:
            transaction.on_commit(lambda: _schedule_delivery(ids))
    return created


_deferred_ids: ContextVar[list[int] | None] = ContextVar("outbox_deferred_ids", default=None)


@contextmanager
def outbox_deferred_delivery() -> Iterator[None]:
    """Within (inside the caller's transaction), the rows written are handed to delivery together at commit,
    a task per OUTBOX_TASK_CHUNK rows, instead of one publish per write: a bulk intake writes hundreds."""
    ids: list[int] = []
    token = _deferred_ids.set(ids)
    try:
        yield
    finally:
        _deferred_ids.reset(token)
    if ids:  # not reached when the block raised: its rows roll back with the transaction
        transaction.on_commit(lambda: _schedule_delivery(ids))


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
    from tourbrain_support.notifications.tasks import deliver_outbox_message, deliver_outbox_messages

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
    with Senders() as senders, _SentResults() as sent:
        failure = _attempt(message, senders, sent)
    if failure is not None:
        return failure
    return sent.recorded[0] if sent.recorded else None


def outbox_deliver_many(message_ids: list[int]) -> dict[str, int]:
    """Deliver the given messages that are due and free, over one SMTP connection (a chunk of a burst)."""
    return _deliver(outbox_claim_due(limit=len(message_ids), ids=message_ids)) if message_ids else _counts()


def _counts() -> dict[str, int]:
    return {"sent": 0, "retry": 0, "failed": 0}


def _deliver(batch: list[OutboxMessage], counts: dict[str, int] | None = None) -> dict[str, int]:
    counts = counts if counts is not None else _counts()
    with Senders() as senders, _SentResults() as sent:
        for index, message in enumerate(batch):
            # A slow provider can eat a batch's lease; hand back what is left rather than race a takeover.
            if timezone.now() + timedelta(seconds=2 * settings.OUTBOX_SEND_TIMEOUT) >= message.next_attempt_at:
                counts["released"] = counts.get("released", 0) + _release(batch[index:])
                break
            failure = _attempt(message, senders, sent)
            if failure is not None:
                counts["failed" if failure.status == OutboxMessage.Status.FAILED else "retry"] += 1
    counts["sent"] += len(sent.recorded)
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
    record_action(
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


def _attempt(message: OutboxMessage, senders: Senders, sent: _SentResults) -> OutboxMessage | None:
    """Send a claimed row. A failure is recorded at once and returned; a success joins `sent` (recorded in groups)."""
    try:
        response = senders.send(message)
    except DeliveryError as error:
        return _record_failure(message, error)
    except Exception as error:  # an unexpected bug in a channel must not leave the row in `sending`
        logger.exception("outbox: unexpected error delivering message", extra={"outbox_message_id": message.pk})
        return _record_failure(message, DeliveryError(f"{type(error).__name__}: {error}"))
    sent.add(message, response)
    return None


class _SentResults:
    """Sent messages waiting to be marked sent: `OUTBOX_RECORD_GROUP` at a time (or what a second brought), in one
    statement per group, each row still updated only under its own claim (the attempt number fences a row another
    worker took over).

    The default group of 1 marks each message right after its send: a worker killed mid-batch leaves only the
    message it was sending to be sent again. A larger group is faster (one round trip and commit per group:
    201 against 56 emails/s in the outbox bench) but a worker killed between a send and its group's statement
    leaves up to a group of sent rows that go out again once their lease expires. Leaving the block records
    what is waiting, even on an error.
    """

    MAX_WAIT_SECONDS = 1.0

    def __init__(self) -> None:
        self.recorded: list[OutboxMessage] = []
        self._waiting: list[tuple[OutboxMessage, str]] = []
        self._oldest: float = 0.0

    def __enter__(self) -> _SentResults:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.flush()

    def add(self, message: OutboxMessage, response: str) -> None:
        if not self._waiting:
            self._oldest = time.monotonic()
        self._waiting.append((message, response))
        if (
            len(self._waiting) >= settings.OUTBOX_RECORD_GROUP
            or time.monotonic() - self._oldest >= self.MAX_WAIT_SECONDS
        ):
            self.flush()

    def flush(self) -> None:
        if not self._waiting:
            return
        waiting, self._waiting = self._waiting, []
        now = timezone.now()
        changes = {"status": OutboxMessage.Status.SENT, "sent_at": now, "last_error": "", "updated_at": now}
        responses = {message.pk: response[:PROVIDER_RESPONSE_LIMIT] for message, response in waiting}
        with transaction.atomic():
            marked = _mark_sent([(message.pk, message.attempts, responses[message.pk]) for message, _ in waiting], now)
            recorded = []
            for message, _response in waiting:
                if message.pk not in marked:
                    logger.warning(
                        "outbox: claim lost before the result was recorded", extra={"outbox_message_id": message.pk}
                    )
                    continue
                _record_transfer(message)
                recorded.append(_with(message, {**changes, "provider_response": responses[message.pk]}))
        for message in recorded:
            logger.info(
                "outbox: message sent",
                extra={"outbox_message_id": message.pk, "kind": message.kind, "channel": message.channel},
            )
        self.recorded.extend(recorded)


def _mark_sent(rows: list[tuple[int, int, str]], now: datetime) -> set[int]:
    """Mark (id, attempt, provider response) rows sent in one statement, each only under its own claim.

    Returns the ids updated; a row whose claim was taken over (another attempt number) is left alone.
    """
    table = OutboxMessage._meta.db_table
    values = ", ".join(["(%s, %s, %s)"] * len(rows))
    # A CTE of VALUES and UPDATE ... FROM ... RETURNING: PostgreSQL, and SQLite >= 3.35.
    sql = (
        f"WITH sent(id, attempts, response) AS (VALUES {values}) "  # noqa: S608
        f"UPDATE {table} SET status = %s, sent_at = %s, provider_response = sent.response, last_error = '', "
        f"updated_at = %s FROM sent WHERE {table}.id = sent.id AND {table}.status = %s "
        f"AND {table}.attempts = sent.attempts RETURNING {table}.id"
    )
    params = [value for row in rows for value in row]
    params += [OutboxMessage.Status.SENT, now, now, OutboxMessage.Status.SENDING]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return {row[0] for row in cursor.fetchall()}


def _record_transfer(message: OutboxMessage) -> None:
    """Log the delivery in the GDPR transfer log when the channel's processor is abroad."""
    processor = settings.CROSS_BORDER_PROCESSORS.get(message.channel) or {}
    if not processor.get("country"):
        return
    record_transfer(
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
