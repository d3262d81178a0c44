"""The SLA sweep: marks warnings and breaches and escalates breaches, set-based and idempotent.

Every minute (Celery beat) and via `manage.py sla_sweep`. Due and warning instants are stored on
the ticket, so the sweep is pure comparisons against now on two partial indexes:

- breach: running, sla_state ok/warning, next_due_at <= now -> breached, priority one step up,
  assignee = the team lead, assignee and lead notified;
- warning: running, sla_state ok, sla_warning_at <= now -> warning, assignee notified.

Concurrency: candidate rows are locked with FOR UPDATE SKIP LOCKED and the UPDATE repeats the state
condition, so of two sweeps at once exactly one changes (and notifies) each row; a rerun finds
nothing left. Escalation changes priority and assignee only: the due times stay as they were, so
raising the priority never moves a breached clock back into the future.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from django.db import connection, transaction
from django.db.models import Case, CharField, DateTimeField, F, OuterRef, Subquery, Value, When
from django.db.models.functions import Coalesce
from django.utils import timezone

from audit.services import audit_record
from tickets.models import Team, Ticket
from tickets.models.tickets import RUNNING_STATUSES

BATCH_SIZE = 2000
NEXT_PRIORITY = {"low": "medium", "medium": "high", "high": "critical", "critical": "critical"}


def _notifications():
    # Imported when used: the notification module builds on the ticket modules (import cycle).
    from tickets import notifications

    return notifications


@dataclass
class SweepResult:
    breached: list[int] = field(default_factory=list)
    warned: list[int] = field(default_factory=list)


def record_history(ids: list[int], *, at: datetime, reason: str) -> None:
    """History rows for tickets changed by a set-based UPDATE (save() hooks do not run), in one
    INSERT ... SELECT: the rows are copied inside the database, never built in Python."""
    if not ids:
        return
    history = Ticket.history.model
    tracked = [field.attname for field in history.tracked_fields]
    rows = (
        Ticket.objects.filter(pk__in=ids)
        .order_by()
        .annotate(
            h_date=Value(at, output_field=DateTimeField()),
            h_reason=Value(reason, output_field=CharField()),
            h_type=Value("~", output_field=CharField()),
        )
        .values_list(*tracked, "h_date", "h_reason", "h_type")
    )
    select_sql, params = rows.query.sql_with_params()
    quote = connection.ops.quote_name
    columns = ", ".join(quote(column) for column in [*tracked, "history_date", "history_change_reason", "history_type"])
    with connection.cursor() as cursor:
        cursor.execute(f"INSERT INTO {quote(history._meta.db_table)} ({columns}) {select_sql}", params)


def _locked_candidates(queryset, batch_size: int) -> list[tuple[int, int | None]]:
    return list(
        queryset.select_for_update(skip_locked=True, of=("self",))
        .order_by("next_due_at", "id")
        .values_list("id", "assignee_id")[:batch_size]
    )


def _escalate_batch(now: datetime, batch_size: int) -> list[int]:
    with transaction.atomic():
        candidates = _locked_candidates(
            Ticket.objects.filter(
                status__in=RUNNING_STATUSES,
                sla_state__in=[Ticket.SLAState.OK, Ticket.SLAState.WARNING],
                next_due_at__lte=now,
            ),
            batch_size,
        )
        if not candidates:
            return []
        ids = [ticket_id for ticket_id, _ in candidates]
        lead = Subquery(Team.objects.filter(slug=OuterRef("team"), lead__isnull=False).values("lead_id")[:1])
        Ticket.objects.filter(pk__in=ids, sla_state__in=[Ticket.SLAState.OK, Ticket.SLAState.WARNING]).update(
            sla_state=Ticket.SLAState.BREACHED,
            escalated_at=now,
            priority=Case(
                *[When(priority=old, then=Value(new)) for old, new in NEXT_PRIORITY.items()], default=F("priority")
            ),
            assignee_id=Coalesce(lead, F("assignee_id")),
            version=F("version") + 1,
            updated_at=now,
        )
        tickets = list(Ticket.objects.filter(pk__in=ids).select_related("organization", "assignee"))
        previous = dict(candidates)
        for ticket in tickets:
            # Who had the ticket before the escalation moved it to the lead (they are notified too).
            ticket.escalated_from_id = previous.get(ticket.pk)
        record_history(ids, at=now, reason="SLA breach escalated")
        _notifications().notify_sla_breach(tickets)
        audit_record(
            actor=None,
            action="update",
            resource_type="ticket",
            resource_id=None,
            changes={
                "operation": "sla_escalate",
                "tickets": [ticket.reference for ticket in tickets],
                "at": now.isoformat(),
            },
        )
        return ids


def _warn_batch(now: datetime, batch_size: int) -> list[int]:
    with transaction.atomic():
        candidates = _locked_candidates(
            Ticket.objects.filter(
                status__in=RUNNING_STATUSES, sla_state=Ticket.SLAState.OK, sla_warning_at__lte=now, next_due_at__gt=now
            ),
            batch_size,
        )
        if not candidates:
            return []
        ids = [ticket_id for ticket_id, _ in candidates]
        # No version bump: a warning changes nothing a rep edits, so open forms stay valid.
        Ticket.objects.filter(pk__in=ids, sla_state=Ticket.SLAState.OK).update(
            sla_state=Ticket.SLAState.WARNING, warning_notified_at=now
        )
        tickets = list(Ticket.objects.filter(pk__in=ids).select_related("organization", "assignee"))
        _notifications().notify_sla_warning(tickets)
        return ids


def sla_sweep(*, now: datetime | None = None, batch_size: int = BATCH_SIZE) -> SweepResult:
    """One pass: breaches first (so a ticket past both thresholds is escalated, not just warned)."""
    now = now or timezone.now()
    result = SweepResult()
    while batch := _escalate_batch(now, batch_size):
        result.breached.extend(batch)
        if len(batch) < batch_size:
            break
    while batch := _warn_batch(now, batch_size):
        result.warned.extend(batch)
        if len(batch) < batch_size:
            break
    return result
