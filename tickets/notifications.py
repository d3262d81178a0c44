"""Notification builders for ticket events: who is told what, written as outbox rows.

Called by the ticket services and the SLA sweep inside their transactions; each builder only composes
messages and hands them to `outbox_enqueue_many`, which delivers them after commit. Idempotency keys
name the event instance (the ticket version of an assignment, the instant of a warning or escalation),
so rerunning the cause sends nothing twice while a later, new event of the same kind is sent again.

Emails go to people (assignee, team lead); Slack (when `SLACK_WEBHOOK_URL` is set) gets one message per
new critical ticket and one digest per sweep batch, so a Monday-morning burst of breaches is one post.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from zoneinfo import ZoneInfo

from django.conf import settings

from tickets.models import BetaSupportProfile, Team, Ticket, TicketMessage
from tourbrain_support.models import User
from tourbrain_support.notifications.builders import email_item, slack_enabled, slack_item
from tourbrain_support.notifications.models import OutboxMessage
from tourbrain_support.notifications.outbox import OutboxItem, outbox_enqueue_many

Kind = OutboxMessage.Kind
EMAIL = OutboxMessage.Channel.EMAIL
SLACK = OutboxMessage.Channel.SLACK
# Tickets listed by name in a Slack digest; the rest are counted.
DIGEST_LISTED = 10
# A beta organization's own Slack channel, as an outbox target ("beta:<profile id>", resolved at send time).
SLACK_BETA_PREFIX = "beta:"
# Customer text quoted in a beta channel post is cut here (the full text is on the ticket page).
BETA_QUOTE_CHARS = 1500


# --- entry points (names used by tickets.services and tickets.sweep) ---------------------------------


def notify_ticket_created_critical(ticket: Ticket) -> list[OutboxMessage]:
    """A new critical ticket: email the team lead, post to Slack."""
    lead = _team_leads([ticket.team]).get(ticket.team)
    subject = f"[{ticket.reference}] New critical {ticket.get_type_display().lower()}: {ticket.subject}"
    body = _ticket_body(ticket, headline="A new critical ticket was filed.")
    items = []
    if lead is not None and lead.email:
        items.append(
            email_item(Kind.TICKET_CRITICAL, f"{Kind.TICKET_CRITICAL}:{ticket.pk}", lead, subject, body, _about(ticket))
        )
    if slack_enabled():
        items.append(
            slack_item(
                Kind.TICKET_CRITICAL,
                f"{Kind.TICKET_CRITICAL}:{ticket.pk}:slack",
                subject,
                _ticket_body(ticket, headline="New critical ticket", short=True),
                {"tickets": [ticket.reference]},
            )
        )
    return outbox_enqueue_many(items)


def notify_ticket_assigned(ticket: Ticket, actor: User | None) -> list[OutboxMessage]:
    """Email the new assignee (not when they assigned it to themselves)."""
    return notify_tickets_assigned([ticket], actor)


def notify_tickets_assigned(tickets: Sequence[Ticket], actor: User | None) -> list[OutboxMessage]:
    """Email each ticket's new assignee (not who assigned it to themselves); one insert for all of them."""
    items = []
    for ticket in tickets:
        assignee = ticket.assignee
        if assignee is None or not assignee.email or (actor is not None and actor.pk == assignee.pk):
            continue
        by = f" by {actor.name or actor.email}" if actor is not None else ""
        subject = f"[{ticket.reference}] Assigned to you: {ticket.subject}"
        body = _ticket_body(ticket, headline=f"This ticket was assigned to you{by}.")
        # The version identifies this assignment: A -> B -> A notifies A twice, a retried request once.
        key = f"{Kind.TICKET_ASSIGNED}:{ticket.pk}:{assignee.pk}:v{ticket.version}"
        items.append(email_item(Kind.TICKET_ASSIGNED, key, assignee, subject, body, _about(ticket)))
    return outbox_enqueue_many(items) if items else []


def notify_sla_warning(tickets: Sequence[Ticket]) -> list[OutboxMessage]:
    """Tickets that reached the warning share of their target: email the assignee (the lead when unassigned)."""
    tickets = list(tickets)
    if not tickets:
        return []
    leads = _team_leads({ticket.team for ticket in tickets})
    items = []
    for ticket in tickets:
        stamp = _stamp(ticket.warning_notified_at)
        clock, due = _next_clock(ticket)
        subject = f"[{ticket.reference}] SLA warning: {clock} due {_when(due)}"
        body = _ticket_body(ticket, headline=f"The {clock} target is close: due {_when(due)}.")
        for person in _distinct([ticket.assignee or leads.get(ticket.team)]):
            key = f"{Kind.SLA_WARNING}:{ticket.pk}:{stamp}:{person.pk}"
            items.append(email_item(Kind.SLA_WARNING, key, person, subject, body, _about(ticket)))
    if slack_enabled():
        items.append(_digest(Kind.SLA_WARNING, "SLA warning", tickets, stamp=_stamp(tickets[0].warning_notified_at)))
    return outbox_enqueue_many(items)


