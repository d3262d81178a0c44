"""Ticket reads: role-scoped querysets for the queue, the ticket page and the roadmap.

Each selector decides its joins once (select_related / prefetch_related) so a page runs a fixed
number of queries whatever the number of rows. Customers never see the staff queue.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.db.models import Count, Exists, F, OuterRef, Prefetch, Q, QuerySet
from django.db.models.functions import Coalesce
from django.utils import timezone

from tickets import search, sla_policies
from tickets.models import Attachment, BetaFeedback, NpsSurvey, Ticket, TicketIntake, TicketMessage
from tickets.models.tickets import OPEN_STATUSES, RUNNING_STATUSES
from tourbrain_support.api import ApplicationError
from tourbrain_support.models import User
from tourbrain_support.roles import Role, user_roles
from tourbrain_support.tiers import Tier

# Roles that see every team's tickets; the others see their own team's only.
ALL_TEAMS_ROLES = {Role.SUPPORT_REP, Role.SUPPORT_LEAD, Role.ADMIN}
TEAM_OF_ROLE = {Role.ENGINEER: Ticket.Team.ENGINEERING, Role.BILLING_ADMIN: Ticket.Team.BILLING}
STATUS_ACTIVE = ""
STATUS_ANY = "any"
VIEW_MY_OPEN = "my_open"
VIEW_BREACHING_SOON = "breaching_soon"
# "Breaching soon": running, not yet breached, due within this many wall-clock minutes (or in warning).
BREACHING_SOON_MINUTES = 120


def ticket_visible_to(user) -> QuerySet[Ticket]:
    """Every ticket the user may work from the queue (none for customers, auditors, product managers)."""
    roles = user_roles(user)
    if roles & ALL_TEAMS_ROLES:
        return Ticket.objects.all()
    teams = [team for role, team in TEAM_OF_ROLE.items() if role in roles]
    if teams:
        return Ticket.objects.filter(team__in=teams)
    return Ticket.objects.none()


def user_can_work(user, ticket: Ticket) -> bool:
    """Whether the ticket is in the user's queue (the object-level form of `ticket_visible_to`)."""
    roles = user_roles(user)
    if roles & ALL_TEAMS_ROLES:
        return True
    return any(TEAM_OF_ROLE.get(role) == ticket.team for role in roles)


def _invalid(field: str, value: Any, allowed) -> ApplicationError:
    message = f"Unknown {field.replace('_', ' ')} '{value}'. Allowed values: {', '.join(allowed)}."
    return ApplicationError(message, code="invalid_choice", fields={field: [message]})


def _choice(filters: dict, field: str, allowed) -> str | None:
    value = filters.get(field)
    if value in (None, ""):
        return None
    if value not in allowed:
        raise _invalid(field, value, allowed)
    return value


def ticket_queue(*, user, filters: dict | None = None) -> QuerySet[Ticket]:
    """The user's queue with filters applied, ordered by next due time (nulls last), then id.

    filters: status ("" = active, "any", or a status), team, tier, priority, type, sla_state,
    assignee ("me", "none"/"unassigned", or a user id), q (a reference, or text in the subject or the
    requester's email or name: `tickets.search`), view ("my_open", "breaching_soon"). Unknown values and
    unsearchable terms raise ApplicationError naming what is allowed. A text search runs one query here
    (the matching requesters, `tickets.search`).
    """
    filters = filters or {}
    queryset = ticket_visible_to(user)
    status = filters.get("status", STATUS_ACTIVE) or STATUS_ACTIVE
    if status == STATUS_ACTIVE:
        queryset = queryset.filter(status__in=OPEN_STATUSES)
    elif status != STATUS_ANY:
        queryset = queryset.filter(status=_choice(filters, "status", Ticket.Status.values))
    for field, allowed in (
        ("team", Ticket.Team.values),
        ("tier", Tier.values),
        ("priority", Ticket.Priority.values),
        ("type", Ticket.Type.values),
        ("sla_state", Ticket.SLAState.values),
    ):
        value = _choice(filters, field, allowed)
        if value is not None:
            queryset = queryset.filter(**{field: value})
    assignee = filters.get("assignee")
    if assignee not in (None, ""):
        assignee = str(assignee)
        if assignee == "me":
            queryset = queryset.filter(assignee=user)
        elif assignee in ("none", "unassigned"):
            queryset = queryset.filter(assignee__isnull=True)
        elif assignee.isdigit():
            queryset = queryset.filter(assignee_id=int(assignee))
        else:
            raise _invalid("assignee", assignee, ["me", "none", "<user id>"])
    if filters.get("priority_queue") in (True, "1", "true", "yes"):
        queryset = queryset.filter(priority_queue=True)
    view = filters.get("view")
    if view == VIEW_MY_OPEN:
        queryset = queryset.filter(assignee=user, status__in=OPEN_STATUSES)
    elif view == VIEW_BREACHING_SOON:
        soon = timezone.now() + timedelta(minutes=BREACHING_SOON_MINUTES)
        # Spelled to match the sweep's partial index (running, ok/warning), scanned in due order.
        queryset = queryset.filter(
            status__in=RUNNING_STATUSES, sla_state__in=[Ticket.SLAState.OK, Ticket.SLAState.WARNING]
        ).filter(Q(sla_state=Ticket.SLAState.WARNING) | Q(next_due_at__lte=soon))
    elif view not in (None, ""):
        raise _invalid("view", view, [VIEW_MY_OPEN, VIEW_BREACHING_SOON])
    text = (filters.get("q") or "").strip()
    if text:
        error = search.term_error(text)
        if error:
            raise ApplicationError(error, code="invalid", fields={"q": [error]})
        queryset = queryset.filter(search.ticket_search_q(text))
    return queryset.for_queue()


