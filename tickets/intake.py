"""Widget tickets accepted at once and filed moments later (PostgreSQL, `WIDGET_BACKGROUND_FILING`).

Filing a ticket (tier, routing, SLA clocks, the ticket and history rows with their indexes, audit,
notifications, the acknowledgement) costs several times what the widget request itself costs. So the
request checks everything a filing could refuse, takes the ticket's id from the tickets' own sequence,
stores what the customer sent in one INSERT (`TicketIntake`) and answers 201 with the reference and the
first-response promise. A Celery task files it (`intake_file_pending`), scheduled once per few seconds by
whichever request comes first, and by the beat every minute. The ticket gets the promised id, the tier and
SLA version of the promise and `created_at = accepted_at`, so its clocks start when the customer pressed send.

Each intake is filed in a transaction of its own (locked with SKIP LOCKED, filed, deleted, committed): a
filing holds the locks it takes (e.g. a team's round-robin row) only for its own ticket, so filers never wait
on each other or block other ticket creation for long.

Anything that reads or writes a ticket by reference for its customer first files that customer's pending
intakes (`intake_file_pending_for`): the customer never sees their new ticket missing.
"""

from __future__ import annotations

import json
import logging
from datetime import timedelta

from django.conf import settings
from django.core.cache import cache
from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone

from audit.services import audit_record
from tickets import customer_services, services, sla, sla_policies
from tickets.customer_selectors import promise_text
from tickets.models import SLAPolicy, TicketIntake
from tourbrain_support.broker import publish
from tourbrain_support.models import Organization, User
from tourbrain_support.tiers import resolve_tier

logger = logging.getLogger(__name__)

MAX_ATTEMPTS = TicketIntake.MAX_ATTEMPTS
FILING_SCHEDULED_KEY = "tickets:intake:filing-scheduled"
FILING_SCHEDULE_SECONDS = 5  # at most one filing task published per this many seconds (the beat is the backstop)
RETRY_DELAY_MAX = timedelta(minutes=30)  # after the n-th failure the next attempt waits 2^(n-1) minutes, at most this
READ_FILING_LIMIT = 20  # a customer's read files at most this many of their pending tickets


def background_filing() -> bool:
    """Whether widget tickets are accepted now and filed by a worker (PostgreSQL only: the id is taken from
    the tickets' sequence before the ticket exists)."""
    return settings.WIDGET_BACKGROUND_FILING and connection.vendor == "postgresql"


_ACCEPT_SQL = f"""
WITH new_id AS ({services.NEXT_TICKET_ID_SQL})
INSERT INTO tickets_ticketintake (
    ticket_id, reference, requester_id, organization_id, channel, payload, subject, accepted_at, tier,
    sla_policy_id, first_response_due_at, first_response_promise, attempts, last_error
)
SELECT id, {services.REFERENCE_SQL}, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, 0, '' FROM new_id
RETURNING id, ticket_id, reference
"""  # noqa: S608 (constants only; every value is a parameter)


def intake_accept(
    *,
    requester: User,
    organization: Organization | None,
    channel: str,
    type: str,
    priority: str,
    description: str,
    subject: str = "",
    reproduction_steps: str = "",
    browser_info: str = "",
    url: str = "",
) -> TicketIntake:
    """Accept a customer's ticket for filing: checked as `ticket_create` checks it, stored in one statement,
    a filing task scheduled after commit. The caller claims the request's Idempotency-Key first."""
    description = (description or "").strip()
    subject = (subject or "").strip() or customer_services.subject_from_description(description)
    subject, description, browser_info, url = services.ticket_check_input(
        type=type,
        priority=priority,
        channel=channel,
        subject=subject,
        description=description,
        browser_info=browser_info,
        url=url,
    )
    now = timezone.now()
    # The promise the ticket will carry: the active policy's target for this tier and priority from now.
    policy = sla_policies.active_policy()
    tier = resolve_tier(user=requester, organization=organization)
    minutes = sla_policies.targets_for(policy, tier=tier, priority=priority).first_response
    intake = TicketIntake(
        requester=requester,
        organization=organization,
        channel=channel,
        payload={
            "type": type,
            "priority": priority,
            "subject": subject,
            "description": description,
            "reproduction_steps": (reproduction_steps or "").strip(),
            "browser_info": browser_info,
            "url": url,
        },
        subject=subject,
        accepted_at=now,
        tier=tier,
        sla_policy=policy,
        first_response_due_at=sla.add_business_minutes(sla_policies.calendar_of(policy.calendar), now, minutes),
        first_response_promise=promise_text(minutes),
    )
    with connection.cursor() as cursor:
        cursor.execute(
            _ACCEPT_SQL,
            [
                requester.pk,
                organization.pk if organization is not None else None,
                channel,
                json.dumps(intake.payload),
                subject,
                now,
                tier,
                policy.pk,
                intake.first_response_due_at,
                intake.first_response_promise,
            ],
        )
        intake.pk, intake.ticket_id, intake.reference = cursor.fetchone()
    intake._state.adding = False
    transaction.on_commit(schedule_filing, robust=True)  # the ticket is accepted: a cache or broker error only logs
    return intake


def schedule_filing() -> None:
    """Publish one filing task unless one was published in the last few seconds (the beat also files)."""
    if cache.add(FILING_SCHEDULED_KEY, 1, timeout=FILING_SCHEDULE_SECONDS):
        from tickets.tasks import widget_intake_file

        publish(widget_intake_file)


