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
import time
from datetime import timedelta

from django.conf import settings
from django.core.cache import cache
from django.db import connection, transaction
from django.db.models import Q
from django.db.models.functions import Now
from django.utils import timezone

from audit.services import audit_record
from tickets import customer_services, services, sla, sla_policies
from tickets.customer_selectors import promise_text
from tickets.models import SLAPolicy, TicketIdempotencyKey, TicketIntake
from tourbrain_support.broker import publish
from tourbrain_support.db import compiled_first, fetch_one_prepared
from tourbrain_support.models import Organization, User
from tourbrain_support.request_context import get_request_id, request_id_as
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


_INTAKE_COLUMNS = (
    "ticket_id, reference, requester_id, organization_id, channel, payload, subject, accepted_at, tier, "
    "sla_policy_id, first_response_due_at, first_response_promise, request_id, attempts, last_error"
)
# Typed where the server could not tell a parameter's type from the statement (it is prepared: `fetch_one_prepared`).
_INTAKE_SELECT = (
    f"id, {services.REFERENCE_SQL}, %s::bigint, %s::bigint, %s, %s::jsonb, %s, %s::timestamptz, %s, %s::bigint, "
    "%s::timestamptz, %s, %s, 0, ''"
)
# Only constants are formatted into these; every value is a parameter. The id comes from the tickets' sequence
# in the statement itself, the reference is formatted from it (as `reference_for` does).
_STORE_SQL = f"""
WITH new_id AS ({services.NEXT_TICKET_ID_SQL})
INSERT INTO tickets_ticketintake ({_INTAKE_COLUMNS}) SELECT {_INTAKE_SELECT} FROM new_id
RETURNING id, ticket_id, reference
"""  # noqa: S608
# With an Idempotency-Key: the key with its answer (the reference added in SQL) and, only if the key was new,
# the intake, in one statement.
_STORE_WITH_KEY_SQL = f"""
WITH new_id AS ({services.NEXT_TICKET_ID_SQL}),
claimed AS (
    INSERT INTO tickets_ticketidempotencykey (user_id, key, request_digest, response_status, response_body, created_at)
    SELECT %s::bigint, %s, %s, %s::smallint, %s::jsonb || jsonb_build_object('reference', {services.REFERENCE_SQL}),
        %s::timestamptz
    FROM new_id
    ON CONFLICT (user_id, key) DO NOTHING
    RETURNING id
)
INSERT INTO tickets_ticketintake ({_INTAKE_COLUMNS})
SELECT {_INTAKE_SELECT} FROM new_id WHERE EXISTS (SELECT 1 FROM claimed)
RETURNING id, ticket_id, reference
"""  # noqa: S608

# The promise's SLA version is read at most once a second per process (the active version's check is a query
# per call): a newly activated version applies to promises within a second. Filing uses the same version.
POLICY_REUSE_SECONDS = 1.0
_recent_policy: tuple[float, SLAPolicy] | None = None


def _promise_policy() -> SLAPolicy:
    global _recent_policy
    recent = _recent_policy
    if recent is None or time.monotonic() - recent[0] > POLICY_REUSE_SECONDS:
        recent = _recent_policy = (time.monotonic(), sla_policies.active_policy())
    return recent[1]


