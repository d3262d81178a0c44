"""GDPR: consent and privacy-policy versions, data-subject requests (access export, erasure), transfers.

Finding a person's data: every model outside the append-only audit log that points at the user (a
foreign key to the user model, at any app), then every model that points at those rows (one more hop:
messages on their tickets, attachments of their messages, history rows), plus any email column equal to
their address (and the outbox's recipient: notifications sent to them). The access export serialises all
of it; erasure anonymises the user row, wipes free text the person wrote, replaces their email, name and
IPs wherever else those rows mention them, deletes their files, and hands the audit log's personal-data
store to the audit log's own erasure, which leaves the sealed rows (and so `audit_verify`) intact.

Completing a request tells the person, once: an access request through the notification outbox (the
export is on their privacy page), an erasure request by one email sent after the erasure commits to the
address captured before it, which is never written anywhere (see `_erasure_notice_send`).
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from django.apps import apps
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.mail import EmailMessage, get_connection, send_mail
from django.core.serializers.json import DjangoJSONEncoder
from django.db import IntegrityError, models, transaction
from django.db.models import Count, Exists, OuterRef, Q
from django.urls import reverse
from django.utils import timezone

from audit.models import (
    ConsentRecord,
    CrossBorderTransfer,
    DataSubjectRequest,
    LoginLockout,
    PrivacyPolicyVersion,
)
from audit.security import pseudonym
from audit.services import audit_record
from tourbrain_support.api import ApplicationError
from tourbrain_support.erasure import erasure_steps_run
from tourbrain_support.notifications.models import OutboxMessage
from tourbrain_support.notifications.outbox import outbox_enqueue

logger = logging.getLogger(__name__)

ERASED = "[erased]"
EXPORT_FORMAT_VERSION = 1
# A foreign key with one of these names means the row is the person's own writing: its free text goes.
AUTHOR_FIELDS = {"user", "author", "owner", "requester", "created_by", "submitted_by", "reporter", "customer"}
# Handled explicitly (append-only audit tables, this module's own models) or holding no personal text.
_SKIP_APPS = {"audit", "contenttypes", "sessions"}
_SKIP_MODELS = {"auth.permission", "auth.group"}
# Text columns that hold an email address without being an EmailField (the outbox's recipient is an
# address or a Slack target): searched, exported and scrubbed like email columns.
_ADDRESS_COLUMNS = {"notifications.outboxmessage": ["recipient"], "tickets.ticketemail": ["sender"]}
# The completion notice's email header and outbox kind (OutboxMessage.Kind.GDPR_REQUEST_COMPLETED).
NOTICE_KIND = "gdpr.request_completed"


# --- policy versions and consent ----------------------------------------------------------------


@transaction.atomic
def policy_version_publish(
    *, version: str, published_at: datetime | None = None, url: str = "", text: str = "", actor=None
) -> PrivacyPolicyVersion:
    if PrivacyPolicyVersion.objects.filter(version=version).exists():
        raise ApplicationError(f"Policy version {version} already exists.")
    policy = PrivacyPolicyVersion.objects.create(
        version=version, published_at=published_at or timezone.now(), url=url, text=text
    )
    audit_record(
        actor=actor,
        action="create",
        resource_type="privacy_policy",
        resource_id=policy.pk,
        changes={"version": version},
    )
    return policy


def policy_version_current() -> PrivacyPolicyVersion | None:
    return PrivacyPolicyVersion.objects.filter(published_at__lte=timezone.now()).order_by("-published_at").first()


@transaction.atomic
def consent_record(
    *,
    user,
    purpose: str,
    granted: bool,
    source: str,
    policy_version: PrivacyPolicyVersion | None = None,
    at: datetime | None = None,
    request=None,
) -> ConsentRecord:
    """Append one grant or withdrawal (the history is the evidence; the latest record is the state)."""
    if purpose not in ConsentRecord.Purpose.values:
        raise ApplicationError(
            f"Unknown consent purpose {purpose!r}.",
        )
    if source not in ConsentRecord.Source.values:
        raise ApplicationError(f"Unknown consent source {source!r}.")
    if purpose == ConsentRecord.Purpose.PRIVACY_POLICY and policy_version is None:
        policy_version = policy_version_current()
        if policy_version is None:
            raise ApplicationError("No privacy policy version is published.")
    record = ConsentRecord.objects.create(
        user=user,
        purpose=purpose,
        granted=granted,
        source=source,
        policy_version=policy_version,
        recorded_at=at or timezone.now(),
    )
    audit_record(
        actor=user,
        action="create" if granted else "update",
        resource_type="consent",
        resource_id=record.pk,
        changes={"purpose": purpose, "granted": granted, "policy_version": getattr(policy_version, "version", None)},
        request=request,
    )
    return record


def consent_state(*, user, purpose: str) -> bool:
    """Whether the user's latest record for this purpose is a grant."""
    latest = ConsentRecord.objects.filter(user=user, purpose=purpose).order_by("-recorded_at", "-id").first()
    return bool(latest and latest.granted)


