"""Read models for the staff pages and the staff API: queue rows, the ticket page, the roadmap.

Built on `tickets.selectors` (role scoping, filters, ordering); this module adds what a page shows
on top of a row: SLA countdowns in business time, the three timers, the history diff and the
roadmap groups. Every function runs a fixed number of queries whatever the number of rows.
"""

from dataclasses import dataclass
from datetime import datetime
from itertools import pairwise

from django.conf import settings
from django.contrib.auth import get_user_model
from django.utils import timezone

from tickets import selectors, sla, sla_policies
from tickets.models import SLAPolicy, Ticket, TicketSatisfaction
from tourbrain_support.tiers import Tier

HISTORY_LIMIT = 50
ROADMAP_LIMIT = 200
# Fields that change on every save and say nothing to a person reading the history.
HISTORY_NOISE = {"version", "updated_at", "search_vector", "next_due_at"}


@dataclass
class QueueRow:
    """A queue row with its display values computed once in Python (the template only prints them)."""

    ticket: Ticket
    sla_state: str
    due_at: datetime | None
    due_label: str
    remaining_minutes: int | None
    remaining: str

    @property
    def url(self) -> str:
        return f"/queue/{self.ticket.reference}/"

    def display(self) -> dict:
        ticket = self.ticket
        due_local = timezone.localtime(self.due_at) if self.due_at else None
        return {
            "pk": ticket.pk,
            "version": ticket.version,
            "reference": ticket.reference,
            "url": self.url,
            "subject": ticket.subject if len(ticket.subject) <= 90 else ticket.subject[:89] + "…",
            "customer": str(ticket.user) if ticket.user_id else "—",
            "organization": str(ticket.organization) if ticket.organization_id else "",
            "tier": TIER_LABELS.get(ticket.tier, ticket.tier),
            "type": TYPE_LABELS.get(ticket.type, ticket.type),
            "priority": ticket.priority,
            "priority_label": PRIORITY_LABELS.get(ticket.priority, ticket.priority),
            "status": STATUS_LABELS.get(ticket.status, ticket.status),
            "team": TEAM_LABELS.get(ticket.team, ticket.team),
            "assignee": str(ticket.assignee) if ticket.assignee_id else "",
            "assignee_id": ticket.assignee_id,
            "sla_state": self.sla_state,
            "remaining": self.remaining,
            "due_iso": due_local.isoformat() if due_local else "",
            "due_text": f"{due_local:%a %d %b %H:%M} · {self.due_label}" if due_local else "",
            "csat": _csat_score(ticket),
        }


def _csat_score(ticket: Ticket) -> int | None:
    """The customer's rating (1-5) of the ticket's solve, when it was rated (loaded with the row)."""
    try:
        return ticket.satisfaction.score
    except TicketSatisfaction.DoesNotExist:
        return None


TIER_LABELS = dict(Tier.choices)
TYPE_LABELS = dict(Ticket.Type.choices)
PRIORITY_LABELS = dict(Ticket.Priority.choices)
STATUS_LABELS = dict(Ticket.Status.choices)
TEAM_LABELS = dict(Ticket.Team.choices)


# Columns a queue row (page or API list) shows: the long texts (description, steps) stay in the database.
QUEUE_COLUMNS = (
    *(
        f.name
        for f in Ticket._meta.concrete_fields
        if f.name not in {"description", "reproduction_steps", "browser_info", "url", "duplicate_of"}
    ),
    "user__id",
    "user__name",
    "user__email",
    "organization__id",
    "organization__name",
    "assignee__id",
    "assignee__name",
    "assignee__email",
)


def queue_page(*, user, filters: dict, offset: int, limit: int) -> tuple[list[QueueRow], bool]:
    """One page of the caller's queue plus whether another page follows (limit+1 rows, no COUNT)."""
    queryset = selectors.ticket_queue(user=user, filters=filters)
    # The few policy versions are fetched apart instead of joined onto every row (narrower rows).
    # The customer's rating of a solved ticket rides along on the same query (a LEFT JOIN; one row per ticket).
    queryset = (
        queryset.select_related(None)
        .select_related("user", "organization", "assignee", "satisfaction")
        .only(*QUEUE_COLUMNS, "satisfaction__id", "satisfaction__score")
    )
    tickets = list(queryset[offset : offset + limit + 1])
    has_next = len(tickets) > limit
    _attach_policies(tickets)
    now = timezone.now()
    return [queue_row(ticket, now=now) for ticket in tickets[:limit]], has_next


