"""Writes to the audit trail. Every state change in the portal calls `audit_record` in its own transaction.

The sealed `AuditEvent` row holds only pseudonymous fields; personal data (IP, user agent, the actor's
email and name, free-text error messages, personal values among the changes) goes to `AuditPersonalData`
under the person's pseudonymous subject id, with a random salt, and the event keeps the salted digest.
Erasure deletes those rows and the subject mapping; the seals still verify.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import uuid
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection, transaction

from audit.client_ip import client_ip
from audit.models import AuditEvent, AuditPersonalData, AuditSubject, DeploymentRecord
from tourbrain_support.request_context import get_request_id

# Values of these keys in `changes` are personal data and never enter a sealed row.
PERSONAL_CHANGE_FIELDS = frozenset(
    {
        "email",
        "name",
        "first_name",
        "last_name",
        "full_name",
        "phone",
        "address",
        "ip",
        "ip_address",
        "user_agent",
        "subject_email",
        "requester_email",
        "requester_name",
    }
)
ACTIONS = frozenset(AuditEvent.Action.values)
USER_AGENT_MAX = 512


def canonical_json(value: Any) -> bytes:
    """Sorted keys, no whitespace, UTF-8: the one encoding every hash in the audit trail uses."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def personal_digest(*, salt: str, data: dict) -> str:
    return hashlib.sha256(salt.encode() + b"\x00" + canonical_json(data)).hexdigest()


def audit_subject_for_user(user) -> AuditSubject:
    """The user's stable pseudonym (created on first use; cached on the user instance)."""
    try:
        return user.audit_subject
    except AuditSubject.DoesNotExist:
        subject, _ = AuditSubject.objects.get_or_create(user=user)
        user.audit_subject = subject
        return subject


def _is_user(actor) -> bool:
    return actor is not None and getattr(actor, "is_authenticated", False) and getattr(actor, "pk", None) is not None


def _split_changes(changes: dict) -> tuple[dict, dict]:
    """(sealed changes, personal values): personal values are replaced by a marker in the sealed copy."""
    sealed, personal = {}, {}
    for key, value in changes.items():
        if key in PERSONAL_CHANGE_FIELDS and value not in (None, "", [], {}):
            sealed[key] = {"$personal": key}
            personal[key] = value
        else:
            sealed[key] = value
    return sealed, personal


def _user_resource_subject(resource_type: str, resource_id) -> uuid.UUID | None:
    if resource_type != "user" or resource_id in (None, ""):
        return None
    from django.contrib.auth import get_user_model

    user = get_user_model().objects.filter(pk=resource_id).first() if str(resource_id).isdigit() else None
    return audit_subject_for_user(user).subject_id if user else None


def audit_record(
    *,
    actor: Any | None,
    action: str,
    resource_type: str,
    resource_id: str | int | None,
    organization: Any | None = None,
    changes: dict | None = None,
    success: bool = True,
    error_message: str = "",
    request: Any | None = None,
) -> AuditEvent:
    """Record one audit event in the caller's transaction (or atomically on its own) and return it."""
    if action not in ACTIONS:
        raise ValueError(f"Unknown audit action {action!r}; expected one of {sorted(ACTIONS)}.")
    if actor is None and request is not None and _is_user(getattr(request, "user", None)):
        actor = request.user
    actor = actor if _is_user(actor) else None
    # Round-trip through JSON now, so what is hashed later is exactly what the database returns.
    normalised = json.loads(json.dumps(changes or {}, cls=DjangoJSONEncoder))
    sealed_changes, personal_changes = _split_changes(normalised)

    actor_subject = audit_subject_for_user(actor).subject_id if actor else None
    personal: dict[str, Any] = {}
    if actor is not None:
        personal["actor_email"] = getattr(actor, "email", "") or ""
        personal["actor_name"] = getattr(actor, "name", "") or ""
    if request is not None:
        personal["ip"] = client_ip(request)
        personal["user_agent"] = (request.META.get("HTTP_USER_AGENT") or "")[:USER_AGENT_MAX]
    if error_message:
        personal["error_message"] = error_message
    resource_subject = _user_resource_subject(resource_type, resource_id) if personal_changes or actor is None else None
    # Personal values about someone else (an admin editing a user) go under that person's pseudonym.
    if personal_changes and (resource_subject is None or actor_subject is None or resource_subject == actor_subject):
        personal["changes"] = personal_changes
        personal_changes = {}

    rows: list[tuple[uuid.UUID, dict]] = []
    if personal:
        # Without an actor the data belongs to the account acted on (a failed login for a known user),
        # else to a one-off pseudonym (an anonymous 403).
        owner = actor_subject or resource_subject or uuid.uuid4()
        rows.append((owner, {k: v for k, v in personal.items() if v not in (None, "")}))
    if personal_changes:
        rows.append((resource_subject, {"changes": personal_changes}))
    salted = [(subject, secrets.token_hex(16), data) for subject, data in rows if data]

    event = AuditEvent(
        actor=actor,
        actor_subject=actor_subject,
        organization_id=getattr(organization, "pk", organization),
        action=action,
        resource_type=resource_type,
        resource_id="" if resource_id is None else str(resource_id),
        success=success,
        request_id=get_request_id() or "",
        changes=sealed_changes,
        personal_digests=sorted(personal_digest(salt=salt, data=data) for _, salt, data in salted),
    )
    if connection.vendor == "postgresql":
        _insert_postgresql(event, salted)
    else:
        with transaction.atomic():
            event.save()
            AuditPersonalData.objects.bulk_create(
                AuditPersonalData(event=event, subject_id=subject, salt=salt, data=data)
                for subject, salt, data in salted
            )
    return event