def _latest_consents():
    later = ConsentRecord.objects.filter(
        user=OuterRef("user"), purpose=OuterRef("purpose"), policy_version=OuterRef("policy_version")
    ).filter(Q(recorded_at__gt=OuterRef("recorded_at")) | Q(recorded_at=OuterRef("recorded_at"), id__gt=OuterRef("id")))
    return ConsentRecord.objects.filter(user__isnull=False).exclude(Exists(later))


def policy_acceptance_rates() -> list[dict]:
    """Per privacy-policy version: users whose latest record accepts it, withdrew it, and the share of
    active users who accepted. Erased people's records (user NULL) count as accepted-then-erased: not
    in the numerator nor the denominator. Two queries whatever the data size."""
    counts = (
        _latest_consents()
        .filter(purpose=ConsentRecord.Purpose.PRIVACY_POLICY)
        .values("policy_version")
        .annotate(
            accepted=Count("user", filter=Q(granted=True), distinct=True),
            withdrawn=Count("user", filter=Q(granted=False), distinct=True),
        )
        .order_by()
    )
    by_version = {row["policy_version"]: row for row in counts}
    active_users = get_user_model().objects.filter(is_active=True).count()
    rates = []
    for policy in PrivacyPolicyVersion.objects.order_by("-published_at"):
        row = by_version.get(policy.pk, {"accepted": 0, "withdrawn": 0})
        rates.append(
            {
                "policy": policy,
                "version": policy.version,
                "published_at": policy.published_at,
                "accepted": row["accepted"],
                "withdrawn": row["withdrawn"],
                "active_users": active_users,
                "acceptance_rate": round(row["accepted"] / active_users, 4) if active_users else 0.0,
            }
        )
    return rates


# --- cross-border transfers ---------------------------------------------------------------------


def transfer_references_recorded(references: Iterable[str]) -> set[str]:
    """Which of these references are already in the transfer log (a spool replay records only the rest)."""
    return set(CrossBorderTransfer.objects.filter(reference__in=list(references)).values_list("reference", flat=True))


def transfer_record(
    *,
    recipient: str,
    country: str,
    legal_basis: str,
    data_categories: Iterable[str],
    purpose: str = "",
    reference: str = "",
    records: int = 1,
    at: datetime | None = None,
) -> CrossBorderTransfer:
    """Log one transfer of personal data to a processor abroad (call it where the data leaves)."""
    country = (country or "").upper()
    if not re.fullmatch(r"[A-Z]{2}", country):
        raise ApplicationError(
            "country must be an ISO 3166-1 alpha-2 code.",
        )
    if legal_basis not in CrossBorderTransfer.LegalBasis.values:
        raise ApplicationError(f"Unknown legal basis {legal_basis!r}.")
    categories = sorted({str(category) for category in data_categories})
    if not categories:
        raise ApplicationError("Name at least one data category.")
    return CrossBorderTransfer.objects.create(
        recipient=recipient,
        country=country,
        legal_basis=legal_basis,
        data_categories=categories,
        purpose=purpose[:200],
        reference=reference[:100],
        records=max(records, 1),
        transferred_at=at or timezone.now(),
    )


# --- data-subject requests ----------------------------------------------------------------------

_TRANSITIONS = {
    DataSubjectRequest.Status.RECEIVED: {DataSubjectRequest.Status.VERIFYING, DataSubjectRequest.Status.REJECTED},
    DataSubjectRequest.Status.VERIFYING: {DataSubjectRequest.Status.IN_PROGRESS, DataSubjectRequest.Status.REJECTED},
    DataSubjectRequest.Status.IN_PROGRESS: {DataSubjectRequest.Status.COMPLETED, DataSubjectRequest.Status.REJECTED},
    DataSubjectRequest.Status.COMPLETED: set(),
    DataSubjectRequest.Status.REJECTED: set(),
}


class DuplicateRequestError(ApplicationError):
    """The person already has an open request of this kind (the database's one-open-per-kind constraint)."""

    def __init__(self, open_request: DataSubjectRequest):
        super().__init__(
            f"Request #{open_request.pk} ({open_request.get_kind_display().lower()}) is already open for this "
            f"person, due {open_request.due_at:%Y-%m-%d}; add to it instead of logging another.",
            code="duplicate_request",
            fields={"kind": ["An open request of this kind exists."]},
        )
        self.open_request = open_request