def ticket_detail(*, user, reference_or_id: str | int) -> Ticket:
    """One ticket the user may work, by reference or id; raises Ticket.DoesNotExist otherwise."""
    return (
        ticket_visible_to(user)
        .by_reference(reference_or_id)
        .select_related("user", "organization", "assignee", "sla_policy__calendar", "duplicate_of", "satisfaction")
        .get()
    )


def ticket_messages(*, ticket: Ticket, include_internal: bool = True) -> QuerySet[TicketMessage]:
    """The conversation, oldest first, with authors and attachments (two queries)."""
    queryset = ticket.messages.select_related("author").prefetch_related(
        Prefetch("attachments", queryset=Attachment.objects.order_by("id"))
    )
    if not include_internal:
        queryset = queryset.filter(is_internal=False)
    return queryset.order_by("created_at", "id")


def ticket_calendar(ticket: Ticket):
    """The business calendar the ticket's SLA policy version uses (for countdowns in business time)."""
    return sla_policies.ticket_calendar(ticket)


def roadmap_feature_requests(*, limit: int = 200) -> list[dict]:
    """Feature requests folded by `duplicate_of`, most requesting organizations first (two queries).

    Each item: root ticket, request_count, organization_count, and a count per tier.
    """
    tier_counts = {f"tier_{tier}": Count("id", filter=Q(tier=tier)) for tier in Tier.values}
    rows = list(
        Ticket.objects.feature_requests()
        .annotate(root=Coalesce("duplicate_of_id", F("id")))
        .values("root")
        .annotate(request_count=Count("id"), organization_count=Count("organization", distinct=True), **tier_counts)
        .order_by("-organization_count", "-request_count", "root")[:limit]
    )
    roots = Ticket.objects.in_bulk([row["root"] for row in rows])
    return [
        {
            "ticket": roots[row["root"]],
            "request_count": row["request_count"],
            "organization_count": row["organization_count"],
            "tiers": {tier: row[f"tier_{tier}"] for tier in Tier.values},
        }
        for row in rows
        if row["root"] in roots
    ]


# --- satisfaction data (read by the KPI rollups and the scorecard) --------------------------------


def _window(queryset: QuerySet, field: str, since: datetime | None, until: datetime | None) -> QuerySet:
    if since is not None:
        queryset = queryset.filter(**{f"{field}__gte": since})
    if until is not None:
        queryset = queryset.filter(**{f"{field}__lt": until})
    return queryset


def nps_counts(
    *, since: datetime | None = None, until: datetime | None = None, organization_id: int | None = None
) -> dict:
    """Answered NPS surveys in [since, until) by answer time: promoters (9-10), passives (7-8), detractors
    (0-6) and the total (one query)."""
    answered = _window(NpsSurvey.objects.filter(score__isnull=False), "answered_at", since, until)
    if organization_id is not None:
        answered = answered.filter(organization_id=organization_id)
    return answered.aggregate(
        promoters=Count("pk", filter=Q(score__gte=9)),
        passives=Count("pk", filter=Q(score__gte=7, score__lte=8)),
        detractors=Count("pk", filter=Q(score__lte=6)),
        total=Count("pk"),
    )


def nps_score(*, since: datetime | None = None, until: datetime | None = None, organization_id: int | None = None):
    """Net Promoter Score, -100..100 to one decimal: % promoters - % detractors; None without answers."""
    counts = nps_counts(since=since, until=until, organization_id=organization_id)
    if not counts["total"]:
        return None
    return round(100 * (counts["promoters"] - counts["detractors"]) / counts["total"], 1)


def conversion_intent_counts(*, since: datetime | None = None, until: datetime | None = None) -> dict:
    """Beta users' latest answer in [since, until) to "would you pay to keep access?": yes/maybe/no counts."""
    rows = _window(BetaFeedback.objects.all(), "created_at", since, until).order_by("user_id", "-created_at", "-pk")
    latest: dict[int, str] = {}
    for user_id, intent in rows.values_list("user_id", "conversion_intent"):
        latest.setdefault(user_id, intent)  # the first row per person is their latest
    counts = {value: 0 for value in BetaFeedback.Intent.values}
    for intent in latest.values():
        counts[intent] += 1
    return counts