def _attach_policies(tickets: list[Ticket]) -> None:
    ids = {ticket.sla_policy_id for ticket in tickets if ticket.sla_policy_id}
    if not ids:
        return
    policies = SLAPolicy.objects.select_related("calendar").in_bulk(ids)
    for ticket in tickets:
        if ticket.sla_policy_id:
            ticket.sla_policy = policies[ticket.sla_policy_id]


def _next_clock(ticket: Ticket) -> tuple[str, datetime | None]:
    """The running clock that runs out first, with its label (the same rule as `next_due_at`)."""
    candidates = []
    if ticket.first_responded_at is None and ticket.first_response_due_at:
        candidates.append(("first response", ticket.first_response_due_at))
    if ticket.next_response_due_at:
        candidates.append(("next response", ticket.next_response_due_at))
    if ticket.solved_at is None and ticket.resolution_due_at:
        candidates.append(("resolution", ticket.resolution_due_at))
    if not candidates:
        return "", None
    return min(candidates, key=lambda item: item[1])


def _paused(ticket: Ticket) -> bool:
    return ticket.is_paused


def _calendar(ticket: Ticket):
    return sla_policies.ticket_calendar(ticket)


def _remaining(ticket: Ticket, due_at: datetime | None, now: datetime) -> tuple[int | None, str]:
    if due_at is None:
        return None, ""
    minutes = sla.remaining_business_minutes(_calendar(ticket), now, due_at)
    return minutes, sla.describe_remaining(minutes)


def queue_row(ticket: Ticket, *, now: datetime) -> QueueRow:
    label, due_at = _next_clock(ticket)
    if _paused(ticket):
        # A breach stays visible while the customer is waited on; otherwise the row just says paused.
        state = "breached" if ticket.sla_state == Ticket.SLAState.BREACHED else "paused"
        return QueueRow(ticket, state, due_at, label, None, "Clock paused")
    minutes, text = _remaining(ticket, due_at, now)
    state = ticket.sla_state or "ok"
    if minutes is not None and minutes < 0:
        state = "breached"
    return QueueRow(ticket, state, due_at, label, minutes, text)


def visible_tickets(*, user, ids: list[int]) -> list[Ticket]:
    """The tickets among `ids` that the user's queue may touch."""
    return list(selectors.ticket_queue(user=user, filters={"status": "any"}).filter(pk__in=ids))


def visible_ticket_or_404(*, user, pk: int) -> Ticket:
    from django.http import Http404

    tickets = visible_tickets(user=user, ids=[pk])
    if not tickets:
        raise Http404("No such ticket in your queue.")
    return tickets[0]


def ticket_for_page(*, user, reference: str) -> Ticket | None:
    try:
        return selectors.ticket_detail(user=user, reference_or_id=reference)
    except Ticket.DoesNotExist:
        return None


def _timer(ticket, key: str, label: str, due_at, stopped_at, now) -> dict:
    timer = {
        "key": key,
        "label": label,
        "due_at": due_at,
        "stopped_at": stopped_at,
        "remaining_business_minutes": None,
        "remaining": "",
    }
    if due_at is None and stopped_at is None:
        return {**timer, "state": "none", "state_label": "Not running", "detail": ""}
    if stopped_at is not None:
        late = due_at is not None and stopped_at > due_at
        when = timezone.localtime(stopped_at).strftime("%a %d %b %H:%M")
        return {
            **timer,
            "state": "breached" if late else "met",
            "state_label": "Missed" if late else "Met",
            "detail": f"Stopped {when}",
        }
    if _paused(ticket):
        return {**timer, "state": "paused", "state_label": "Paused", "detail": "Waiting on the customer / on hold"}
    minutes, text = _remaining(ticket, due_at, now)
    timer.update(remaining_business_minutes=minutes, remaining=text)
    if minutes is not None and minutes < 0:
        return {**timer, "state": "breached", "state_label": "Breached", "detail": text}
    state = "warning" if ticket.sla_state == "warning" else "running"
    return {**timer, "state": state, "state_label": "Warning" if state == "warning" else "Running", "detail": text}