def dsr_open_request(*, subject, kind: str) -> DataSubjectRequest | None:
    """The person's open request of this kind, if any (at most one: the constraint)."""
    if subject is None:
        return None
    return (
        DataSubjectRequest.objects.filter(subject=subject, kind=kind, status__in=DataSubjectRequest.OPEN_STATUSES)
        .order_by("received_at", "id")
        .first()
    )


def dsr_allowed_transitions(dsr: DataSubjectRequest) -> list[str]:
    order = [s.value for s in DataSubjectRequest.Status]
    return sorted(_TRANSITIONS[dsr.status], key=order.index)


@transaction.atomic
def dsr_create(
    *,
    kind: str,
    subject=None,
    subject_email: str = "",
    notes: str = "",
    received_at: datetime | None = None,
    actor=None,
    request=None,
) -> DataSubjectRequest:
    """Log a request on arrival; the 30-day clock starts at `received_at`. A second open request of one kind
    for one account is refused by the database (DuplicateRequestError, code `duplicate_request`)."""
    if kind not in DataSubjectRequest.Kind.values:
        raise ApplicationError(f"Unknown request kind {kind!r}.")
    subject_email = (subject_email or getattr(subject, "email", "") or "").strip().lower()
    if subject is None and subject_email:
        subject = get_user_model().objects.filter(email__iexact=subject_email).first()
    if not subject_email:
        raise ApplicationError("Name the person: a user or an email address.", fields={"subject_email": ["Required."]})
    dsr = DataSubjectRequest(
        kind=kind,
        subject=subject,
        subject_email=subject_email,
        notes=notes,
        subject_reference=pseudonym("subject", subject_email),
        received_at=received_at or timezone.now(),
    )
    try:
        with transaction.atomic():  # a savepoint: a refused insert leaves the caller's transaction usable
            dsr.save()
    except IntegrityError:
        open_request = dsr_open_request(subject=subject, kind=kind)
        if open_request is None:
            raise  # not the one-open-request constraint
        raise DuplicateRequestError(open_request) from None
    audit_record(
        actor=actor,
        action="create",
        resource_type="data_subject_request",
        resource_id=dsr.pk,
        changes={"kind": kind, "status": dsr.status, "due_at": dsr.due_at.isoformat()},
        request=request,
    )
    return dsr


@transaction.atomic
def dsr_transition(*, dsr: DataSubjectRequest, status: str, actor, note: str = "", request=None) -> DataSubjectRequest:
    """Move the request along the workflow; completing an erasure request erases the person."""
    dsr = DataSubjectRequest.objects.select_for_update().get(pk=dsr.pk)
    if status not in _TRANSITIONS.get(dsr.status, set()):
        raise ApplicationError(f"A {dsr.get_status_display().lower()} request cannot become {status}.")
    erased_address = ""
    if status == DataSubjectRequest.Status.COMPLETED and dsr.kind == DataSubjectRequest.Kind.ERASURE:
        if dsr.subject is None:
            raise ApplicationError("No account matches this request; reject it or attach the account first.")
        erased_address = dsr.subject.email  # the erasure replaces it; the confirmation goes here
        subject_erase(user=dsr.subject, actor=actor, request=request)
        dsr.refresh_from_db()
    previous = dsr.status
    dsr.status = status
    dsr.handled_by = actor
    if note:
        stamp = timezone.now().strftime("%Y-%m-%d %H:%M")
        dsr.notes = f"{dsr.notes}\n[{stamp}] {note}".strip()
    if status in (DataSubjectRequest.Status.COMPLETED, DataSubjectRequest.Status.REJECTED):
        dsr.completed_at = timezone.now()
    dsr.save(update_fields=["status", "handled_by", "notes", "completed_at"])
    audit_record(
        actor=actor,
        action="update",
        resource_type="data_subject_request",
        resource_id=dsr.pk,
        changes={"status": [previous, status]},
        request=request,
    )
    if status == DataSubjectRequest.Status.COMPLETED:
        _completion_notice(dsr, erased_address=erased_address)
    return dsr


# --- telling the person -------------------------------------------------------------------------


def _notice_claim(dsr_id: int) -> bool:
    """Take the request's one notice (conditional UPDATE): False when it was already sent or queued."""
    claimed = DataSubjectRequest.objects.filter(pk=dsr_id, subject_notified_at__isnull=True).update(
        subject_notified_at=timezone.now()
    )
    return bool(claimed)


