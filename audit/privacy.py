"""The person's own privacy: what the account privacy page and `/api/v1/me/consents/` show and change.

Selectors read one person's policy acceptance, consent states and data-subject requests in a fixed
number of queries. Services are the self-service side of `audit.gdpr`: they write only through
`consent_record` and `dsr_create` (which audit), record nothing when nothing changes, refuse a second
open request of the same kind (the database's constraint decides a race the check loses), and hand out an
access export only to its own subject once completed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import Exists, OuterRef, Q

from audit.gdpr import (
    DuplicateRequestError,
    consent_record,
    consent_state,
    dsr_create,
    dsr_open_request,
    policy_version_current,
    subject_export_json,
)
from audit.models import ConsentRecord, DataSubjectRequest, PrivacyPolicyVersion
from audit.services import audit_record
from tourbrain_support.api import ApplicationError

Purpose = ConsentRecord.Purpose

# Purposes the person switches on and off; the privacy policy is accepted per version instead.
TOGGLE_PURPOSES = [p for p in Purpose.values if p != Purpose.PRIVACY_POLICY]
PURPOSE_DESCRIPTIONS = {
    Purpose.MARKETING_EMAIL: "Occasional email about new TourBrain features, events and offers.",
    Purpose.PRODUCT_ANALYTICS: "Usage analytics from the app, used to decide what to improve.",
    Purpose.BETA_PROGRAM: "Early access to beta features, and requests for feedback on them.",
}
REQUESTS_SHOWN = 50
PORTAL_REQUEST_NOTE = "Requested by the person on their account privacy page."


@dataclass(frozen=True)
class ConsentState:
    purpose: str
    label: str
    description: str
    granted: bool
    recorded_at: datetime | None
    source: str


@dataclass(frozen=True)
class PolicyState:
    policy: PrivacyPolicyVersion | None
    accepted: bool
    accepted_at: datetime | None
    # The latest earlier version the person accepted, when they have not accepted the current one.
    previously_accepted: str | None


@dataclass(frozen=True)
class PrivacyOverview:
    policy: PolicyState
    consents: list[ConsentState]


# --- selectors ----------------------------------------------------------------------------------


def _latest_per_purpose(user):
    later = ConsentRecord.objects.filter(user=user, purpose=OuterRef("purpose")).filter(
        Q(recorded_at__gt=OuterRef("recorded_at")) | Q(recorded_at=OuterRef("recorded_at"), id__gt=OuterRef("id"))
    )
    return ConsentRecord.objects.filter(user=user).exclude(Exists(later)).select_related("policy_version")


def _latest_for_policy(user, policy: PrivacyPolicyVersion) -> ConsentRecord | None:
    return (
        ConsentRecord.objects.filter(user=user, purpose=Purpose.PRIVACY_POLICY, policy_version=policy)
        .order_by("-recorded_at", "-id")
        .first()
    )


def privacy_overview(*, user) -> PrivacyOverview:
    """The current policy and whether the person accepted it, and each purpose's latest state (3 queries)."""
    policy = policy_version_current()
    latest = {record.purpose: record for record in _latest_per_purpose(user)}
    accepted_record = _latest_for_policy(user, policy) if policy else None
    accepted = bool(accepted_record and accepted_record.granted)
    previous = latest.get(Purpose.PRIVACY_POLICY)
    previously_accepted = None
    if not accepted and previous and previous.granted and previous.policy_version_id != getattr(policy, "pk", None):
        previously_accepted = previous.policy_version.version if previous.policy_version else None
    labels = dict(Purpose.choices)
    sources = dict(ConsentRecord.Source.choices)
    consents = []
    for purpose in TOGGLE_PURPOSES:
        record = latest.get(purpose)
        consents.append(
            ConsentState(
                purpose=purpose,
                label=labels[purpose],
                description=PURPOSE_DESCRIPTIONS.get(purpose, ""),
                granted=bool(record and record.granted),
                recorded_at=record.recorded_at if record else None,
                source=sources.get(record.source, record.source) if record else "",
            )
        )
    return PrivacyOverview(
        policy=PolicyState(
            policy=policy,
            accepted=accepted,
            accepted_at=accepted_record.recorded_at if accepted else None,
            previously_accepted=previously_accepted,
        ),
        consents=consents,
    )


