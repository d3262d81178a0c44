"""Customer-side ticket reads (widget API and portal): own tickets, or the organization's for its admins.

A ticket outside what the customer may see is "not found", whether its reference is real or guessed.
Lists annotate the unread staff replies and join the rating in one query, whatever the number of rows.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.db.models import Count, F, Prefetch, Q, QuerySet
from django.http import Http404
from django.utils import timezone

from tickets import sla_policies
from tickets.models import Attachment, SLATarget, Ticket, TicketMessage, TicketSatisfaction
from tourbrain_support.models import Membership, User

SCOPE_MINE = "mine"
SCOPE_ORGANIZATION = "organization"
SCOPES = (SCOPE_MINE, SCOPE_ORGANIZATION)
# A rating may be changed this long after it was first given.
RATING_CHANGE_WINDOW = timedelta(days=7)
RATEABLE_STATUSES = (Ticket.Status.SOLVED, Ticket.Status.CLOSED)


def admin_organization_ids(user: User) -> list[int]:
    """The organizations whose every ticket the user may see (owner or admin membership)."""
    return list(
        Membership.objects.filter(user=user, role__in=Membership.ADMIN_ROLES).values_list("organization_id", flat=True)
    )


def _unread_filter() -> Q:
    return Q(messages__is_from_staff=True, messages__is_internal=False) & (
        Q(requester_last_seen_at__isnull=True) | Q(messages__created_at__gt=F("requester_last_seen_at"))
    )


def _customer_tickets(user: User, scope: str) -> QuerySet[Ticket]:
    if scope == SCOPE_MINE:
        return Ticket.objects.filter(user=user)
    if scope == SCOPE_ORGANIZATION:
        organization_ids = admin_organization_ids(user)
        if not organization_ids:
            raise Http404("Only an organization admin may list the organization's tickets.")
        return Ticket.objects.filter(organization_id__in=organization_ids)
    raise ValueError(f"Unknown scope {scope!r}")


def tickets_for_customer(user: User, scope: str = SCOPE_MINE) -> QuerySet[Ticket]:
    """The customer's tickets (scope "mine"), or every ticket of the organizations they administer
    ("organization": Http404 for a customer who administers none). Newest first, with `unread_count`
    (public staff replies after the requester last looked) and the rating joined."""
    return (
        _customer_tickets(user, scope)
        .select_related("user", "organization", "satisfaction")
        .annotate(unread_count=Count("messages", filter=_unread_filter()))
        .order_by("-created_at", "-id")
    )


def ticket_for_customer_or_404(user: User, reference: str) -> Ticket:
    """One ticket the customer may see (their own, or their organization's when they administer it), by
    reference; Http404 otherwise, exactly as for a reference that does not exist."""
    ticket = (
        Ticket.objects.by_reference(reference)
        .select_related("user", "organization", "satisfaction")
        .filter(
            Q(user=user)
            | Q(organization__memberships__user=user, organization__memberships__role__in=Membership.ADMIN_ROLES)
        )
        .first()
    )
    if ticket is None:
        raise Http404("No such ticket.")
    return ticket


def ticket_public_messages(ticket: Ticket) -> list[TicketMessage]:
    """The conversation as the customer sees it: public messages only, oldest first (two queries)."""
    return list(
        TicketMessage.objects.filter(ticket=ticket, is_internal=False)
        .select_related("author")
        .prefetch_related(Prefetch("attachments", queryset=Attachment.objects.order_by("id")))
        .order_by("created_at", "id")
    )


def ticket_public_attachment_or_404(ticket: Ticket, attachment_id: int) -> Attachment:
    attachment = (
        Attachment.objects.filter(pk=attachment_id, message__ticket=ticket, message__is_internal=False)
        .select_related("message")
        .first()
    )
    if attachment is None:
        raise Http404("No such attachment.")
    return attachment


def unread_count(ticket: Ticket) -> int:
    """Public staff replies the requester has not seen (uses the list annotation when present)."""
    if hasattr(ticket, "unread_count"):
        return ticket.unread_count
    messages = ticket.messages.filter(is_from_staff=True, is_internal=False)
    if ticket.requester_last_seen_at is not None:
        messages = messages.filter(created_at__gt=ticket.requester_last_seen_at)
    return messages.count()


def ticket_rating(ticket: Ticket) -> TicketSatisfaction | None:
    try:
        return ticket.satisfaction
    except TicketSatisfaction.DoesNotExist:
        return None


def rating_refusal(ticket: Ticket, *, now: datetime | None = None) -> tuple[str, str] | None:
    """Why the ticket cannot be rated now as (code, message), or None when it can."""
    if ticket.status not in RATEABLE_STATUSES:
        return "not_solved", f"{ticket.reference} is not solved yet; it can be rated once it is."
    rating = ticket_rating(ticket)
    if rating is None or rating.solved_at != ticket.solved_at:
        return None
    now = now or timezone.now()
    if now - rating.created_at > RATING_CHANGE_WINDOW:
        return "rating_locked", f"The rating of {ticket.reference} can only be changed within 7 days of giving it."
    return None


def can_rate(ticket: Ticket, *, now: datetime | None = None) -> bool:
    return rating_refusal(ticket, now=now) is None


def promise_text(minutes: int) -> str:
    """A first-response target in business terms: "within 2 business hours", "within 90 business minutes"."""
    if minutes >= 60 and minutes % 60 == 0:
        hours = minutes // 60
        return f"within {hours} business hour{'s' if hours != 1 else ''}"
    return f"within {minutes} business minute{'s' if minutes != 1 else ''}"


def ticket_first_response_promise(ticket: Ticket) -> str:
    """The first-response promise of the ticket's own SLA policy version, tier and priority (memoised)."""
    targets = sla_policies.ticket_targets(ticket)
    return promise_text(targets.first_response) if targets else ""


def sla_promises(*, tier: str) -> list[dict]:
    """The active policy's first-response promise per priority for a tier (two queries)."""
    policy = sla_policies.active_policy()
    order = {value: index for index, value in enumerate(Ticket.Priority.values)}
    rows = sorted(SLATarget.objects.filter(policy=policy, tier=tier), key=lambda row: order.get(row.priority, 99))
    return [
        {
            "priority": row.priority,
            "first_response_minutes": row.first_response_minutes,
            "first_response": promise_text(row.first_response_minutes),
        }
        for row in rows
    ]