def _completion_notice(dsr: DataSubjectRequest, *, erased_address: str) -> None:
    if dsr.kind == DataSubjectRequest.Kind.ERASURE:
        if erased_address:
            transaction.on_commit(lambda: _erasure_notice_send(dsr_id=dsr.pk, address=erased_address))
        return
    person = dsr.subject
    # The export downloads only from the person's own, active account; without one there is no link to send.
    if person is None or not person.is_active or not person.email or not _notice_claim(dsr.pk):
        return
    page = f"{settings.SITE_URL}{reverse('audit:privacy')}"
    outbox_enqueue(
        kind=OutboxMessage.Kind.GDPR_REQUEST_COMPLETED,
        channel=OutboxMessage.Channel.EMAIL,
        recipient=person.email,
        subject="Your copy of your TourBrain data is ready",
        body=(
            f"Hello,\n\nYour request for a copy of your data (request #{dsr.pk}, received "
            f"{dsr.received_at.astimezone(UTC):%Y-%m-%d}) is complete.\n\nSign in and download it (JSON) from "
            f"your privacy page:\n{page}\n\nIf you did not ask for this, write to {settings.SUPPORT_EMAIL}.\n\n"
            "— TourBrain Support\n"
        ),
        idempotency_key=f"{NOTICE_KIND}:{dsr.pk}",  # a second enqueue for the request writes nothing
        payload={"data_subject_request": dsr.pk, "user": person.pk},
    )


def _erasure_notice_send(*, dsr_id: int, address: str) -> None:
    """After the erasure committed: one email to the address the person had, sent from memory.

    Not through the outbox: its row would keep the address the erasure just removed (for hours of
    retries while undelivered, for good once sent), and the erasure's whole point is that no table
    holds it. The price is a single attempt: a failure is logged (without the address) and the
    request shows no notification date, so staff can tell the person another way.
    """
    if not _notice_claim(dsr_id):
        return
    dsr = DataSubjectRequest.objects.get(pk=dsr_id)
    message = EmailMessage(
        subject="Your TourBrain data has been erased",
        body=(
            f"Hello,\n\nYour erasure request (request #{dsr.pk}, received "
            f"{dsr.received_at.astimezone(UTC):%Y-%m-%d}) is complete: your TourBrain account is closed and the "
            "personal data we held about you is erased. We keep a record that the request was made and "
            "completed, without your name or email address; this email was sent to the address your account "
            f"had, which we have not kept.\n\nQuestions: {settings.SUPPORT_EMAIL}\n\n— TourBrain Support\n"
        ),
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[address],
        headers={"X-TourBrain-Notification": NOTICE_KIND},
    )
    options = {} if settings.EMAIL_TIMEOUT else {"timeout": settings.OUTBOX_SEND_TIMEOUT}
    try:
        sent = get_connection(fail_silently=False, **options).send_messages([message])
    except Exception as error:  # the erasure is done and committed; only the confirmation failed
        sent, failure = 0, type(error).__name__  # its text can quote the address (a refused recipient)
    else:
        failure = "not accepted"
    if not sent:
        DataSubjectRequest.objects.filter(pk=dsr_id).update(subject_notified_at=None)
        logger.warning("data-subject request #%s: erasure confirmation not sent (%s)", dsr_id, failure)
        return
    processor = settings.CROSS_BORDER_PROCESSORS.get("email") or {}
    if processor.get("country"):
        transfer_record(
            recipient=processor["recipient"],
            country=processor["country"],
            legal_basis=processor["legal_basis"],
            data_categories=["contact"],
            purpose=f"notification {NOTICE_KIND}",
            reference=f"data_subject_request:{dsr_id}",
        )


def dsr_list_open():
    return (
        DataSubjectRequest.objects.filter(status__in=DataSubjectRequest.OPEN_STATUSES)
        .select_related("subject", "handled_by")
        .order_by("due_at", "id")
    )


# reminder_level: 0 nothing sent, 1 the due-soon reminder went out, 2 past the deadline (alerted daily).
_REMINDED, _OVERDUE = 1, 2


