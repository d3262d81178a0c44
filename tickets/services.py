"""Ticket writes: create, reply, note, assign, status, priority, merge, auto-close, SLA policy publishing.

Every service is keyword-only and atomic, checks business rules and raises `ApplicationError`
(code + message) before anything is written, records an audit event, and writes its notifications
as outbox rows in the same transaction (`tickets.notifications`).

Stale edits: services that change a ticket take `expected_version` (the version the form or API
client saw). The row is locked and compared; a mismatch raises code `stale`. Every change bumps
`version`. Due times and SLA state are owned by the SLA engine: no service sets them directly.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import mimetypes
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import URLValidator
from django.db import connection, transaction
from django.db.models import F, Max, prefetch_related_objects
from django.utils import timezone

from audit.services import audit_record
from knowledge_base.services import kb_ticket_filed
from tickets import beta, routing, sla_policies
from tickets.models import (
    Attachment,
    BusinessCalendarConfig,
    SLAPolicy,
    SLATarget,
    Ticket,
    TicketMessage,
)
from tickets.models.tickets import reference_for
from tickets.sweep import record_history
from tourbrain_support.api import ApplicationError
from tourbrain_support.models import Membership, Organization, User
from tourbrain_support.oncall.models import Component
from tourbrain_support.parsers import json_nesting_exceeds
from tourbrain_support.roles import QUEUE_ROLES, Role, has_role
from tourbrain_support.tiers import Tier, resolve_tier

LEAD_ROLES = (Role.SUPPORT_LEAD, Role.ADMIN)
PRIORITY_ORDER = [choice.value for choice in Ticket.Priority]
HTTP_URL = URLValidator(schemes=["http", "https"])  # built once: every new ticket's url is checked with it


def _notifications():
    # Imported when used: the notification module builds on the ticket modules (import cycle).
    from tickets import notifications

    return notifications


def _customer_emails():
    from tickets import customer_emails

    return customer_emails


# --- helpers -------------------------------------------------------------------------------------


def _check_choice(value: Any, choices: type, field: str) -> str:
    if value not in choices.values:
        allowed = ", ".join(choices.values)
        message = f"Unknown {field.replace('_', ' ')} '{value}'. Allowed values: {allowed}."
        raise ApplicationError(message, code="invalid_choice", fields={field: [message]})
    return value


def _check_text(value: str, field: str, *, max_length: int | None = None, required: bool = True) -> str:
    value = (value or "").strip()
    if required and not value:
        raise ApplicationError(
            f"The {field.replace('_', ' ')} is required.", code="required", fields={field: ["Required."]}
        )
    if max_length and len(value) > max_length:
        message = f"At most {max_length} characters."
        raise ApplicationError(
            f"The {field.replace('_', ' ')} is too long. {message}", code="too_long", fields={field: [message]}
        )
    return value


def _is_staff(user: User | None) -> bool:
    return user is not None and has_role(user, *QUEUE_ROLES)


def _require_queue_role(user: User | None) -> None:
    if not _is_staff(user):
        raise ApplicationError("Only support staff may do this.", code="forbidden", status=403)


def _require_can_work(user: User | None, ticket: Ticket) -> None:
    from tickets.selectors import user_can_work

    if user is None or not user_can_work(user, ticket):
        raise ApplicationError(f"{ticket.reference} is not in your queue.", code="forbidden", status=403)


def _require_lead(user: User | None) -> None:
    if user is None or not has_role(user, *LEAD_ROLES):
        raise ApplicationError("Only a support lead or an admin may do this.", code="forbidden", status=403)


def _lock(ticket: Ticket, expected_version: int | None) -> Ticket:
    """The ticket row, locked for this transaction, checked against the version the caller saw."""
    locked = (
        Ticket.objects.select_for_update(of=("self",))
        .select_related("sla_policy__calendar", "organization", "assignee")
        .get(pk=ticket.pk)
    )
    if expected_version is not None and locked.version != expected_version:
        raise ApplicationError(
            f"{locked.reference} was changed by someone else after you opened it (version {expected_version}, "
            f"now {locked.version}). Reload it and try again.",
            code="stale",
            status=409,
        )
    return locked


def _save(ticket: Ticket, fields: Iterable[str], *, actor: User | None, now: datetime) -> None:
    ticket.version += 1
    ticket.updated_at = now
    if actor is not None:
        ticket._history_user = actor
    ticket.save(update_fields=sorted({*fields, "version", "updated_at"}))


def _closed_error(ticket: Ticket) -> ApplicationError:
    return ApplicationError(
        f"{ticket.reference} is closed; it cannot be changed. Open a new ticket instead.", code="ticket_closed"
    )


def _audit(actor: User | None, operation: str, ticket: Ticket, changes: dict | None = None) -> None:
    """One audit event per change: action create/update, the ticket operation named in the changes."""
    audit_record(
        actor=actor,
        action="create" if operation == "create" else "update",
        resource_type="ticket",
        resource_id=ticket.pk,
        organization=ticket.organization_id,
        changes={"operation": operation, **(changes or {})},
    )


def _validate_attachments(attachments: Sequence[Any]) -> list[tuple[Any, str]]:
    """Count, size and type limits from settings; returns (file, content type) pairs."""
    if len(attachments) > settings.TICKET_ATTACHMENT_MAX_COUNT:
        message = f"At most {settings.TICKET_ATTACHMENT_MAX_COUNT} attachments per message."
        raise ApplicationError(message, code="too_many_attachments", fields={"attachments": [message]})
    allowed = set(settings.TICKET_ATTACHMENT_TYPES)
    checked = []
    for upload in attachments:
        name = getattr(upload, "name", "") or "attachment"
        if upload.size > settings.TICKET_ATTACHMENT_MAX_BYTES:
            limit_mb = settings.TICKET_ATTACHMENT_MAX_BYTES / (1024 * 1024)
            message = f"{name} is too large ({upload.size} bytes); the limit is {limit_mb:g} MB."
            raise ApplicationError(message, code="attachment_too_large", fields={"attachments": [message]})
        # The type must be allowed both by what the client declared and by the file name.
        declared = (getattr(upload, "content_type", "") or "").split(";")[0].strip().lower()
        guessed = mimetypes.guess_type(name)[0] or ""
        if declared not in allowed or guessed not in allowed:
            message = f"{name}: file type not allowed. Allowed types: {', '.join(sorted(allowed))}."
            raise ApplicationError(message, code="attachment_type", fields={"attachments": [message]})
        if not _content_matches(upload, declared):
            message = f"{name}: the content is not a valid {declared} file."
            raise ApplicationError(message, code="attachment_content", fields={"attachments": [message]})
        checked.append((upload, declared))
    return checked


# The first bytes every file of an allowed binary type starts with; text types are checked by decoding.
ATTACHMENT_SIGNATURES = {
    "image/png": (b"\x89PNG\r\n\x1a\n",),
    "image/jpeg": (b"\xff\xd8\xff",),
    "image/gif": (b"GIF87a", b"GIF89a"),
    "application/pdf": (b"%PDF-",),
}
TEXT_ATTACHMENT_TYPES = {"text/plain", "text/csv", "application/json"}


def _read_upload(upload: Any, size: int | None = None) -> bytes:
    upload.seek(0)
    data = upload.read() if size is None else upload.read(size)
    upload.seek(0)
    return data


def _content_matches(upload: Any, content_type: str) -> bool:
    """The content is what its declared type says: a signature for binary types, UTF-8 text without NUL
    for text types, and JSON that parses (within API_JSON_MAX_DEPTH) for application/json.
    A type allowed by settings that we know no check for is accepted as declared."""
    if content_type in ATTACHMENT_SIGNATURES:
        return _read_upload(upload, 16).startswith(ATTACHMENT_SIGNATURES[content_type])
    if content_type not in TEXT_ATTACHMENT_TYPES:
        return True
    try:
        text = _read_upload(upload).decode("utf-8")
    except UnicodeDecodeError:
        return False
    if "\x00" in text:
        return False
    if content_type == "application/json":
        if json_nesting_exceeds(text, settings.API_JSON_MAX_DEPTH):
            return False
        try:
            json.loads(text)
        except ValueError:
            return False
    return True


def _add_message(
    *, ticket: Ticket, author: User | None, body: str, internal: bool, staff: bool, attachments, now: datetime
) -> TicketMessage:
    checked = _validate_attachments(attachments)
    message = TicketMessage.objects.create(
        ticket=ticket, author=author, body=body, is_internal=internal, is_from_staff=staff, created_at=now
    )
    for upload, content_type in checked:
        Attachment.objects.create(
            message=message,
            file=upload,
            filename=(getattr(upload, "name", "") or "attachment")[-255:],
            size=upload.size,
            content_type=content_type,
            created_at=now,
        )
    return message


# --- create ---------------------------------------------------------------------------------------

_SET_REFERENCE_SQL = "UPDATE tickets_ticket SET reference = %s WHERE id = %s"


@functools.cache
def _ticket_history():
    """The history manager, built once: `Ticket.history` builds a new manager class on every access."""
    return Ticket.history


# `reference_for`'s format in SQL, for statements that take the id from the sequence themselves.
REFERENCE_SQL = "'TB-' || CASE WHEN id < 1000000 THEN lpad(id::text, 6, '0') ELSE id::text END"
NEXT_TICKET_ID_SQL = f"SELECT nextval(pg_get_serial_sequence('{Ticket._meta.db_table}', 'id')) AS id"


@functools.cache
def _ticket_insert(given_id: bool = False) -> tuple[str, list]:
    """PostgreSQL: one statement that takes the id from the sequence (or, with `given_id`, from its first
    parameter: an id taken earlier, see `tickets.intake`), inserts the ticket with its reference
    (`reference_for`'s format) and its creation history row, and returns both. Built once per process
    from the models' fields, so a new field is written without touching this."""
    quote = connection.ops.quote_name
    fields = [field for field in Ticket._meta.concrete_fields if field.attname not in ("id", "reference")]
    history = _ticket_history().model
    tracked = [history._meta.get_field(field.name).column for field in history.tracked_fields]
    history_own = ["history_date", "history_change_reason", "history_type", "history_user_id"]
    table, history_table = quote(Ticket._meta.db_table), quote(history._meta.db_table)
    ticket_columns = ", ".join(quote(field.column) for field in fields)
    history_columns = ", ".join(quote(column) for column in [*tracked, *history_own])
    copied = ", ".join(f"new_ticket.{quote(column)}" for column in tracked)
    values = ", ".join(["%s"] * len(fields))
    # Only the models' own (quoted) table and column names are formatted in; every value is a parameter.
    new_id = "SELECT %s::bigint AS id" if given_id else NEXT_TICKET_ID_SQL
    insert = f"INSERT INTO {table} (id, reference, {ticket_columns}) SELECT id, {REFERENCE_SQL}, {values} FROM new_id"  # noqa: S608
    history_insert = f"INSERT INTO {history_table} ({history_columns}) SELECT {copied}, %s, %s, '+', %s FROM new_ticket"  # noqa: S608
    sql = f"WITH new_id AS ({new_id}), new_ticket AS ({insert} RETURNING *) {history_insert} RETURNING id, reference"
    return sql, fields


def _insert_with_history(ticket: Ticket, *, history_user: User | None) -> None:
    """Insert the new ticket, set its reference (derived from the id) and write its creation history row.

    On PostgreSQL that is one statement without the ORM's compiler (three before, and compiling the inserts
    cost more CPU than running them); elsewhere the ORM's insert, an UPDATE and simple-history's bulk insert.
    """
    if connection.vendor != "postgresql":
        ticket.save_without_historical_record()
        ticket.reference = reference_for(ticket.pk)
        with connection.cursor() as cursor:
            cursor.execute(_SET_REFERENCE_SQL, [ticket.reference, ticket.pk])
        _ticket_history().bulk_history_create([ticket], default_user=history_user)
        return
    sql, fields = _ticket_insert(given_id=ticket.pk is not None)
    params = [ticket.pk] if ticket.pk is not None else []
    params += [field.get_db_prep_save(field.pre_save(ticket, True), connection) for field in fields]
    # simple-history's own values for a creation row: now, no change reason, '+' (created), the user.
    params += [timezone.now(), "", history_user.pk if history_user is not None else None]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        ticket.pk, ticket.reference = cursor.fetchone()
    ticket._state.adding = False
    ticket._state.db = connection.alias


def ticket_check_input(
    *, type: str, priority: str, channel: str, subject: str, description: str, browser_info: str, url: str
) -> tuple[str, str, str, str]:
    """The checks a new ticket's fields must pass; returns subject, description, browser_info and url trimmed.
    Also run where a ticket is accepted before it is filed (`tickets.intake`), so filing cannot refuse it."""
    _check_choice(type, Ticket.Type, "type")
    _check_choice(priority, Ticket.Priority, "priority")
    _check_choice(channel, Ticket.Channel, "channel")
    subject = _check_text(subject, "subject", max_length=200)
    description = _check_text(description, "description", max_length=50_000)
    browser_info = _check_text(browser_info, "browser_info", max_length=500, required=False)
    url = _check_text(url, "url", max_length=2000, required=False)
    if url:
        try:
            HTTP_URL(url)
        except ValidationError as exc:
            message = "Enter a valid http(s) URL."
            raise ApplicationError(
                f"The url is not valid: {url[:100]}", code="invalid", fields={"url": [message]}
            ) from exc
    return subject, description, browser_info, url


def ticket_create(
    *,
    requester: User | None,
    organization: Organization | None,
    type: str,
    priority: str,
    subject: str,
    description: str,
    reproduction_steps: str = "",
    browser_info: str = "",
    url: str = "",
    channel: str,
    actor: User | None = None,
    created_at: datetime | None = None,
    acknowledge: bool = True,
    ticket_id: int | None = None,
    tier: str | None = None,
    sla_policy: SLAPolicy | None = None,
) -> Ticket:
    """File a ticket: tier, routing, the active SLA policy version, due times, round-robin, notifications.

    `created_at` lets imports (email, demo data) keep the original instant; the clocks start there.
    `ticket_id` is an id already taken from the tickets' sequence (a widget ticket accepted earlier, whose
    reference the customer was given; PostgreSQL only); `tier` and `sla_policy` are those its promise was
    made with (else the requester's current tier and the active version).
    `acknowledge=False` leaves the requester's acknowledgement to the caller (email intake threads it first).
    """
    subject, description, browser_info, url = ticket_check_input(
        type=type,
        priority=priority,
        channel=channel,
        subject=subject,
        description=description,
        browser_info=browser_info,
        url=url,
    )
    now = timezone.now()
    created_at = created_at or now
    if created_at > now + timedelta(minutes=5):
        raise ApplicationError(
            "A ticket cannot be created in the future.", code="invalid", fields={"created_at": ["In the future."]}
        )

    policy = sla_policy or sla_policies.active_policy()
    # The refusals (bad input, no active SLA version) are raised above; what follows routes and writes (a
    # published version has every target cell), so it needs no savepoint of its own inside a caller's
    # transaction (email intake, the widget's idempotent submit): a failure rolls back with the caller's
    # transaction or savepoint.
    with transaction.atomic(savepoint=False):
        tier = tier or resolve_tier(user=requester, organization=organization)
        route = routing.route(type=type, priority=priority, tier=tier)
        ticket = Ticket(
            id=ticket_id,
            user=requester,
            organization=organization,
            type=type,
            priority=priority,
            subject=subject,
            description=description,
            reproduction_steps=reproduction_steps or "",
            browser_info=browser_info,
            url=url,
            channel=channel,
            status=Ticket.Status.NEW,
            team=route.team,
            priority_queue=route.priority_queue,
            tier=tier,
            created_at=created_at,
            updated_at=now,
        )
        sla_policies.start_clocks(ticket, policy=policy, now=now)
        # A beta organization's dedicated rep takes its tickets while available; otherwise routing as usual.
        beta_profile = beta.beta_profile_of_organization(organization)
        ticket.assignee = beta.beta_dedicated_rep(beta_profile) or routing.next_round_robin_assignee(
            team_slug=route.team
        )
        _insert_with_history(ticket, history_user=actor or requester)

        _audit(
            actor or requester,
            "create",
            ticket,
            {
                "type": type,
                "priority": priority,
                "tier": tier,
                "team": route.team,
                "channel": channel,
                "sla_policy": policy.version,
            },
        )
        if priority == Ticket.Priority.CRITICAL:
            _notifications().notify_ticket_created_critical(ticket)
        if ticket.assignee is not None:
            _notifications().notify_ticket_assigned(ticket, None)
        _notifications().notify_beta_ticket(ticket, beta_profile)
        if acknowledge:
            _customer_emails().notify_customer_ticket_created(ticket)
        if requester is not None and not getattr(requester, "_account_created_now", False):
            # Articles this person opened from a suggestion in the last half hour did not deflect this ticket
            # (an account made for this very ticket, by the email intake, has opened none).
            kb_ticket_filed(user=requester, filed_at=created_at)  # when sent (a widget ticket is filed later)
        return ticket


# --- conversation --------------------------------------------------------------------------------


def _is_customer_of(ticket: Ticket, user: User) -> bool:
    if ticket.user_id == user.pk:
        return True
    return bool(
        ticket.organization_id and Membership.objects.filter(user=user, organization_id=ticket.organization_id).exists()
    )


@transaction.atomic
def ticket_reply(
    *,
    ticket: Ticket,
    author: User,
    body: str,
    attachments: Sequence[Any] = (),
    expected_version: int | None = None,
) -> TicketMessage:
    """A public reply. Staff: the first stops the first-response clock, each stops the next-response clock.
    Customer: restarts the next-response clock; reopens a solved ticket within TICKET_REOPEN_WINDOW_DAYS;
    moves a pending ticket back to open (clocks resume)."""
    body = _check_text(body, "body", max_length=20_000)
    ticket = _lock(ticket, expected_version)
    now = timezone.now()
    if ticket.status == Ticket.Status.CLOSED:
        raise _closed_error(ticket)
    staff = _is_staff(author)
    if staff:
        _require_can_work(author, ticket)
    changed: set[str] = set()
    changes: dict[str, Any] = {}
    if staff:
        if ticket.first_responded_at is None:
            ticket.first_responded_at = now
            changed.add("first_responded_at")
            changes["first_response"] = "stopped"
        if ticket.next_response_due_at is not None:
            ticket.next_response_due_at = None
            changed.add("next_response_due_at")
        if ticket.status == Ticket.Status.NEW:
            ticket.status = Ticket.Status.OPEN
            changed.add("status")
            changes["status"] = [Ticket.Status.NEW, Ticket.Status.OPEN]
    else:
        if not _is_customer_of(ticket, author):
            raise ApplicationError(
                "Only the requester's organization or support staff may reply.", code="forbidden", status=403
            )
        ticket.last_customer_message_at = now
        changed.add("last_customer_message_at")
        if ticket.status == Ticket.Status.SOLVED:
            window = timedelta(days=settings.TICKET_REOPEN_WINDOW_DAYS)
            if ticket.solved_at is not None and now - ticket.solved_at > window:
                raise ApplicationError(
                    f"{ticket.reference} was solved more than {settings.TICKET_REOPEN_WINDOW_DAYS} days ago; "
                    "please open a new ticket.",
                    code="reopen_window_passed",
                )
            sla_policies.reopen_resolution(ticket, now=now)
            ticket.status = Ticket.Status.OPEN
            changed |= {"status", "solved_at", "paused_at", "resolution_due_at", "resolution_elapsed_minutes"}
            changes["status"] = [Ticket.Status.SOLVED, Ticket.Status.OPEN]
        elif ticket.status == Ticket.Status.PENDING:
            sla_policies.resume_clocks(ticket, now=now)
            ticket.status = Ticket.Status.OPEN
            changed |= {"status", "paused_at", *_clock_fields()}
            changes["status"] = [Ticket.Status.PENDING, Ticket.Status.OPEN]
        if ticket.status in (Ticket.Status.NEW, Ticket.Status.OPEN):
            sla_policies.start_next_response(ticket, now=now)
            changed |= {"next_response_due_at", "next_response_elapsed_minutes"}
        # On hold stays on hold (an internal decision); the clocks stay paused.
    sla_policies.refresh_next_due(ticket, now=now)
    changed |= {"next_due_at", "sla_warning_at", "sla_state"}
    message = _add_message(
        ticket=ticket, author=author, body=body, internal=False, staff=staff, attachments=attachments, now=now
    )
    _save(ticket, changed, actor=author, now=now)
    _audit(author, "reply", ticket, {"message": message.pk, "from_staff": staff, **changes})
    if ticket.organization_id:
        _notifications().notify_beta_reply(ticket, message, beta.beta_profile_of_organization(ticket.organization_id))
    if staff:
        _customer_emails().notify_customer_reply(ticket, message)
    return message


def _clock_fields() -> set[str]:
    return {
        "first_response_due_at",
        "next_response_due_at",
        "resolution_due_at",
        "first_response_elapsed_minutes",
        "next_response_elapsed_minutes",
        "resolution_elapsed_minutes",
    }


@transaction.atomic
def ticket_add_note(
    *,
    ticket: Ticket,
    author: User,
    body: str,
    attachments: Sequence[Any] = (),
    expected_version: int | None = None,
) -> TicketMessage:
    """An internal note: staff only, never shown to the customer, no effect on the clocks or the version."""
    _require_queue_role(author)
    body = _check_text(body, "body", max_length=20_000)
    ticket = _lock(ticket, expected_version)
    _require_can_work(author, ticket)
    message = _add_message(
        ticket=ticket, author=author, body=body, internal=True, staff=True, attachments=attachments, now=timezone.now()
    )
    _audit(author, "note", ticket, {"message": message.pk})
    return message


# --- assignment ----------------------------------------------------------------------------------


def _assign_allowed(ticket: Ticket, *, assignee: User | None, actor: User) -> bool:
    """The rules of an assignment (raise when broken); False when the ticket already has that assignee."""
    _require_can_work(actor, ticket)
    if ticket.status == Ticket.Status.CLOSED:
        raise _closed_error(ticket)
    if assignee is not None and (not assignee.is_active or not has_role(assignee, *QUEUE_ROLES)):
        message = f"{assignee} does not work the support queue."
        raise ApplicationError(message, code="invalid_assignee", fields={"assignee": [message]})
    own = (assignee is not None and assignee.pk == actor.pk) or (assignee is None and ticket.assignee_id == actor.pk)
    if not own and not has_role(actor, *LEAD_ROLES):
        raise ApplicationError("Only a support lead may assign tickets to others.", code="forbidden", status=403)
    return ticket.assignee_id != (assignee.pk if assignee else None)


def _assign(ticket: Ticket, *, assignee: User | None, actor: User, now: datetime) -> bool:
    if not _assign_allowed(ticket, assignee=assignee, actor=actor):
        return False
    previous = ticket.assignee_id
    ticket.assignee = assignee
    _save(ticket, {"assignee"}, actor=actor, now=now)
    _audit(actor, "assign", ticket, {"assignee": [previous, assignee.pk if assignee else None]})
    if assignee is not None and assignee.pk != actor.pk:
        _notifications().notify_ticket_assigned(ticket, actor)
    return True


@transaction.atomic
def ticket_assign(*, ticket: Ticket, assignee: User | None, actor: User, expected_version: int | None = None) -> Ticket:
    """Give the ticket to a queue member (leads: anyone; others: themselves); None unassigns."""
    _require_queue_role(actor)
    ticket = _lock(ticket, expected_version)
    _assign(ticket, assignee=assignee, actor=actor, now=timezone.now())
    return ticket


@transaction.atomic
def ticket_claim(*, ticket: Ticket, actor: User, expected_version: int | None = None) -> Ticket:
    """Take an unassigned ticket (or one already yours)."""
    _require_queue_role(actor)
    ticket = _lock(ticket, expected_version)
    if ticket.assignee_id not in (None, actor.pk):
        raise ApplicationError(
            f"{ticket.reference} is already assigned to {ticket.assignee}.", code="already_assigned", status=409
        )
    _assign(ticket, assignee=actor, actor=actor, now=timezone.now())
    return ticket


@dataclass(frozen=True)
class BulkSkip:
    """A selected ticket a bulk action left alone, and why (`stale`, `closed`, `unchanged`)."""

    ticket_id: int
    reference: str
    reason: str


@dataclass
class BulkResult:
    updated: list[Ticket] = dataclasses.field(default_factory=list)
    skipped: list[BulkSkip] = dataclasses.field(default_factory=list)


def _lock_many(tickets: Sequence[Ticket]) -> list[Ticket]:
    """The rows, locked in id order in one query (a fixed lock order: two bulk actions cannot deadlock)."""
    return list(
        Ticket.objects.select_for_update(of=("self",))
        .select_related("sla_policy__calendar", "organization", "assignee")
        .filter(pk__in=[ticket.pk for ticket in tickets])
        .order_by("pk")
    )


def _save_many(tickets: Sequence[Ticket], fields: Iterable[str], *, actor: User, now: datetime) -> None:
    """`_save` for many rows: one UPDATE (a batch per few thousand values) and one history INSERT."""
    for ticket in tickets:
        ticket.version += 1
        ticket.updated_at = now
    Ticket.objects.bulk_update(tickets, sorted({*fields, "version", "updated_at"}))
    Ticket.history.bulk_history_create(tickets, update=True, default_user=actor, default_date=now)


def _bulk_skip(ticket: Ticket, expected_versions: Mapping[int, int] | None) -> BulkSkip | None:
    """Stale before closed: a ticket changed since the page was rendered is not the ticket the user chose."""
    if expected_versions is not None and expected_versions.get(ticket.pk) != ticket.version:
        return BulkSkip(ticket.pk, ticket.reference, "stale")
    if ticket.status == Ticket.Status.CLOSED:
        return BulkSkip(ticket.pk, ticket.reference, "closed")
    return None


@transaction.atomic
def ticket_bulk_assign(
    *,
    tickets: Sequence[Ticket],
    assignee: User | None,
    actor: User,
    expected_versions: Mapping[int, int] | None = None,
) -> BulkResult:
    """Assign the selected tickets; each change audited. Tickets whose version is not the one the caller saw
    (`expected_versions`: id -> version) and closed tickets are skipped, the rest applied. A rule broken
    by the action itself (a rep assigning to someone else, an assignee outside the queue) changes nothing.

    Set-based: one locking SELECT, one UPDATE, one history INSERT and one notification INSERT for all the
    tickets; only the audit trail is written per ticket (one event each, as for a single change)."""
    _require_queue_role(actor)
    now = timezone.now()
    result = BulkResult()
    previous = {}
    for ticket in _lock_many(tickets):
        if skip := _bulk_skip(ticket, expected_versions):
            result.skipped.append(skip)
        elif _assign_allowed(ticket, assignee=assignee, actor=actor):
            previous[ticket.pk] = ticket.assignee_id
            ticket.assignee = assignee
            result.updated.append(ticket)
        else:
            result.skipped.append(BulkSkip(ticket.pk, ticket.reference, "unchanged"))
    if result.updated:
        _save_many(result.updated, {"assignee"}, actor=actor, now=now)
        for ticket in result.updated:
            changes = {"assignee": [previous[ticket.pk], assignee.pk if assignee else None], "bulk": True}
            _audit(actor, "assign", ticket, changes)
        if assignee is not None and assignee.pk != actor.pk:
            _notifications().notify_tickets_assigned(result.updated, actor)
    return result


# --- status and priority -------------------------------------------------------------------------


def _transition(ticket: Ticket, *, status: str, now: datetime) -> set[str]:
    """Move the ticket to `status`, keeping the clocks right. Returns the fields changed."""
    old = ticket.status
    if old == Ticket.Status.CLOSED:
        raise _closed_error(ticket)
    if status == Ticket.Status.NEW:
        raise ApplicationError(
            "A ticket cannot be moved back to New.", code="invalid_transition", fields={"status": ["Not allowed."]}
        )
    fields = {
        "status",
        "paused_at",
        "solved_at",
        "closed_at",
        "next_due_at",
        "sla_warning_at",
        "sla_state",
        *_clock_fields(),
    }
    paused_statuses = (Ticket.Status.PENDING, Ticket.Status.ON_HOLD)
    # Leave the old state: a solved ticket's resolution clock continues, a paused ticket's clocks run again.
    if old == Ticket.Status.SOLVED and status != Ticket.Status.CLOSED:
        sla_policies.reopen_resolution(ticket, now=now)
    elif old in paused_statuses and status == Ticket.Status.OPEN:
        sla_policies.resume_clocks(ticket, now=now)
    # Enter the new state.
    if status in paused_statuses:
        sla_policies.pause_clocks(ticket, now=now)
    elif status in (Ticket.Status.SOLVED, Ticket.Status.CLOSED):
        if old != Ticket.Status.SOLVED:
            sla_policies.stop_resolution(ticket, now=now)
        if status == Ticket.Status.CLOSED:
            ticket.closed_at = now
    ticket.status = status
    sla_policies.refresh_next_due(ticket, now=now)
    return fields


@transaction.atomic
def ticket_set_status(*, ticket: Ticket, status: str, actor: User, expected_version: int | None = None) -> Ticket:
    """Change the status. Pending/on hold pause the clocks, open resumes them, solved stops them, closed is final."""
    _require_queue_role(actor)
    _check_choice(status, Ticket.Status, "status")
    ticket = _lock(ticket, expected_version)
    _require_can_work(actor, ticket)
    if ticket.status == status:
        return ticket
    old = ticket.status
    now = timezone.now()
    fields = _transition(ticket, status=status, now=now)
    _save(ticket, fields, actor=actor, now=now)
    _audit(actor, "status", ticket, {"status": [old, status]})
    _customer_emails().notify_customer_status(ticket)
    return ticket


@transaction.atomic
def ticket_bulk_set_status(
    *, tickets: Sequence[Ticket], status: str, actor: User, expected_versions: Mapping[int, int] | None = None
) -> BulkResult:
    """Set the status of the selected tickets; stale and closed ones are skipped (see `ticket_bulk_assign`)."""
    _require_queue_role(actor)
    _check_choice(status, Ticket.Status, "status")
    if status == Ticket.Status.NEW:
        raise ApplicationError(
            "A ticket cannot be moved back to New.", code="invalid_transition", fields={"status": ["Not allowed."]}
        )
    now = timezone.now()
    result = BulkResult()
    locked = _lock_many(tickets)
    sla_policies.prefetch_targets(locked)  # one query for every ticket's targets
    previous = {}
    for ticket in locked:
        _require_can_work(actor, ticket)
        if skip := _bulk_skip(ticket, expected_versions):
            result.skipped.append(skip)
            continue
        if ticket.status == status:
            result.skipped.append(BulkSkip(ticket.pk, ticket.reference, "unchanged"))
            continue
        previous[ticket.pk] = ticket.status
        fields = _transition(ticket, status=status, now=now)
        result.updated.append(ticket)
    if result.updated:
        # Every ticket's changed fields (the same set for one target status), written in one UPDATE.
        _save_many(result.updated, fields, actor=actor, now=now)
        # The requesters in one query, for the customers' status emails.
        prefetch_related_objects(result.updated, "user")
        for ticket in result.updated:
            _audit(actor, "status", ticket, {"status": [previous[ticket.pk], status], "bulk": True})
            _customer_emails().notify_customer_status(ticket)
    return result


@transaction.atomic
def ticket_set_priority(*, ticket: Ticket, priority: str, actor: User, expected_version: int | None = None) -> Ticket:
    """Change the priority; the running clocks get the targets of the ticket's own policy version."""
    _require_queue_role(actor)
    _check_choice(priority, Ticket.Priority, "priority")
    ticket = _lock(ticket, expected_version)
    _require_can_work(actor, ticket)
    if ticket.status == Ticket.Status.CLOSED:
        raise _closed_error(ticket)
    if ticket.priority == priority:
        return ticket
    old = ticket.priority
    now = timezone.now()
    sla_policies.retarget(ticket, new_priority=priority, now=now)
    _save(ticket, {"priority", "next_due_at", "sla_warning_at", "sla_state", *_clock_fields()}, actor=actor, now=now)
    _audit(actor, "priority", ticket, {"priority": [old, priority]})
    return ticket


@transaction.atomic
def ticket_set_component(
    *, ticket: Ticket, component: Component | None, actor: User, expected_version: int | None = None
) -> Ticket:
    """Say which part of TourBrain the ticket is about (None: not known); audited."""
    _require_queue_role(actor)
    ticket = _lock(ticket, expected_version)
    _require_can_work(actor, ticket)
    if ticket.status == Ticket.Status.CLOSED:
        raise _closed_error(ticket)
    new = component.pk if component else None
    if ticket.component_id == new:
        return ticket
    old = ticket.component_id
    ticket.component = component
    _save(ticket, {"component"}, actor=actor, now=timezone.now())
    _audit(actor, "component", ticket, {"component": [old, new]})
    return ticket


# --- roadmap -------------------------------------------------------------------------------------


@transaction.atomic
def ticket_merge_duplicate(*, duplicate: Ticket, original: Ticket, actor: User) -> Ticket:
    """Fold a feature request into another (the roadmap counts them together); the duplicate is solved."""
    if not has_role(actor, Role.PRODUCT_MANAGER, *LEAD_ROLES):
        raise ApplicationError(
            "Only a product manager or a support lead may merge requests.", code="forbidden", status=403
        )
    for item, field in ((duplicate, "duplicate"), (original, "original")):
        if item.type != Ticket.Type.FEATURE_REQUEST:
            message = f"{item.reference} is not a feature request."
            raise ApplicationError(message, code="not_feature_request", fields={field: [message]})
    root_id = original.duplicate_of_id or original.pk
    if root_id == duplicate.pk:
        raise ApplicationError(
            "A request cannot be a duplicate of itself.", code="invalid", fields={"original": ["Same request."]}
        )
    ticket = _lock(duplicate, None)
    now = timezone.now()
    fields = {"duplicate_of"}
    ticket.duplicate_of_id = root_id
    if ticket.status not in (Ticket.Status.SOLVED, Ticket.Status.CLOSED):
        fields |= _transition(ticket, status=Ticket.Status.SOLVED, now=now)
    _save(ticket, fields, actor=actor, now=now)
    # Requests that pointed at the duplicate now point at the root (groups stay one level deep).
    Ticket.objects.filter(duplicate_of_id=ticket.pk).update(duplicate_of_id=root_id)
    _audit(actor, "merge", ticket, {"duplicate_of": root_id})
    return ticket


# --- periodic ------------------------------------------------------------------------------------


@transaction.atomic
def tickets_close_solved(*, now: datetime | None = None, batch_size: int = 5000) -> int:
    """Close tickets solved more than TICKET_AUTO_CLOSE_DAYS ago (set-based; safe to rerun)."""
    now = now or timezone.now()
    cutoff = now - timedelta(days=settings.TICKET_AUTO_CLOSE_DAYS)
    total = 0
    while True:
        ids = list(
            Ticket.objects.filter(status=Ticket.Status.SOLVED, solved_at__lte=cutoff)
            .select_for_update(skip_locked=True)
            .order_by("solved_at")
            .values_list("id", flat=True)[:batch_size]
        )
        if not ids:
            break
        Ticket.objects.filter(pk__in=ids, status=Ticket.Status.SOLVED).update(
            status=Ticket.Status.CLOSED, closed_at=now, version=F("version") + 1, updated_at=now
        )
        record_history(ids, at=now, reason="Closed automatically")
        for ticket in Ticket.objects.filter(pk__in=ids).select_related("user"):
            _customer_emails().notify_customer_status(ticket)
        total += len(ids)
        if len(ids) < batch_size:
            break
    if total:
        audit_record(
            actor=None,
            action="update",
            resource_type="ticket",
            resource_id=None,
            changes={"operation": "auto_close", "closed": total, "solved_before": cutoff.isoformat()},
        )
    return total


# --- SLA policies --------------------------------------------------------------------------------


@transaction.atomic
def sla_policy_publish(
    *,
    actor: User,
    targets: Sequence[dict],
    calendar: BusinessCalendarConfig | None = None,
    name: str = "",
    notes: str = "",
) -> SLAPolicy:
    """Publish a new policy version (leads only). `targets`: one dict per tier x priority cell with
    first_response_minutes, next_response_minutes, resolution_minutes. Tickets keep their version."""
    _require_lead(actor)
    current = SLAPolicy.objects.select_for_update().filter(is_active=True).first()
    calendar = calendar or (current.calendar if current else None)
    if calendar is None:
        raise ApplicationError(
            "Choose a business calendar for the policy.", code="required", fields={"calendar": ["Required."]}
        )
    cells: dict[tuple[str, str], dict] = {}
    for row in targets:
        tier = _check_choice(row.get("tier"), Tier, "tier")
        priority = _check_choice(row.get("priority"), Ticket.Priority, "priority")
        values = {}
        for key in ("first_response_minutes", "next_response_minutes", "resolution_minutes"):
            value = row.get(key)
            if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= 525_600:
                message = f"{key.replace('_', ' ')} must be a whole number of business minutes from 1 to 525600."
                raise ApplicationError(message, code="invalid", fields={f"{tier}.{priority}.{key}": [message]})
            values[key] = value
        cells[(tier, priority)] = values
    missing = [
        f"{tier}/{priority}" for tier in Tier.values for priority in PRIORITY_ORDER if (tier, priority) not in cells
    ]
    if missing:
        raise ApplicationError(
            f"Every tier x priority needs targets; missing: {', '.join(missing)}.", code="incomplete_policy"
        )
    version = (SLAPolicy.objects.aggregate(latest=Max("version"))["latest"] or 0) + 1
    SLAPolicy.objects.filter(is_active=True).update(is_active=False)
    policy = SLAPolicy.objects.create(
        version=version,
        name=name or (current.name if current else "Default"),
        calendar=calendar,
        is_active=True,
        notes=notes,
        created_by=actor,
    )
    SLATarget.objects.bulk_create(
        SLATarget(policy=policy, tier=tier, priority=priority, **values) for (tier, priority), values in cells.items()
    )
    audit_record(
        actor=actor,
        action="create",
        resource_type="sla_policy",
        resource_id=policy.pk,
        changes={"version": version, "previous": current.version if current else None},
    )
    return policy