def notify_sla_breach(tickets: Sequence[Ticket]) -> list[OutboxMessage]:
    """Breached and escalated tickets: email the previous assignee and the team lead, post a Slack digest.

    The sweep sets `escalated_from_id` on each ticket (the assignee before the lead took it over).
    """
    tickets = list(tickets)
    if not tickets:
        return []
    leads = _team_leads({ticket.team for ticket in tickets})
    previous_ids = {getattr(ticket, "escalated_from_id", None) for ticket in tickets} - {None}
    previous = {user.pk: user for user in User.objects.filter(pk__in=previous_ids)} if previous_ids else {}
    items = []
    for ticket in tickets:
        stamp = _stamp(ticket.escalated_at)
        clock, due = _next_clock(ticket)
        subject = f"[{ticket.reference}] SLA breached: {clock} was due {_when(due)}"
        body = _ticket_body(
            ticket,
            headline=f"The {clock} target was missed (due {_when(due)}). The ticket was escalated to "
            f"{ticket.get_priority_display().lower()} priority and moved to the team lead.",
        )
        recipients = [previous.get(getattr(ticket, "escalated_from_id", None)), leads.get(ticket.team), ticket.assignee]
        for person in _distinct(recipients):
            key = f"{Kind.SLA_BREACH}:{ticket.pk}:{stamp}:{person.pk}"
            items.append(email_item(Kind.SLA_BREACH, key, person, subject, body, _about(ticket)))
    if slack_enabled():
        items.append(_digest(Kind.SLA_BREACH, "SLA breached", tickets, stamp=_stamp(tickets[0].escalated_at)))
    return outbox_enqueue_many(items)


def notify_beta_ticket(ticket: Ticket, profile: BetaSupportProfile | None) -> list[OutboxMessage]:
    """A new ticket from a beta organization: posted to its own Slack channel (when it has a webhook)."""
    if profile is None or not profile.is_active or not profile.slack_webhook_url:
        return []
    subject = f"[{ticket.reference}] New beta ticket from {profile.organization.name}: {ticket.subject}"
    clock, due = _next_clock(ticket)
    body = "\n".join(
        [
            f"Filed by {_who(ticket.user)} · {ticket.get_type_display()} · {ticket.get_priority_display()} priority",
            f"Team: {ticket.get_team_display()} · assigned to {_who(ticket.assignee) if ticket.assignee else 'nobody'}",
            f"Due: {clock} {_when(due)}",
            f"Link: {ticket_url(ticket)}",
            "",
            _quote(ticket.description),
        ]
    )
    item = _beta_slack_item(Kind.BETA_TICKET, f"{Kind.BETA_TICKET}:{ticket.pk}", subject, body, ticket, profile)
    return outbox_enqueue_many([item])


def notify_beta_reply(
    ticket: Ticket, message: TicketMessage, profile: BetaSupportProfile | None
) -> list[OutboxMessage]:
    """A public reply on a beta organization's ticket (staff or customer): posted to its channel."""
    if profile is None or not profile.is_active or not profile.slack_webhook_url or message.is_internal:
        return []
    side = "Support" if message.is_from_staff else "Customer"
    subject = f"[{ticket.reference}] {side} reply: {ticket.subject}"
    body = "\n".join([f"{side} reply by {_who(message.author)} · {ticket_url(ticket)}", "", _quote(message.body)])
    item = _beta_slack_item(Kind.BETA_REPLY, f"{Kind.BETA_REPLY}:{message.pk}", subject, body, ticket, profile)
    return outbox_enqueue_many([item])


def _beta_slack_item(
    kind: str, key: str, subject: str, body: str, ticket: Ticket, profile: BetaSupportProfile
) -> OutboxItem:
    return OutboxItem(
        kind=kind,
        channel=SLACK,
        recipient=slack_beta_target(profile.pk),
        subject=slack_escape(subject),
        body=body,
        idempotency_key=key,
        payload={"ticket": ticket.pk, "reference": ticket.reference, "beta_profile": profile.pk},
    )


def slack_beta_target(profile_id: int) -> str:
    """The Slack target of a beta organization's own channel (its webhook is read when the message is sent)."""
    return f"{SLACK_BETA_PREFIX}{profile_id}"