def dsr_reminders_send(now: datetime | None = None) -> dict[str, int]:
    """Daily: mail the handler once when an open request falls due within GDPR_REMINDER_DAYS, and log (and
    report to Sentry) a `gdpr.request_overdue` alert for every open request past its deadline.

    The due-soon reminder is claimed by a conditional UPDATE, so a rerun the same day sends it once. Overdue
    requests are told to admins and auditors by the DataSubjectRequestOverdue alert rule (once, then daily
    until closed). Returns the reminders sent by this run and the overdue requests it alerted."""
    now = now or timezone.now()
    soon = now + timedelta(days=getattr(settings, "GDPR_REMINDER_DAYS", 7))
    sent = {"due_soon": 0, "overdue": 0}
    open_requests = DataSubjectRequest.objects.filter(status__in=DataSubjectRequest.OPEN_STATUSES)
    due_soon = open_requests.filter(due_at__lte=soon, due_at__gt=now, reminder_level__lt=_REMINDED)
    for dsr in due_soon.select_related("handled_by"):
        with transaction.atomic():
            claimed = DataSubjectRequest.objects.filter(pk=dsr.pk, reminder_level__lt=_REMINDED).update(
                reminder_level=_REMINDED
            )
            if not claimed:
                continue
            _send_reminder(dsr, now)  # an exception rolls the claim back: tomorrow's run retries
        sent["due_soon"] += 1
    overdue = list(open_requests.filter(due_at__lte=now).order_by("due_at", "id"))
    for dsr in overdue:
        _overdue_alert(dsr, now)
    sent["overdue"] = len(overdue)
    # The stage reached, kept on the request (the daily alert does not depend on it).
    DataSubjectRequest.objects.filter(pk__in=[dsr.pk for dsr in overdue], reminder_level__lt=_OVERDUE).update(
        reminder_level=_OVERDUE
    )
    return sent


def _reminder_recipients(dsr: DataSubjectRequest) -> list[str]:
    if dsr.handled_by_id and dsr.handled_by.email:
        return [dsr.handled_by.email]
    from tourbrain_support.roles import Role

    staff = get_user_model().objects.filter(is_active=True, groups__name__in=[Role.ADMIN, Role.AUDITOR])
    return sorted(set(staff.values_list("email", flat=True))) or [settings.SUPPORT_EMAIL]


def _send_reminder(dsr: DataSubjectRequest, now: datetime) -> None:
    days = (dsr.due_at - now).days
    subject = f"Data-subject request #{dsr.pk} ({dsr.get_kind_display()}) is due in {days} day(s)"
    body = (
        f"{subject}.\n\nStatus: {dsr.get_status_display()}\nReceived: {dsr.received_at:%Y-%m-%d}\n"
        f"Due: {dsr.due_at:%Y-%m-%d %H:%M} UTC\n\nOpen it at /audit/gdpr/requests/{dsr.pk}/\n"
    )
    send_mail(subject, body, settings.DEFAULT_FROM_EMAIL, _reminder_recipients(dsr))


def _overdue_alert(dsr: DataSubjectRequest, now: datetime) -> None:
    """The shared alert's log line and Sentry message (admins and auditors are told by the
    DataSubjectRequestOverdue rule). No personal data: the person is the request number."""
    from audit.alerts import AlertKind, audit_alert_raise  # audit.alerts -> tickets -> this module

    audit_alert_raise(
        kind=AlertKind.GDPR_REQUEST_OVERDUE,
        message=f"Data-subject request #{dsr.pk} ({dsr.kind}) is past its 30-day deadline",
        details={
            "status": dsr.get_status_display(),
            "received": f"{dsr.received_at.astimezone(UTC):%Y-%m-%d}",
            "due": f"{dsr.due_at.astimezone(UTC):%Y-%m-%d %H:%M} UTC",
            "days overdue": (now - dsr.due_at).days,
            "handler": f"user #{dsr.handled_by_id}" if dsr.handled_by_id else "nobody yet",
            "request": f"{settings.SITE_URL}/audit/gdpr/requests/{dsr.pk}/",
        },
        now=now,
    )


# --- finding a person's data --------------------------------------------------------------------


@dataclass
class SubjectData:
    """Rows that hold the person's data: {model: {pk: how it was reached}}."""

    direct: dict[type[models.Model], dict[str, list]] = field(default_factory=dict)
    related: dict[type[models.Model], list] = field(default_factory=dict)
    by_email: dict[type[models.Model], list] = field(default_factory=dict)


def _candidate_models() -> list[type[models.Model]]:
    result = []
    for model in apps.get_models(include_auto_created=False):
        if model._meta.app_label in _SKIP_APPS or model._meta.label_lower in _SKIP_MODELS:
            continue
        if model is get_user_model():
            continue
        result.append(model)
    return result


def _fks_to(model: type[models.Model], target: type[models.Model]) -> list[models.ForeignKey]:
    return [
        f
        for f in model._meta.get_fields()
        if isinstance(f, models.ForeignKey)
        and f.related_model is not None
        and f.related_model._meta.concrete_model is target._meta.concrete_model
    ]