def privacy_requests(*, user) -> list[DataSubjectRequest]:
    """The person's own data-subject requests, newest first (staff notes are not for this page)."""
    return list(
        DataSubjectRequest.objects.filter(subject=user)
        .only("id", "kind", "status", "received_at", "due_at", "completed_at", "subject_id")
        .order_by("-received_at", "-id")[:REQUESTS_SHOWN]
    )


def privacy_export_available(dsr: DataSubjectRequest) -> bool:
    return dsr.kind == DataSubjectRequest.Kind.ACCESS and dsr.status == DataSubjectRequest.Status.COMPLETED


# --- services -----------------------------------------------------------------------------------


def _lock_person(user) -> None:
    # Serialises one person's concurrent submissions (two tabs, a double click) on their own user row.
    list(get_user_model().objects.select_for_update().filter(pk=user.pk).values_list("pk", flat=True))


@transaction.atomic
def privacy_consent_set(*, user, purpose: str, granted: bool, source: str, request=None) -> ConsentRecord | None:
    """Grant or withdraw one purpose; None when it already was in that state (no record, no audit)."""
    if purpose not in TOGGLE_PURPOSES:
        raise ApplicationError(
            f"Unknown consent purpose {purpose!r}.",
            code="unknown_purpose",
            fields={"purpose": [f"Choose one of: {', '.join(TOGGLE_PURPOSES)}."]},
        )
    _lock_person(user)
    if consent_state(user=user, purpose=purpose) == granted:
        return None
    return consent_record(user=user, purpose=purpose, granted=granted, source=source, request=request)


@transaction.atomic
def privacy_policy_accept(*, user, version: str, source: str, request=None) -> ConsentRecord | None:
    """Accept the current policy version, named as the person saw it; None when already accepted.

    Naming the version keeps an acceptance from landing on a version published after the page was shown.
    """
    current = policy_version_current()
    if current is None:
        raise ApplicationError("No privacy policy is published yet.", code="no_policy", status=409)
    if version != current.version:
        raise ApplicationError(
            f"Version {current.version} of the privacy policy is now current; read it and accept that version.",
            code="stale_policy_version",
            fields={"policy_version": [f"The current version is {current.version}."]},
        )
    _lock_person(user)
    latest = _latest_for_policy(user, current)
    if latest is not None and latest.granted:
        return None
    return consent_record(
        user=user,
        purpose=Purpose.PRIVACY_POLICY,
        granted=True,
        source=source,
        policy_version=current,
        request=request,
    )


def _duplicate_request(open_request: DataSubjectRequest) -> ApplicationError:
    label = "a copy of your data" if open_request.kind == DataSubjectRequest.Kind.ACCESS else "erasure"
    return ApplicationError(
        f"You already asked for {label} on {open_request.received_at:%Y-%m-%d} (request #{open_request.pk}, "
        f"{open_request.get_status_display().lower()}); it is due by {open_request.due_at:%Y-%m-%d}.",
        code="duplicate_request",
        fields={"kind": ["An open request of this kind exists."]},
    )


@transaction.atomic
def privacy_request_create(*, user, kind: str, request=None) -> DataSubjectRequest:
    """The person asks for a copy of their data or for erasure; one open request per kind."""
    if kind not in DataSubjectRequest.Kind.values:
        raise ApplicationError(f"Unknown request kind {kind!r}.", fields={"kind": ["Choose access or erasure."]})
    _lock_person(user)
    open_request = dsr_open_request(subject=user, kind=kind)
    if open_request is not None:
        raise _duplicate_request(open_request)
    try:
        return dsr_create(kind=kind, subject=user, notes=PORTAL_REQUEST_NOTE, actor=user, request=request)
    except DuplicateRequestError as error:
        # A concurrent submission got in after the check (SQLite ignores the row lock): the constraint refused
        # this one; the person gets the same answer as from the check.
        raise _duplicate_request(error.open_request) from None


@transaction.atomic
def privacy_export(*, user, dsr: DataSubjectRequest, request=None) -> str:
    """The person's own export for their completed access request (JSON), generated now; audited."""
    if dsr.subject_id != user.pk or not privacy_export_available(dsr):
        raise ApplicationError("No export is available for this request.", code="not_found", status=404)
    payload = subject_export_json(user=user)
    audit_record(
        actor=user,
        action="export",
        resource_type="data_subject_request",
        resource_id=dsr.pk,
        changes={"format": "json", "bytes": len(payload), "by": "subject"},
        request=request,
    )
    return payload