def intake_prepare(
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
    """A customer's ticket ready to be accepted (not stored yet): checked as `ticket_create` checks it, with
    its promise (the active SLA version's target for their tier and the priority, from now)."""
    description, subject, reproduction_steps = customer_services.customer_ticket_text(
        description=description, subject=subject, reproduction_steps=reproduction_steps
    )
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
    policy = _promise_policy()
    tier = resolve_tier(user=requester, organization=organization)
    minutes = sla_policies.targets_for(policy, tier=tier, priority=priority).first_response
    return TicketIntake(
        requester=requester,
        organization=organization,
        channel=channel,
        payload={
            "type": type,
            "priority": priority,
            "subject": subject,
            "description": description,
            "reproduction_steps": reproduction_steps,
            "browser_info": browser_info,
            "url": url,
        },
        subject=subject,
        accepted_at=now,
        tier=tier,
        sla_policy=policy,
        first_response_due_at=sla.add_business_minutes(sla_policies.calendar_of(policy.calendar), now, minutes),
        first_response_promise=promise_text(minutes),
        request_id=get_request_id() or "",
    )


def intake_accept(
    intake: TicketIntake, *, idempotency_key: str | None = None, request_digest: str = "", answer: dict | None = None
) -> TicketIdempotencyKey | None:
    """Store a prepared intake in one statement, which takes its ticket id and reference (set on `intake`);
    with an Idempotency-Key also the key and the 201 `answer` a retry gets (its `reference` added). Schedules
    the filing. Returns None when stored, or the earlier request's key row when this key was used before
    (nothing stored; the caller compares `request_digest`)."""
    values = [
        intake.requester_id,
        intake.organization_id,
        intake.channel,
        json.dumps(intake.payload),
        intake.subject,
        intake.accepted_at,
        intake.tier,
        intake.sla_policy_id,
        intake.first_response_due_at,
        intake.first_response_promise,
        intake.request_id,
    ]
    if idempotency_key is None:
        row = fetch_one_prepared(connection, _STORE_SQL, values)
    else:
        key = [intake.requester_id, idempotency_key, request_digest, 201, json.dumps(answer), intake.accepted_at]
        row = fetch_one_prepared(connection, _STORE_WITH_KEY_SQL, key + values)
    if row is None:  # the key was there: a retry (or a reuse), answered from its row by the caller
        return TicketIdempotencyKey.objects.get(user_id=intake.requester_id, key=idempotency_key)
    intake.pk, intake.ticket_id, intake.reference = row
    intake._state.adding = False
    # The ticket is accepted (autocommit, or the caller's transaction): a cache or broker error only logs.
    transaction.on_commit(schedule_filing, robust=True)
    return None


def schedule_filing() -> None:
    """Publish one filing task unless one was published in the last few seconds (the beat also files)."""
    if cache.add(FILING_SCHEDULED_KEY, 1, timeout=FILING_SCHEDULE_SECONDS):
        from tickets.tasks import widget_intake_file

        publish(widget_intake_file)


def _policy_of(intake: TicketIntake, policies: dict[int, SLAPolicy]) -> SLAPolicy:
    """The SLA version of the intake's promise (read once per filing run, kept in `policies`)."""
    if intake.sla_policy_id not in policies:
        active = sla_policies.active_policy()
        if intake.sla_policy_id == active.pk:
            policies[active.pk] = active
        else:
            policies[intake.sla_policy_id] = SLAPolicy.objects.select_related("calendar").get(pk=intake.sla_policy_id)
    return policies[intake.sla_policy_id]


def _file(intake: TicketIntake, policies: dict[int, SLAPolicy]) -> None:
    """File one locked intake in the caller's transaction and delete it; the ticket's creation is audited under
    the id of the request that sent it (not the read or task that happens to file it)."""
    with request_id_as(intake.request_id or get_request_id()):
        customer_services.ticket_submit(
            requester=intake.requester,
            organization=intake.organization,
            channel=intake.channel,
            ticket_id=intake.ticket_id,
            created_at=intake.accepted_at,
            tier=intake.tier,
            sla_policy=_policy_of(intake, policies),
            **intake.payload,
        )
    with connection.cursor() as cursor:  # what the customer wrote now lives on the ticket
        cursor.execute("DELETE FROM tickets_ticketintake WHERE id = %s", [intake.pk])


def _failed(intake: TicketIntake, error: Exception) -> None:
    """Count a failed filing (its transaction rolled back) and set when to try again."""
    context = {"reference": intake.reference, "attempt": intake.attempts + 1}
    logger.error("widget ticket could not be filed", extra=context, exc_info=error)
    delay = min(timedelta(minutes=2**intake.attempts), RETRY_DELAY_MAX)
    TicketIntake.objects.filter(pk=intake.pk, attempts=intake.attempts).update(
        attempts=intake.attempts + 1,
        next_attempt_at=timezone.now() + delay,
        last_error=f"{type(error).__name__}: {error}"[:2000],
    )


def _locked(*, skip_locked: bool = False):
    # The requester's audit pseudonym comes along: the ticket's creation is audited with it.
    return TicketIntake.objects.select_related("requester__audit_subject", "organization").select_for_update(
        of=("self",), skip_locked=skip_locked
    )


def _file_in_own_transaction(claim, policies: dict[int, SLAPolicy]) -> bool | None:
    """Lock one intake (`claim` returns it or None), file it and commit; on failure roll back and count the
    attempt. None when there was nothing to claim, else whether it was filed."""
    intake = None
    try:
        with transaction.atomic():
            intake = claim()
            if intake is None:
                return None
            _file(intake, policies)
            return True
    except Exception as error:  # one bad intake must not hold up the others
        if intake is None:
            raise  # the claim itself failed (the database): nothing to count
        _failed(intake, error)
        return False


def intake_file_next(policies: dict[int, SLAPolicy] | None = None) -> bool | None:
    """File the oldest intake that is due and that no other filer holds, in a transaction of its own.
    None when there is none; else whether it was filed."""

    def claim():
        return compiled_first(connection, "tickets_intake_claim", _claim_next)

    return _file_in_own_transaction(claim, {} if policies is None else policies)


def _claim_next():
    # Due by the database's clock (the statement's time), so the query has no parameter that changes between
    # runs and is compiled once per connection (`compiled_first`). Retries are set minutes ahead by the
    # application's clock: a small skew between the two clocks only moves them by as much.
    due = Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=Now())
    return _locked(skip_locked=True).filter(due, attempts__lt=MAX_ATTEMPTS).order_by("id")[:1]


def intake_file_pending() -> int:
    """The filing task: file every intake that is due, one by one. Safe to run twice at once (a held intake
    is skipped) and to rerun. Returns how many were filed."""
    try:
        # Cleared first: an intake accepted from now on schedules a new run, one accepted before is seen below.
        cache.delete(FILING_SCHEDULED_KEY)
    except Exception:  # the cache is down: file anyway (the next acceptance may then not schedule a run)
        logger.warning("filing schedule mark not cleared", exc_info=True)
    filed, policies = 0, {}
    while (outcome := intake_file_next(policies)) is not None:
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
    filed, policies = 0, {}
    for pk in pending:
        filed += bool(_file_in_own_transaction(lambda pk=pk: _locked().filter(pk=pk, attempts=0).first(), policies))
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
    """Staff file intakes again (e.g. failed ones once the cause was fixed), now; each retry is audited (also
    when it fails again) and starts the attempts again. Returns how many were filed."""
    filed, policies = 0, {}
    for pk in ids:
        with transaction.atomic():
            intake = TicketIntake.objects.select_for_update().filter(pk=pk).first()
            if intake is None:
                continue  # filed or discarded meanwhile
            _audit_staff_action(intake, operation="retry_filing", actor=actor, request=request)
            TicketIntake.objects.filter(pk=pk).update(attempts=0, next_attempt_at=None)
        filed += bool(_file_in_own_transaction(lambda pk=pk: _locked().filter(pk=pk).first(), policies))
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