def subject_data_find(user) -> SubjectData:
    """Locate the person's rows: one hop by foreign key to the user, one more hop, and email columns."""
    user_model = get_user_model()
    found = SubjectData()
    for model in _candidate_models():
        for fk in _fks_to(model, user_model):
            pks = list(model._default_manager.filter(**{fk.name: user.pk}).values_list("pk", flat=True))
            if pks:
                found.direct.setdefault(model, {})[fk.name] = pks
    for model in _candidate_models():
        for parent, by_field in found.direct.items():
            parent_pks = sorted({pk for pks in by_field.values() for pk in pks})
            for fk in _fks_to(model, parent):
                pks = model._default_manager.filter(**{f"{fk.name}__in": parent_pks}).values_list("pk", flat=True)
                found.related.setdefault(model, [])
                found.related[model] = sorted(set(found.related[model]) | set(pks))
        email_fields = [f.name for f in model._meta.concrete_fields if isinstance(f, models.EmailField)]
        email_fields += _ADDRESS_COLUMNS.get(model._meta.label_lower, [])
        if email_fields and user.email:
            query = Q(pk__in=[])
            for name in email_fields:
                query |= Q(**{f"{name}__iexact": user.email})
            pks = list(model._default_manager.filter(query).values_list("pk", flat=True))
            if pks:
                found.by_email[model] = pks
    found.related = {model: pks for model, pks in found.related.items() if pks}
    return found


def _row_dict(instance: models.Model) -> dict:
    data = {}
    for f in instance._meta.concrete_fields:
        if f.name in ("password",):
            continue
        value = getattr(instance, f.attname)
        if isinstance(f, models.FileField):
            value = value.name if value else ""
        elif isinstance(value, bytes | memoryview):
            # Binary columns hold text such as a raw email; the export shows it readable.
            value = bytes(value).decode("utf-8", "replace")
        data[f.attname] = value
    return data


def _audit_about(user) -> dict:
    """The activity log's records about the person (via the audit log's own selector)."""
    try:
        from audit.selectors import audit_subject_export
    except ImportError:
        return {"available": False, "events": []}
    return audit_subject_export(user=user)


def subject_export(*, user) -> dict:
    """Everything held on the person, machine-readable (JSON-serialisable with DjangoJSONEncoder)."""
    found = subject_data_find(user)
    sections: dict[str, list] = {}

    def add(model, pks, reason):
        for instance in model._default_manager.filter(pk__in=pks).order_by("pk"):
            sections.setdefault(model._meta.label_lower, []).append({"reached_by": reason, **_row_dict(instance)})

    for model, by_field in found.direct.items():
        for field_name, pks in by_field.items():
            add(model, pks, field_name)
    for model, pks in found.related.items():
        add(model, pks, "related")
    for model, pks in found.by_email.items():
        add(model, pks, "email")
    consents = ConsentRecord.objects.filter(user=user).select_related("policy_version").order_by("recorded_at", "id")
    requests = DataSubjectRequest.objects.filter(Q(subject=user) | Q(subject_email__iexact=user.email))
    return {
        "format_version": EXPORT_FORMAT_VERSION,
        "generated_at": timezone.now(),
        "profile": _row_dict(user),
        "roles": sorted(user.groups.values_list("name", flat=True)),
        "memberships": [
            {
                "organization": m.organization.name,
                "organization_id": m.organization_id,
                "role": m.role,
                "since": m.created_at,
            }
            for m in user.memberships.select_related("organization")
        ],
        "consents": [
            {
                "purpose": c.purpose,
                "granted": c.granted,
                "recorded_at": c.recorded_at,
                "source": c.source,
                "policy_version": c.policy_version.version if c.policy_version else None,
            }
            for c in consents
        ],
        "data_subject_requests": [
            {"id": r.pk, "kind": r.kind, "status": r.status, "received_at": r.received_at, "due_at": r.due_at}
            for r in requests
        ],
        "records": sections,
        "audit": _audit_about(user),
    }


def subject_export_json(*, user) -> str:
    return json.dumps(subject_export(user=user), cls=DjangoJSONEncoder, indent=2, sort_keys=True)


@transaction.atomic
def dsr_export(*, dsr: DataSubjectRequest, actor, request=None) -> str:
    """The access export for a request in progress; the export is itself audited."""
    if dsr.kind != DataSubjectRequest.Kind.ACCESS:
        raise ApplicationError("Only access requests are exported.")
    if dsr.status != DataSubjectRequest.Status.IN_PROGRESS:
        raise ApplicationError("Verify the person first: the request must be in progress.")
    if dsr.subject is None:
        raise ApplicationError("No account matches this request.")
    payload = subject_export_json(user=dsr.subject)
    audit_record(
        actor=actor,
        action="export",
        resource_type="data_subject_request",
        resource_id=dsr.pk,
        changes={"format": "json", "bytes": len(payload)},
        request=request,
    )
    return payload