def beta_slack_webhook(profile_id: str) -> str | None:
    """The webhook of an active beta profile (registered with the notification core for "beta:<id>" targets).

    Read at send time: a webhook rotated by a lead applies to messages still waiting.
    """
    if not profile_id.isdigit():
        return None
    return (
        BetaSupportProfile.objects.filter(pk=int(profile_id), is_active=True)
        .values_list("slack_webhook_url", flat=True)
        .first()
    ) or None


def _about(ticket: Ticket) -> dict:
    return {"ticket": ticket.pk, "reference": ticket.reference}


def slack_escape(text: str) -> str:
    """Customer text as Slack shows it literally: no <!channel> pings, no disguised <url|links>."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _quote(text: str) -> str:
    text = text if len(text) <= BETA_QUOTE_CHARS else text[: BETA_QUOTE_CHARS - 1] + "…"
    return "\n".join(f"> {line}" for line in slack_escape(text).splitlines() or [""])


def _who(user: User | None) -> str:
    return slack_escape(user.name or user.email) if user is not None else "someone"


# --- composing ---------------------------------------------------------------------------------------


def ticket_url(ticket: Ticket) -> str:
    return f"{settings.SITE_URL}/queue/{ticket.reference}/"


def _team_leads(team_slugs: Iterable[str]) -> dict[str, User]:
    teams = Team.objects.filter(slug__in=set(team_slugs), lead__isnull=False).select_related("lead")
    return {team.slug: team.lead for team in teams}


def _distinct(people: Iterable[User | None]) -> list[User]:
    seen: dict[int, User] = {}
    for person in people:
        if person is not None and person.email and person.pk not in seen:
            seen[person.pk] = person
    return list(seen.values())


def _stamp(instant: datetime | None) -> str:
    # Microseconds: two sweeps a minute apart give different stamps; one sweep's rerun cannot re-stamp.
    return instant.strftime("%Y%m%dT%H%M%S.%fZ") if instant else "none"


def _when(instant: datetime | None) -> str:
    if instant is None:
        return "(no due time)"
    local = instant.astimezone(ZoneInfo(settings.BUSINESS_TIMEZONE))
    utc = instant.astimezone(ZoneInfo("UTC"))
    return f"{local:%a %d %b %Y %H:%M} {local.tzname()} ({utc:%H:%M} UTC)"


def _next_clock(ticket: Ticket) -> tuple[str, datetime | None]:
    """The clock that sets the ticket's next due time (the one a warning or breach is about)."""
    clocks = [
        ("first response", ticket.first_response_due_at),
        ("next response", ticket.next_response_due_at),
        ("resolution", ticket.resolution_due_at),
    ]
    for name, due in clocks:
        if due is not None and due == ticket.next_due_at:
            return name, due
    running = [(due, name) for name, due in clocks if due is not None]
    if running:
        due, name = min(running)
        return name, due
    return "SLA", ticket.next_due_at


def _ticket_body(ticket: Ticket, *, headline: str, short: bool = False) -> str:
    clock, due = _next_clock(ticket)
    lines = [
        headline,
        "",
        f"Ticket:    {ticket.reference} — {ticket.subject}",
        f"Tier:      {ticket.get_tier_display()}",
        f"Priority:  {ticket.get_priority_display()}",
        f"Type:      {ticket.get_type_display()}",
        f"Team:      {ticket.get_team_display()}",
        f"Due:       {clock} {_when(due)}",
        f"Link:      {ticket_url(ticket)}",
    ]
    if not short:
        lines += ["", "— TourBrain Support"]
    return "\n".join(lines)


def _digest(kind: str, title: str, tickets: list[Ticket], *, stamp: str) -> OutboxItem:
    """One Slack post for a sweep batch; keyed by the batch's stamp and its tickets, so a rerun posts nothing."""
    references = sorted(ticket.reference for ticket in tickets)
    lines = []
    for ticket in sorted(tickets, key=lambda ticket: ticket.reference)[:DIGEST_LISTED]:
        clock, due = _next_clock(ticket)
        lines.append(
            f"• <{ticket_url(ticket)}|{ticket.reference}> {ticket.subject} — {ticket.get_tier_display()}, "
            f"{ticket.get_priority_display()}, {clock} due {_when(due)}"
        )
    if len(tickets) > DIGEST_LISTED:
        lines.append(f"… and {len(tickets) - DIGEST_LISTED} more in the queue: {settings.SITE_URL}/queue/")
    noun = "ticket" if len(tickets) == 1 else "tickets"
    subject = f"{title}: {len(tickets)} {noun}"
    key = f"{kind}:slack:{stamp}:{min(ticket.pk for ticket in tickets)}:{len(tickets)}"
    return slack_item(kind, key, subject, "\n".join(lines), {"tickets": references})
