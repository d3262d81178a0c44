"""Widget tickets accepted at once and filed moments later (PostgreSQL, `WIDGET_BACKGROUND_FILING`).

Filing a ticket (tier, routing, SLA clocks, the ticket and history rows with their indexes, audit,
notifications, the acknowledgement) costs several times what the widget request itself costs. So the
request checks everything a filing could refuse, takes the ticket's id from the tickets' own sequence,
stores what the customer sent in one INSERT (`TicketIntake`) and answers 201 with the reference and the
first-response promise. A Celery task files it (`intake_file_pending`), scheduled once per few seconds by
whichever request comes first, and by the beat every minute. The ticket gets the promised id and
`created_at = accepted_at`, so its SLA clocks start when the customer pressed send.

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
from django.db.models import F
from django.utils import timezone

from audit.services import audit_record
from tickets import customer_services, services, sla, sla_policies
from tickets.customer_selectors import promise_text
from tickets.models import TicketIntake
from tourbrain_support.broker import publish
from tourbrain_support.models import Organization, User
from tourbrain_support.tiers import resolve_tier

logger = logging.getLogger(__name__)

FILING_BATCH = 100  # intakes filed per transaction
MAX_ATTEMPTS = TicketIntake.MAX_ATTEMPTS
FILING_SCHEDULED_KEY = "tickets:intake:filing-scheduled"
FILING_SCHEDULE_SECONDS = 5  # at most one filing task published per this many seconds (the beat is the backstop)
KEEP_FILED_HOURS = 24  # a filed intake answers a retried Idempotency-Key this long


def background_filing() -> bool:
    """Whether widget tickets are accepted now and filed by a worker (PostgreSQL only: the id is taken from
    the tickets' sequence before the ticket exists)."""
    return settings.WIDGET_BACKGROUND_FILING and connection.vendor == "postgresql"


_ACCEPT_SQL = f"""
WITH new_id AS ({services.NEXT_TICKET_ID_SQL})
INSERT INTO tickets_ticketintake (
    ticket_id, reference, requester_id, organization_id, channel, payload, idempotency_key, request_digest,
    subject, accepted_at, first_response_due_at, first_response_promise, attempts, last_error
)
SELECT id, {services.REFERENCE_SQL}, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, 0, '' FROM new_id
ON CONFLICT (requester_id, idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING
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
    idempotency_key: str | None = None,
    request_digest: str = "",
) -> tuple[TicketIntake, bool]:
    """Accept a customer's ticket for filing: checked as `ticket_create` checks it, stored in one statement.

    Returns the intake and True, or, for an `idempotency_key` this requester used before, the first
    request's intake and False (the caller compares `request_digest`). A second request with the same key
    arriving meanwhile waits for the first to commit, then gets its intake.
    """
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
    due = sla.add_business_minutes(sla_policies.calendar_of(policy.calendar), now, minutes)
    payload = {
        "type": type,
        "priority": priority,
        "subject": subject,
        "description": description,
        "reproduction_steps": (reproduction_steps or "").strip(),
        "browser_info": browser_info,
        "url": url,
    }
    intake = TicketIntake(
        requester=requester,
        organization=organization,
        channel=channel,
        payload=payload,
        idempotency_key=idempotency_key,
        request_digest=request_digest,
        subject=subject,
        accepted_at=now,
        first_response_due_at=due,
        first_response_promise=promise_text(minutes),
    )
    with connection.cursor() as cursor:
        cursor.execute(
            _ACCEPT_SQL,
            [
                requester.pk,
                organization.pk if organization is not None else None,
                channel,
                json.dumps(payload),
                idempotency_key,
                request_digest,
                subject,
                now,
                due,
                intake.first_response_promise,
            ],
        )
        row = cursor.fetchone()
    if row is None:
        return TicketIntake.objects.get(requester=requester, idempotency_key=idempotency_key), False
    intake.pk, intake.ticket_id, intake.reference = row
    intake._state.adding = False
    transaction.on_commit(schedule_filing, robust=True)  # the ticket is accepted: a cache or broker error only logs
    return intake, True


def schedule_filing() -> None:
    """Publish one filing task unless one was published in the last few seconds (the beat also files)."""
    if cache.add(FILING_SCHEDULED_KEY, 1, timeout=FILING_SCHEDULE_SECONDS):
        from tickets.tasks import widget_intake_file

        publish(widget_intake_file)


def _file(intakes: list[TicketIntake]) -> int:
    """File locked intakes, each in its own savepoint: one that fails is counted and retried later, the
    others are filed. Returns how many were filed."""
    filed: list[int] = []
    for intake in intakes:
        try:
            with transaction.atomic():
                customer_services.ticket_submit(
                    requester=intake.requester,
                    organization=intake.organization,
                    channel=intake.channel,
                    ticket_id=intake.ticket_id,
                    created_at=intake.accepted_at,
                    **intake.payload,
                )
        except Exception as error:  # one bad intake must not hold up the others
            context = {"reference": intake.reference, "attempt": intake.attempts + 1}
            logger.exception("widget ticket could not be filed", extra=context)
            TicketIntake.objects.filter(pk=intake.pk).update(
                attempts=F("attempts") + 1, last_error=f"{type(error).__name__}: {error}"[:2000]
            )
        else:
            filed.append(intake.pk)
    if filed:
        # What the customer wrote now lives on the ticket; the row keeps only what answers a retry.
        TicketIntake.objects.filter(pk__in=filed).update(filed_at=timezone.now(), payload={})
    return len(filed)


def _pending():
    return (
        TicketIntake.objects.select_for_update(of=("self",), skip_locked=True)
        .select_related("requester", "organization")
        .filter(filed_at__isnull=True, attempts__lt=MAX_ATTEMPTS)
        .order_by("id")
    )


def intake_file_batch(*, limit: int = FILING_BATCH) -> int:
    """File up to `limit` pending intakes, oldest first, in one transaction; rows another pass is filing
    are skipped. Returns how many were filed."""
    with transaction.atomic():
        return _file(list(_pending()[:limit]))


def intake_file_pending() -> int:
    """The filing task: file every pending intake, batch after batch; drop filed intakes past the retry
    window. Safe to run twice at once (locked rows are skipped) and to rerun."""
    # Cleared first: an intake accepted from now on schedules a new run, one accepted before is seen below.
    cache.delete(FILING_SCHEDULED_KEY)
    total = 0
    while True:
        filed = intake_file_batch()
        total += filed
        if filed < FILING_BATCH:
            break
    cutoff = timezone.now() - timedelta(hours=KEEP_FILED_HOURS)
    TicketIntake.objects.filter(filed_at__lt=cutoff).delete()
    return total


def intake_file_pending_for(*, user: User) -> int:
    """File this customer's pending intakes now (before their tickets are read or written by reference).

    One query when there are none. An intake a worker is filing at this moment is waited for, not filed twice.
    """
    if not background_filing() or not getattr(user, "is_authenticated", False):
        return 0
    pending = list(
        TicketIntake.objects.filter(requester=user, filed_at__isnull=True, attempts__lt=MAX_ATTEMPTS).values_list(
            "pk", flat=True
        )
    )
    if not pending:
        return 0
    with transaction.atomic():
        locked = (
            TicketIntake.objects.select_for_update(of=("self",))
            .select_related("requester", "organization")
            .filter(pk__in=pending, filed_at__isnull=True)
            .order_by("id")
        )
        return _file(list(locked))


def intake_retry(*, ids: list[int], actor: User, request=None) -> int:
    """Staff retry intakes that were not filed (e.g. left after MAX_ATTEMPTS once the cause was fixed): their
    attempts start again and they are filed now; each retry is audited. Returns how many were filed."""
    with transaction.atomic():
        locked = list(
            TicketIntake.objects.select_for_update(of=("self",))
            .select_related("requester", "organization")
            .filter(pk__in=ids, filed_at__isnull=True)
            .order_by("id")
        )
        for each in locked:
            audit_record(
                actor=actor,
                action="update",
                resource_type="ticket_intake",
                resource_id=each.pk,
                organization=each.organization_id,
                changes={"operation": "retry_filing", "reference": each.reference, "attempts": each.attempts},
                request=request,
            )
        TicketIntake.objects.filter(pk__in=[each.pk for each in locked]).update(attempts=0, last_error="")
        for each in locked:
            each.attempts = 0
        return _file(locked)


def intake_erase_person(*, user: User) -> dict[str, int]:
    """GDPR erasure step: the person's intakes go, pending ones too (nothing of theirs is filed afterwards)."""
    deleted, _ = TicketIntake.objects.filter(requester=user).delete()
    return {"tickets.ticketintake": deleted}