# --- erasure ------------------------------------------------------------------------------------


def _identifier_pattern(identifiers: Iterable[str]) -> re.Pattern | None:
    parts = sorted({i for i in identifiers if i and len(i) >= 3}, key=len, reverse=True)
    if not parts:
        return None
    return re.compile("|".join(rf"(?<![\w.@-]){re.escape(p)}(?![\w@-]|\.\w)" for p in parts), re.IGNORECASE)


def _scrub_text(value, pattern: re.Pattern | None):
    if pattern is None or value is None:
        return value
    if isinstance(value, str):
        return pattern.sub(ERASED, value)
    if isinstance(value, dict):
        return {k: _scrub_text(v, pattern) for k, v in value.items()}
    if isinstance(value, list):
        return [_scrub_text(v, pattern) for v in value]
    return value


class ErasureIncompleteError(ApplicationError):
    """Some of the person's files could not be deleted: the erasure is rolled back and the request stays open."""

    def __init__(self, undeleted: list[str]):
        listed = ", ".join(undeleted)
        super().__init__(
            f"Erasure not completed: {len(undeleted)} file(s) could not be deleted and are still stored: {listed}. "
            "Nothing else was changed; fix the storage and complete the request again.",
            code="erasure_incomplete",
            fields={"files": undeleted},
        )
        self.undeleted = undeleted


def _file_delete(stored) -> bool:
    """Delete a stored file; True once it is gone (a file already missing counts), False if it is still there."""
    try:
        stored.storage.delete(stored.name)
        return not stored.storage.exists(stored.name)
    except Exception:
        logger.warning("could not delete %s", stored.name, exc_info=True)
        return False


def _scrub_rows(model, pks, pattern, *, wipe_free_text: bool, email: str, undeleted: list[str]) -> int:
    """Scrub the rows; the names of files that could not be deleted are appended to `undeleted`."""
    changed = 0
    text_fields = [
        f
        for f in model._meta.concrete_fields
        if isinstance(f, (models.CharField, models.TextField, models.JSONField, models.GenericIPAddressField))
        and not f.primary_key
        and not f.is_relation
    ]
    file_fields = [f for f in model._meta.concrete_fields if isinstance(f, models.FileField)]
    binary_fields = [f for f in model._meta.concrete_fields if isinstance(f, models.BinaryField)]
    for instance in model._default_manager.filter(pk__in=pks).iterator():
        updates = {}
        for f in binary_fields:
            # A raw email cannot be scrubbed in place (encodings, signatures): one naming the person is dropped.
            value = bytes(getattr(instance, f.attname) or b"")
            if value and pattern is not None and pattern.search(value.decode("utf-8", "replace")):
                updates[f.attname] = b""
        for f in text_fields:
            value = getattr(instance, f.attname)
            if isinstance(f, models.EmailField) and value and value.lower() == email.lower():
                new = f"erased-{pseudonym('subject', email)[:12]}@erased.invalid"
            elif isinstance(f, models.GenericIPAddressField):
                new = None if f.null else value
                if value and pattern is not None and pattern.search(value):
                    new = None if f.null else "0.0.0.0"  # noqa: S104 - a placeholder, not a bind address
            elif wipe_free_text and isinstance(f, models.TextField) and value:
                new = ERASED
            else:
                new = _scrub_text(value, pattern)
            if f.choices and new != value:
                continue  # a choice value is not free text
            if new != value:
                updates[f.attname] = new
        for f in file_fields:
            stored = getattr(instance, f.attname)
            if stored and getattr(stored, "name", stored):
                if not _file_delete(stored):
                    undeleted.append(stored.name)
                updates[f.attname] = ""
        if updates:
            model._default_manager.filter(pk=instance.pk).update(**updates)
            changed += 1
    return changed


def _audit_personal_identifiers(user) -> list[str]:
    """IPs the audit log's personal-data store holds for the person (scrubbed from other tables too)."""
    from audit.selectors import audit_subject_identifiers

    return audit_subject_identifiers(user=user)