def ticket_timers(ticket: Ticket, *, now: datetime | None = None) -> list[dict]:
    now = now or timezone.now()
    return [
        _timer(
            ticket, "first-response", "First response", ticket.first_response_due_at, ticket.first_responded_at, now
        ),
        _timer(ticket, "next-response", "Next response", ticket.next_response_due_at, None, now),
        _timer(ticket, "resolution", "Resolution", ticket.resolution_due_at, ticket.solved_at, now),
    ]


def ticket_history(ticket: Ticket) -> list[dict]:
    """The latest changes, newest first, as field diffs with people's names instead of ids."""
    records = list(
        ticket.history.select_related("history_user").order_by("-history_date", "-history_id")[: HISTORY_LIMIT + 1]
    )
    entries = []
    user_ids = set()
    for newer, older in pairwise(records):
        delta = newer.diff_against(older)
        changes = [
            {"field": change.field, "old": change.old, "new": change.new}
            for change in delta.changes
            if change.field not in HISTORY_NOISE
        ]
        if not changes:
            continue
        for change in changes:
            if change["field"] == "assignee":
                user_ids.update(value for value in (change["old"], change["new"]) if value)
        entries.append({"when": newer.history_date, "who": newer.history_user, "changes": changes, "created": False})
    if records and len(records) <= HISTORY_LIMIT and records[-1].history_type == "+":
        entries.append(
            {"when": records[-1].history_date, "who": records[-1].history_user, "changes": [], "created": True}
        )
    if user_ids:
        names = {user.pk: str(user) for user in get_user_model().objects.filter(pk__in=user_ids)}
        for entry in entries:
            for change in entry["changes"]:
                if change["field"] == "assignee":
                    change["old"] = names.get(change["old"], change["old"])
                    change["new"] = names.get(change["new"], change["new"])
    for entry in entries:
        for change in entry["changes"]:
            change["field"] = change["field"].replace("_", " ")
    return entries


def ticket_conversation(ticket: Ticket) -> list:
    messages = list(ticket.messages.select_related("author").prefetch_related("attachments"))
    for message in messages:
        message.attachment_list = list(message.attachments.all())
    return messages


def ticket_page_data(*, ticket: Ticket) -> dict:
    return {
        "conversation": ticket_conversation(ticket),
        "timers": ticket_timers(ticket),
        "history": ticket_history(ticket),
    }


def attachment_hint() -> str:
    limit_mb = settings.TICKET_ATTACHMENT_MAX_BYTES / (1024 * 1024)
    return (
        f"Up to {settings.TICKET_ATTACHMENT_MAX_COUNT} files, {limit_mb:g} MB each; "
        f"types: {', '.join(sorted(settings.TICKET_ATTACHMENT_TYPES))}."
    )


def roadmap_groups(*, limit: int = ROADMAP_LIMIT) -> tuple[list[dict], bool]:
    """Feature requests with their duplicates folded in, most requesting organizations first (3 queries)."""
    groups = selectors.roadmap_feature_requests(limit=limit + 1)
    truncated = len(groups) > limit
    groups = groups[:limit]
    duplicates: dict[int, list[Ticket]] = {}
    roots = [group["ticket"].pk for group in groups]
    rows = (
        Ticket.objects.feature_requests().filter(duplicate_of_id__in=roots).only("id", "reference", "duplicate_of_id")
    )
    for duplicate in rows.order_by("id"):
        duplicates.setdefault(duplicate.duplicate_of_id, []).append(duplicate)
    for group in groups:
        group["duplicates"] = duplicates.get(group["ticket"].pk, [])
        group["tier_counts"] = group["tiers"]
        group["tiers"] = [(Tier(tier).label, count) for tier, count in group["tier_counts"].items() if count]
    return groups, truncated