def conversion_intent_share(*, since: datetime | None = None, until: datetime | None = None) -> float | None:
    """Share (0..1) of beta users whose latest answer is "yes, I would pay"; None without answers."""
    counts = conversion_intent_counts(since=since, until=until)
    total = sum(counts.values())
    return round(counts[BetaFeedback.Intent.YES] / total, 4) if total else None


def beta_testimonials_count(
    *, since: datetime | None = None, until: datetime | None = None, approved_only: bool = True
) -> int:
    """Testimonials given with consent to publish (approved by a lead, unless `approved_only` is False)."""
    rows = BetaFeedback.objects.exclude(testimonial="").filter(publish_consent=True)
    rows = rows.filter(approved_at__isnull=False) if approved_only else rows
    return _window(rows, "created_at", since, until).count()


def active_beta_users(*, now: datetime | None = None, days: int = 30) -> int:
    """Beta users (the cohort, or members of an active beta organization) who signed in or filed a ticket
    within `days`: one query."""
    now = now or timezone.now()
    since = now - timedelta(days=days)
    recent_ticket = Ticket.objects.filter(user=OuterRef("pk"), created_at__gte=since)
    return (
        User.objects.filter(is_active=True)
        .filter(Q(is_beta=True) | Q(memberships__organization__beta_profile__is_active=True))
        .filter(Q(last_login__gte=since) | Exists(recent_ticket))
        .distinct()
        .count()
    )


def beta_user_identifiers(*, cohort_only: bool = False) -> dict[int, set[str]]:
    """{user id: the ids product analytics may know the beta user by} for the active beta users (the cohort, or
    members of an active beta organization; `cohort_only`: the cohort): their auth provider `sub`s (what
    TourBrain's PostHog `identify` sends) and their email. One query."""
    beta = (
        Q(is_beta=True) if cohort_only else Q(is_beta=True) | Q(memberships__organization__beta_profile__is_active=True)
    )
    rows = (
        User.objects.filter(is_active=True)
        .filter(beta)
        .order_by()
        .values_list("pk", "email", "external_identities__subject")
        .distinct()
    )
    identifiers: dict[int, set[str]] = {}
    for pk, email, subject in rows:
        ids = identifiers.setdefault(pk, {email})
        if subject:
            ids.add(subject)
    return identifiers


# --- for the KPI rollups (read by kpis.metrics through these functions only) ---------------------------


def ticket_first_responses(*, start, end) -> list[tuple[str, Any, Any]]:
    """(tier, created_at, first_responded_at) of the tickets first answered in [start, end)."""
    return list(
        Ticket.objects.filter(first_responded_at__gte=start, first_responded_at__lt=end)
        .order_by()
        .values_list("tier", "created_at", "first_responded_at")
    )


def ticket_first_response_dues(*, start, end) -> list[tuple[str, Any, Any]]:
    """(tier, first_response_due_at, first_responded_at) of the tickets whose first response fell due in
    [start, end)."""
    return list(
        Ticket.objects.filter(first_response_due_at__gte=start, first_response_due_at__lt=end)
        .order_by()
        .values_list("tier", "first_response_due_at", "first_responded_at")
    )


def ticket_backlog_by_tier(*, at) -> dict[str, int]:
    """Tickets created before `at` and neither solved nor closed by then, by tier (from the stored solved/closed
    times: a ticket reopened later counts from its last solve)."""
    rows = (
        Ticket.objects.filter(created_at__lt=at)
        .filter(Q(solved_at__isnull=True) | Q(solved_at__gte=at))
        .filter(Q(closed_at__isnull=True) | Q(closed_at__gte=at))
        .order_by()
        .values("tier")
        .annotate(n=Count("id"))
    )
    return {row["tier"]: row["n"] for row in rows}


def critical_beta_bugs(*, since: datetime, until: datetime) -> QuerySet[Ticket]:
    """Critical bugs filed by beta users in [since, until): the seed's "beta user reports critical bug" alert."""
    return Ticket.objects.filter(
        type=Ticket.Type.BUG,
        priority=Ticket.Priority.CRITICAL,
        user__is_beta=True,
        created_at__gte=since,
        created_at__lt=until,
    )


def critical_beta_bug_count(*, since: datetime, until: datetime) -> int:
    return critical_beta_bugs(since=since, until=until).count()


def widget_intake_backlog(*, now: datetime, older_than: timedelta = timedelta(0)) -> dict:
    """Widget tickets accepted and not filed (`tickets/intake.py`): pending (accepted more than `older_than`
    ago, still being retried) and failed (retries used up, left for staff). One query."""
    return TicketIntake.objects.aggregate(
        pending=Count("id", filter=Q(attempts__lt=TicketIntake.MAX_ATTEMPTS, accepted_at__lte=now - older_than)),
        failed=Count("id", filter=Q(attempts__gte=TicketIntake.MAX_ATTEMPTS)),
    )