def _audit_subject_erase(user, *, email: str, ips: list[str]) -> int:
    """Hand the audit log's personal-data store to its own erasure (sealed rows stay, digests verify):
    the person's pseudonym, plus anonymous records (failed logins, 403s) that name their email or come
    from their addresses without belonging to anyone else."""
    from audit.models import AuditPersonalData, AuditSubject
    from audit.services import audit_erase_user

    erased = audit_erase_user(user=user)
    # Single rows may go: the sealed event keeps their salted digest, so the seal still verifies.
    if email:
        erased += AuditPersonalData.objects.filter(data__icontains=email).delete()[0]
    if ips:
        claimed = AuditSubject.objects.values("subject_id")
        from_their_addresses = Q(pk__in=[])
        for ip in ips:
            from_their_addresses |= Q(data__ip=ip)
        erased += AuditPersonalData.objects.filter(from_their_addresses).exclude(subject_id__in=claimed).delete()[0]
    return erased


@transaction.atomic
def subject_erase(*, user, actor, request=None) -> dict[str, int]:
    """Erase the person: anonymise the account, wipe or scrub every row found, delete their files, erase the
    audit log's personal data. Runs in one transaction: all or nothing. A file that cannot be deleted (or is
    still there afterwards) raises ErasureIncompleteError naming it, which rolls the rows back: no record
    claims an erasure while a file remains. (Files deleted before the failure stay deleted; a retry finds
    them missing, which counts as deleted.)"""
    email, name = user.email, user.name or ""
    ips = _audit_personal_identifiers(user)
    identifiers = [email, name, *name.split(), *ips]
    pattern = _identifier_pattern(identifiers)
    summary: dict[str, int] = {}
    # What the apps keep in forms the search below cannot reach (e.g. quarantined raw mail, tickets accepted
    # but not filed yet): their own steps, first, so what a step waits for (a filing in progress) is found below.
    for label, count in erasure_steps_run(user=user).items():
        summary[label] = summary.get(label, 0) + count
    found = subject_data_find(user)
    undeleted: list[str] = []
    for model, by_field in found.direct.items():
        for field_name, pks in by_field.items():
            wipe = field_name in AUTHOR_FIELDS
            summary[model._meta.label_lower] = summary.get(model._meta.label_lower, 0) + _scrub_rows(
                model, pks, pattern, wipe_free_text=wipe, email=email, undeleted=undeleted
            )
    for group in (found.related, found.by_email):
        for model, pks in group.items():
            summary[model._meta.label_lower] = summary.get(model._meta.label_lower, 0) + _scrub_rows(
                model, pks, pattern, wipe_free_text=False, email=email, undeleted=undeleted
            )
    # Django admin's log about this account (its repr is the email).
    from django.contrib.admin.models import LogEntry
    from django.contrib.contenttypes.models import ContentType

    user_type = ContentType.objects.get_for_model(user.__class__)
    entries = LogEntry.objects.filter(content_type=user_type, object_id=str(user.pk))
    summary["admin.logentry(about)"] = _scrub_rows(
        LogEntry,
        list(entries.values_list("pk", flat=True)),
        pattern,
        wipe_free_text=False,
        email=email,
        undeleted=undeleted,
    )
    if undeleted:
        logger.error("erasure of user %s not completed: files still stored: %s", user.pk, ", ".join(undeleted))
        raise ErasureIncompleteError(undeleted)
    entries.update(object_repr=ERASED)
    # This app's own rows: consents are kept (rates stay true) but detached; lockouts go.
    summary["audit.consentrecord"] = ConsentRecord.objects.filter(user=user).update(user=None)
    summary["audit.loginlockout"] = LoginLockout.objects.filter(
        Q(user=user) | Q(scope=LoginLockout.Scope.ACCOUNT, key=pseudonym("account", email.lower()))
    ).delete()[0]
    for dsr in DataSubjectRequest.objects.filter(Q(subject=user) | Q(subject_email__iexact=email)):
        dsr.subject_email = ""
        dsr.notes = _scrub_text(dsr.notes, pattern)
        dsr.save(update_fields=["subject_email", "notes"])
    summary["audit.personal_data"] = _audit_subject_erase(user, email=email, ips=ips)
    # Last, the account itself: no name, an address that cannot receive mail, no way to log in.
    user.email = f"erased-{user.pk}@erased.invalid"
    user.name = ""
    user.is_active = False
    user.set_unusable_password()
    user.save(update_fields=["email", "name", "is_active", "password"])
    from django.contrib.sessions.models import Session

    # Sessions hold only the user id, but the person must be logged out everywhere.
    for session in Session.objects.filter(expire_date__gt=timezone.now()).iterator():
        if str(session.get_decoded().get("_auth_user_id")) == str(user.pk):
            session.delete()
    audit_record(
        actor=actor,
        action="delete",
        resource_type="user",
        resource_id=user.pk,
        changes={"erased": True, "tables": sorted(k for k, v in summary.items() if v)},
        request=request,
    )
    logger.info("erased user %s: %s", user.pk, summary)
    return summary