# One statement writes the event and its personal-data rows: atomic on its own, one round trip.
_INSERT_POSTGRESQL = """
WITH event AS (
    INSERT INTO audit_auditevent (occurred_at, actor_id, actor_subject, organization_id, action, resource_type,
        resource_id, success, request_id, changes, personal_digests, format_version)
    VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s::jsonb, %s::jsonb, %s)
    RETURNING id, xid
), personal AS (
    INSERT INTO audit_auditpersonaldata (event_id, subject_id, salt, data)
    SELECT event.id, p.subject_id, p.salt, p.data
    FROM event, jsonb_to_recordset(%s::jsonb) AS p(subject_id uuid, salt text, data jsonb)
)
SELECT id, xid FROM event
"""


def _insert_postgresql(event: AuditEvent, salted: list) -> None:
    personal = [{"subject_id": str(subject), "salt": salt, "data": data} for subject, salt, data in salted]
    with connection.cursor() as cursor:
        cursor.execute(
            _INSERT_POSTGRESQL,
            [
                event.occurred_at,
                event.actor_id,
                event.actor_subject,
                event.organization_id,
                event.action,
                event.resource_type,
                event.resource_id,
                event.success,
                event.request_id,
                json.dumps(event.changes),
                json.dumps(event.personal_digests),
                event.format_version,
                json.dumps(personal, cls=DjangoJSONEncoder),
            ],
        )
        event.id, event.xid = cursor.fetchone()
    event._state.adding = False
    event._state.db = connection.alias


@transaction.atomic
def audit_erase_subject(*, subject_id: uuid.UUID | str) -> int:
    """Delete every piece of personal data held under this pseudonym, and the pseudonym's link."""
    deleted, _ = AuditPersonalData.objects.filter(subject_id=subject_id).delete()
    AuditSubject.objects.filter(subject_id=subject_id).delete()
    return deleted


@transaction.atomic
def audit_erase_user(*, user) -> int:
    """Erasure for one user: their audit personal data goes, the sealed events stay and still verify."""
    subject = AuditSubject.objects.filter(user=user).first()
    return audit_erase_subject(subject_id=subject.subject_id) if subject else 0


@transaction.atomic
def deployment_record(
    *,
    version: str,
    deployed_by: str,
    rollback_available: bool = False,
    migration_status: str = DeploymentRecord.MigrationStatus.PENDING,
    configuration_changes: list | None = None,
    deployment_id: str | None = None,
    source: str = DeploymentRecord.Source.COMMAND,
) -> DeploymentRecord:
    """Append one row to the system log (a status change of a deployment is a new row, same deployment id)."""
    if migration_status not in DeploymentRecord.MigrationStatus.values:
        raise ValueError(f"Unknown migration status {migration_status!r}.")
    changes = [str(change) for change in (configuration_changes or [])]
    return DeploymentRecord.objects.create(
        deployment_id=deployment_id or uuid.uuid4().hex,
        version=version,
        deployed_by=deployed_by,
        rollback_available=rollback_available,
        migration_status=migration_status,
        configuration_changes=changes,
        source=source,
    )
