"""Email to customers about their tickets: acknowledgement, public staff replies, status changes.

Written as outbox rows in the caller's transaction (one row per event, keyed by it), so delivery, retries
and "never twice" are the outbox's. Every message gets its own `Message-ID`, recorded on the ticket
(`TicketEmail`) when it is enqueued, and `In-Reply-To`/`References` naming the earlier messages of the
conversation, so mail clients show one thread. `Reply-To` is the ticket's plus-address
(`SUPPORT_REPLY_TO_TEMPLATE`) and the subject carries the reference: a reply from any client comes back
to the right ticket. Internal notes never reach this module.

Nobody is written to who cannot or must not receive mail: no requester, an inactive (erased) user, an
address without a real domain (widget visitors without email get `...@customers.invalid`), or an address
that bounced.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.template.loader import render_to_string

from tickets.batch_scope import batch_known, batch_prime
from tickets.customer_selectors import ticket_first_response_promise
from tickets.models import BouncingAddress, Ticket, TicketEmail, TicketMessage
from tourbrain_support.models import User
from tourbrain_support.notifications.models import OutboxMessage
from tourbrain_support.notifications.outbox import OutboxItem, outbox_enqueue_many

Kind = OutboxMessage.Kind
# Status changes the customer hears about, with the sentence that tells them.
STATUS_MESSAGES = {
    Ticket.Status.PENDING: "We are waiting for your answer",
    Ticket.Status.SOLVED: "Your request is solved",
    Ticket.Status.CLOSED: "Your request is closed",
}
# References names the first message and the latest ones; long threads stay within header limits.
REFERENCES_KEPT = 10


def customer_recipient(ticket: Ticket) -> User | None:
    """The requester when mail may go to them, else None."""
    person = ticket.user
    if person is None or not person.is_active or not deliverable(person.email):
        return None
    # A bulk intake fetched this for every sender of its batch at once.
    bouncing = batch_known(("bouncing", person.email.lower()))
    if bouncing is None:
        bouncing = BouncingAddress.objects.filter(address__iexact=person.email).exists()
    if bouncing:
        return None
    return person


# RFC 2606 reserved names never receive mail (placeholder addresses of widget visitors, erased users).
UNDELIVERABLE_SUFFIXES = (".invalid", ".test", ".example", ".localhost")


def deliverable(address: str) -> bool:
    domain = address.rpartition("@")[2].lower()
    return bool(domain) and "." in domain and not domain.endswith(UNDELIVERABLE_SUFFIXES)


def reply_to_address(ticket: Ticket) -> str:
    return settings.SUPPORT_REPLY_TO_TEMPLATE.format(reference=ticket.reference)


def message_id_domain() -> str:
    return settings.SUPPORT_EMAIL.rpartition("@")[2] or "localhost"


def new_message_id(ticket: Ticket, event: str) -> str:
    return f"{ticket.reference}.{event}.{uuid.uuid4().hex[:16]}@{message_id_domain()}"


# --- entry points ------------------------------------------------------------------------------------


def notify_customer_ticket_created(ticket: Ticket) -> list[OutboxMessage]:
    """The acknowledgement: the reference, the first-response promise, how to reply."""
    person = customer_recipient(ticket)
    if person is None:
        return []
    context = _context(ticket, person) | {"promise": ticket_first_response_promise(ticket)}
    return _enqueue(
        ticket,
        person,
        kind=Kind.CUSTOMER_ACK,
        key=f"{Kind.CUSTOMER_ACK}:{ticket.pk}",
        subject=f"[{ticket.reference}] {ticket.subject}",
        template="customer_ack",
        context=context,
        automatic=True,
    )


def notify_customer_reply(ticket: Ticket, message: TicketMessage) -> list[OutboxMessage]:
    """A public staff reply, in full."""
    if message.is_internal or not message.is_from_staff:
        return []
    person = customer_recipient(ticket)
    if person is None:
        return []
    author = message.author
    context = _context(ticket, person) | {
        "reply": message.body,
        "author": (author.name or "TourBrain Support") if author is not None else "TourBrain Support",
        "attachments": [attachment.filename for attachment in message.attachments.all()],
    }
    return _enqueue(
        ticket,
        person,
        kind=Kind.CUSTOMER_REPLY,
        key=f"{Kind.CUSTOMER_REPLY}:{message.pk}",
        subject=f"Re: [{ticket.reference}] {ticket.subject}",
        template="customer_reply",
        context=context,
        automatic=False,
        ticket_message=message,
    )


def notify_customer_status(ticket: Ticket) -> list[OutboxMessage]:
    """The ticket moved to a status the customer cares about (waiting on them, solved, closed).
    The solve email carries the one-click CSAT links."""
    headline = STATUS_MESSAGES.get(ticket.status)
    if headline is None:
        return []
    person = customer_recipient(ticket)
    if person is None:
        return []
    context = _context(ticket, person) | {
        "headline": headline,
        "status": ticket.status,
        "reopen_days": settings.TICKET_REOPEN_WINDOW_DAYS,
    }
    if ticket.status == Ticket.Status.SOLVED:
        from tickets.surveys import csat_links  # surveys builds on this module

        context["rating_links"] = csat_links(ticket)  # one click rates (signed, no sign-in)
    return _enqueue(
        ticket,
        person,
        kind=Kind.CUSTOMER_STATUS,
        # The version names this change: solved, reopened, solved again sends twice; a rerun sends once.
        key=f"{Kind.CUSTOMER_STATUS}:{ticket.pk}:{ticket.status}:v{ticket.version}",
        subject=f"Re: [{ticket.reference}] {ticket.subject}",
        template="customer_status",
        context=context,
        automatic=True,
    )


# --- composing ---------------------------------------------------------------------------------------


def _context(ticket: Ticket, person: User) -> dict:
    return {
        "ticket": ticket,
        "name": person.get_short_name() if person.name else "",
        "portal_url": f"{settings.SITE_URL}/portal/tickets/{ticket.reference}/",
        "reply_to": reply_to_address(ticket),
    }


def thread_headers(ticket: Ticket) -> dict[str, str]:
    """In-Reply-To (the latest message) and References (the first and the latest ones) of the conversation."""
    ids = batch_known(("thread_ids", ticket.pk))  # the intake's new ticket: the message it just recorded
    if ids is None:
        ids = list(
            TicketEmail.objects.filter(ticket=ticket).order_by("created_at", "id").values_list("message_id", flat=True)
        )
    if not ids:
        return {}
    kept = ids if len(ids) <= REFERENCES_KEPT else [ids[0], *ids[-(REFERENCES_KEPT - 1) :]]
    return {"In-Reply-To": f"<{ids[-1]}>", "References": " ".join(f"<{value}>" for value in kept)}


def _enqueue(
    ticket: Ticket,
    person: User,
    *,
    kind: str,
    key: str,
    subject: str,
    template: str,
    context: dict,
    automatic: bool,
    ticket_message: TicketMessage | None = None,
) -> list[OutboxMessage]:
    message_id = new_message_id(ticket, kind.rpartition(".")[2])
    headers = {"Message-ID": f"<{message_id}>", "Reply-To": reply_to_address(ticket), **thread_headers(ticket)}
    if automatic:
        # RFC 3834: clients and autoresponders must not answer this automatically.
        headers["Auto-Submitted"] = "auto-replied"
    item = OutboxItem(
        kind=kind,
        channel=OutboxMessage.Channel.EMAIL,
        recipient=person.email,
        subject=subject[:255],
        body=render_to_string(f"tickets/email/{template}.txt", context),
        html_body=render_to_string(f"tickets/email/{template}.html", context),
        idempotency_key=key,
        payload={"ticket": ticket.pk, "reference": ticket.reference, "user": person.pk, "email_headers": headers},
    )
    created = outbox_enqueue_many([item])
    if created:
        row = TicketEmail(
            ticket=ticket,
            ticket_message=ticket_message,
            direction=TicketEmail.Direction.OUTBOUND,
            message_id=message_id,
            sender=settings.DEFAULT_FROM_EMAIL,
            subject=subject[:255],
        )
        pending = batch_known("pending_emails")
        if pending is not None:
            pending.append(row)  # a bulk intake writes its batch's email rows in one INSERT before it commits
        else:
            row.save(force_insert=True)
        if (known := batch_known(("thread_ids", ticket.pk))) is not None:
            batch_prime(("thread_ids", ticket.pk), [*known, message_id])
    return created