def _policy_of(intake: TicketIntake) -> SLAPolicy:
    active = sla_policies.active_policy()
    if intake.sla_policy_id == active.pk:
        return active
    return SLAPolicy.objects.select_related("calendar").get(pk=intake.sla_policy_id)


def _file_one(intake: TicketIntake) -> bool:
    """File one locked intake inside the caller's transaction and delete it; on failure count the attempt
    and set when to try again (a savepoint keeps the failure's writes out). True when filed."""
    try:
        with transaction.atomic():
            customer_services.ticket_submit(
                requester=intake.requester,
                organization=intake.organization,
                channel=intake.channel,
                ticket_id=intake.ticket_id,
                created_at=intake.accepted_at,
                tier=intake.tier,
                sla_policy=_policy_of(intake),
                **intake.payload,
            )
    except Exception as error:  # one bad intake must not hold up the others
        context = {"reference": intake.reference, "attempt": intake.attempts + 1}
        logger.exception("widget ticket could not be filed", extra=context)
        delay = min(timedelta(minutes=2**intake.attempts), RETRY_DELAY_MAX)
        TicketIntake.objects.filter(pk=intake.pk).update(
            attempts=intake.attempts + 1,
            next_attempt_at=timezone.now() + delay,
            last_error=f"{type(error).__name__}: {error}"[:2000],
        )
        return False
    TicketIntake.objects.filter(pk=intake.pk).delete()  # what the customer wrote now lives on the ticket
    return True


def _locked():
    return TicketIntake.objects.select_related("requester", "organization").select_for_update(of=("self",))


def intake_file_next() -> bool | None:
    """File the oldest intake that is due and that no other filer holds, in a transaction of its own.
    None when there is none; else whether it was filed."""
    due = Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=timezone.now())
    with transaction.atomic():
        intake = (
            _locked()
            .select_for_update(of=("self",), skip_locked=True)
            .filter(due, attempts__lt=MAX_ATTEMPTS)
            .order_by("id")
            .first()
        )
        return None if intake is None else _file_one(intake)


def intake_file_pending() -> int:
    """The filing task: file every intake that is due, one by one. Safe to run twice at once (a held intake
    is skipped) and to rerun. Returns how many were filed."""
    try:
        # Cleared first: an intake accepted from now on schedules a new run, one accepted before is seen below.
        cache.delete(FILING_SCHEDULED_KEY)
    except Exception:  # the cache is down: file anyway (the next acceptance may then not schedule a run)
        logger.warning("filing schedule mark not cleared", exc_info=True)
    filed = 0
    while (outcome := intake_file_next()) is not None:
        filed += outcome
    return filed


def intake_file_pending_for(*, user: User) -> int:
    """File this customer's pending intakes now (before their tickets are read or written by reference).

    One query when there are none. Only intakes no filing has tried yet (a failing one waits for the worker's
    next attempt); one a worker is filing at this moment is waited for (one ticket's time), not filed twice.
    """
    if not background_filing() or not getattr(user, "is_authenticated", False):
        return 0
    pending = list(
        TicketIntake.objects.filter(requester=user, attempts=0)
        .order_by("id")
        .values_list("pk", flat=True)[:READ_FILING_LIMIT]
    )
    filed = 0
    for pk in pending:
        with transaction.atomic():
            intake = _locked().filter(pk=pk, attempts=0).first()
            if intake is not None:
                filed += _file_one(intake)
    return filed


def _audit_staff_action(intake: TicketIntake, *, operation: str, actor: User, request) -> None:
    audit_record(
        actor=actor,
        action="delete" if operation == "discard_intake" else "update",
        resource_type="ticket_intake",
        resource_id=intake.pk,
        organization=intake.organization_id,
        changes={"operation": operation, "reference": intake.reference, "attempts": intake.attempts},
        request=request,
    )


def intake_retry(*, ids: list[int], actor: User, request=None) -> int:
    """Staff file intakes again (e.g. failed ones once the cause was fixed), now; each retry is audited and
    starts the attempts again. Returns how many were filed."""
    filed = 0
    for pk in ids:
        with transaction.atomic():
            intake = _locked().filter(pk=pk).first()
            if intake is None:
                continue  # filed or discarded meanwhile
            _audit_staff_action(intake, operation="retry_filing", actor=actor, request=request)
            intake.attempts = 0
            filed += _file_one(intake)
    return filed


def intake_discard(*, ids: list[int], actor: User, request=None) -> int:
    """Staff give up intakes that cannot be filed (audited); the customer's reference then names nothing."""
    discarded = 0
    with transaction.atomic():
        for intake in _locked().filter(pk__in=ids).order_by("id"):
            _audit_staff_action(intake, operation="discard_intake", actor=actor, request=request)
            discarded += TicketIntake.objects.filter(pk=intake.pk).delete()[0]
    return discarded


def intake_erase_person(*, user: User) -> dict[str, int]:
    """GDPR erasure step (run before the erasure looks for the person's rows): their intakes go, pending ones
    too. The DELETE waits for a filing in progress, so a ticket filed meanwhile is found and erased."""
    deleted, _ = TicketIntake.objects.filter(requester=user).delete()
    return {"tickets.ticketintake": deleted}
