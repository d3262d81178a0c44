"""Customer-side ticket writes (widget API and portal): file a ticket, rate it, mark staff replies seen.

Replies go through `services.ticket_reply` (it reopens a solved ticket within the reopen window).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from contextlib import nullcontext
from datetime import datetime
from typing import Any

from django.db import connection, transaction
from django.utils import timezone

from tickets import customer_selectors, services
from tickets.models import SLAPolicy, Ticket, TicketIdempotencyKey, TicketSatisfaction
from tourbrain_support.api import ApplicationError
from tourbrain_support.models import Organization, User

SUBJECT_FROM_DESCRIPTION_LENGTH = 80
# Body of the message that carries the files sent with a new ticket (the description stays on the ticket).
ATTACHMENTS_MESSAGE = "Files attached when the ticket was filed."


def subject_from_description(description: str) -> str:
    """The first line of the description, whitespace collapsed, cut at a word near 80 characters."""
    first_line = next((line for line in description.splitlines() if line.strip()), "")
    text = re.sub(r"\s+", " ", first_line).strip()
    if len(text) <= SUBJECT_FROM_DESCRIPTION_LENGTH:
        return text
    cut = text[: SUBJECT_FROM_DESCRIPTION_LENGTH - 1]
    if " " in cut[40:]:
        cut = cut[: cut.rindex(" ")]
    return cut.rstrip(" ,.;:-") + "…"


def customer_ticket_text(*, description: str, subject: str = "", reproduction_steps: str = "") -> tuple[str, str, str]:
    """The description (required), the subject (the description's first line when none) and the steps, trimmed:
    what a customer's ticket is filed with, from the widget or the portal, now or later (`tickets.intake`)."""
    description = (description or "").strip()
    if not description:
        raise ApplicationError("The description is required.", code="required", fields={"description": ["Required."]})
    subject = (subject or "").strip() or subject_from_description(description)
    return description, subject, (reproduction_steps or "").strip()


def ticket_submit(
    *,
    requester: User,
    organization: Organization | None,
    type: str,
    priority: str,
    description: str,
    subject: str = "",
    reproduction_steps: str = "",
    browser_info: str = "",
    url: str = "",
    channel: str,
    attachments: Sequence[Any] = (),
    ticket_id: int | None = None,
    created_at: datetime | None = None,
    tier: str | None = None,
    sla_policy: SLAPolicy | None = None,
) -> Ticket:
    """A customer files a ticket (widget, portal). The subject defaults to the description's first line;
    files go on a first public message. Everything is checked before anything is written.

    `ticket_id`, `created_at`, `tier` and `sla_policy` file a ticket accepted earlier with the id, instant
    and promise it was given (`tickets.intake`)."""
    description, subject, reproduction_steps = customer_ticket_text(
        description=description, subject=subject, reproduction_steps=reproduction_steps
    )
    services._validate_attachments(attachments)
    # `ticket_create` is atomic itself; files need one transaction around both (no savepoint round trips else).
    with transaction.atomic() if attachments else nullcontext():
        ticket = services.ticket_create(
            requester=requester,
            organization=organization,
            type=type,
            priority=priority,
            subject=subject,
            description=description,
            reproduction_steps=reproduction_steps,
            browser_info=browser_info,
            url=url,
            channel=channel,
            actor=requester,
            ticket_id=ticket_id,
            created_at=created_at,
            tier=tier,
            sla_policy=sla_policy,
        )
        if attachments:
            services._add_message(
                ticket=ticket,
                author=requester,
                body=ATTACHMENTS_MESSAGE,
                internal=False,
                staff=False,
                attachments=attachments,
                now=ticket.created_at,
            )
    return ticket


@transaction.atomic
def ticket_rate(*, ticket: Ticket, actor: User, score: int, comment: str = "") -> TicketSatisfaction:
    """The customer rates a solved (or closed) ticket 1-5: once per solve, changeable for 7 days; audited.
    A rating of 1-2 emails the team lead."""
    if isinstance(score, bool) or not isinstance(score, int) or not 1 <= score <= 5:
        message = "A whole number from 1 to 5."
        raise ApplicationError("The score must be from 1 to 5.", code="invalid", fields={"score": [message]})
    comment = services._check_text(comment, "comment", max_length=5000, required=False)
    if not services._is_customer_of(ticket, actor) or services._is_staff(actor):
        raise ApplicationError("Only the ticket's customer may rate it.", code="forbidden", status=403)
    # The ticket row is the lock: two first ratings at once cannot both insert.
    ticket = Ticket.objects.select_for_update(of=("self",)).select_related("satisfaction").get(pk=ticket.pk)
    refusal = customer_selectors.rating_refusal(ticket)
    if refusal is not None:
        code, message = refusal
        raise ApplicationError(message, code=code, status=409)
    now = timezone.now()
    rating = customer_selectors.ticket_rating(ticket)
    previous = None
    if rating is None:
        rating = TicketSatisfaction(ticket=ticket, created_at=now)
    elif rating.solved_at != ticket.solved_at:
        rating.created_at = now  # a new solve: a new rating, with its own change window
    else:
        previous = rating.score
    rating.score = score
    rating.comment = comment
    rating.rated_by = actor
    rating.solved_at = ticket.solved_at
    rating.updated_at = now
    rating.save()
    services._audit(
        actor, "rate", ticket, {"score": [previous, score] if previous is not None else score, "rating": rating.pk}
    )
    from tickets.surveys import notify_low_rating  # surveys builds on this module

    notify_low_rating(ticket, rating)  # 1-2: the team lead hears of it, once per solve
    return rating


def ticket_mark_seen(*, ticket: Ticket, user: User, now: datetime | None = None) -> bool:
    """The requester has seen the conversation: staff replies up to now are no longer unread.

    A read receipt, not a change to the ticket: no version bump, no history row, no audit event.
    Only the requester's own viewing counts (an organization admin looking does not mark it read).
    """
    if ticket.user_id != user.pk:
        return False
    now = now or timezone.now()
    Ticket.objects.filter(pk=ticket.pk).update(requester_last_seen_at=now)
    ticket.requester_last_seen_at = now
    return True


# One statement claims the key; a conflicting row (an earlier request's) is read afterwards.
_CLAIM_KEY_SQL = """
INSERT INTO tickets_ticketidempotencykey (user_id, key, request_digest, response_status, response_body, created_at)
VALUES (%s, %s, %s, 0, '{}', %s)
ON CONFLICT (user_id, key) DO NOTHING
RETURNING id
"""


def idempotency_key_claim(*, user: User, key: str, request_digest: str) -> tuple[TicketIdempotencyKey, bool]:
    """Claim a client's Idempotency-Key inside the caller's transaction, in one statement (no savepoint).

    Returns (row, True) for a new key: the caller does the work and stores its answer with
    `idempotency_key_answer` before committing. Returns (the earlier request's row, False) otherwise; a
    request still holding the key makes this wait on the unique constraint until it commits (then its
    answer is complete) or rolls back (then this request claims the key).
    """
    if not connection.in_atomic_block:
        raise RuntimeError("idempotency_key_claim must run inside the transaction that does the work")
    now = timezone.now()
    with connection.cursor() as cursor:
        cursor.execute(_CLAIM_KEY_SQL, [user.pk, key, request_digest, now])
        row = cursor.fetchone()
    if row is not None:
        record = TicketIdempotencyKey(id=row[0], user=user, key=key, request_digest=request_digest, created_at=now)
        return record, True
    return TicketIdempotencyKey.objects.get(user=user, key=key), False


_ANSWER_KEY_SQL = """
UPDATE tickets_ticketidempotencykey SET ticket_id = %s, response_status = %s, response_body = %s WHERE id = %s
"""


def idempotency_key_answer(*, record: TicketIdempotencyKey, ticket: Ticket | None, status: int, body: dict) -> None:
    """Store the answer a claimed key's retries will get (same transaction as the work)."""
    record.ticket = ticket  # None for a widget ticket accepted for filing later (`tickets.intake`)
    record.response_status = status
    record.response_body = body
    # Raw UPDATE (the ORM's compilation would cost more than the statement); the field encodes the JSON.
    encoded = TicketIdempotencyKey._meta.get_field("response_body").get_db_prep_save(body, connection)
    with connection.cursor() as cursor:
        cursor.execute(_ANSWER_KEY_SQL, [ticket.pk if ticket else None, status, encoded, record.pk])
