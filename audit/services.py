"""Writes to the audit trail. Every state change in the portal calls `audit_record` in its own transaction.

The sealed `AuditEvent` row holds only pseudonymous fields; personal data (IP, user agent, free-text error
messages, personal values among the changes) goes to `AuditPersonalData` under the person's pseudonymous
subject id, with a random salt, and the event keeps the salted digest. The actor's email and name are
recorded once per identity (an `audit_subject` event), not in every event. Erasure deletes those rows and
the subject mapping; the seals still verify.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import uuid
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder
from django.db import DEFAULT_DB_ALIAS, connections, transaction
from django.utils import timezone

from audit.client_ip import client_ip
from audit.models import AuditEvent, AuditPersonalData, AuditSubject, DeploymentRecord
from audit.models.events import FORMAT_VERSION
from tourbrain_support.db import fetch_one_prepared, insert_new
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
        return _audit_subject_create(user, {})[0]


def _audit_subject_create(user, identity: dict) -> tuple[AuditSubject, bool]:
    """A first pseudonym, holding `identity` when this call wrote it (True); else the row a concurrent
    request wrote first. Insert first: no SELECT before it and no savepoint around it."""
    created = insert_new([AuditSubject(user=user, **identity)], key="user_id")
    subject = created[0] if created else AuditSubject.objects.get(user=user)
    user.audit_subject = subject
    return subject, bool(created)


def _actor_subject_id(actor) -> uuid.UUID:
    """The actor's pseudonym, after recording their identity in the trail if it is new or has changed."""
    identity = {"email": getattr(actor, "email", "") or "", "name": getattr(actor, "name", "") or ""}
    try:
        subject = actor.audit_subject
    except AuditSubject.DoesNotExist:
        subject = None
    if subject is not None and (subject.email, subject.name) == (identity["email"], identity["name"]):
        return subject.subject_id
    # Nothing in here is caught: an enclosing savepoint (or transaction) undoes both writes on failure.
    with transaction.atomic(savepoint=False):
        written = False
        if subject is None:
            # A new pseudonym is written with the identity (one statement rather than an insert and an update).
            subject, written = _audit_subject_create(actor, identity)
        if not written:
            if (subject.email, subject.name) == (identity["email"], identity["name"]):
                return subject.subject_id
            AuditSubject.objects.filter(pk=subject.pk).update(**identity)
            subject.email, subject.name = identity["email"], identity["name"]
        # A new pseudonym with a blank identity has nothing to record (it equals a fresh row's blanks).
        if not written or identity != {"email": "", "name": ""}:
            # Both values are personal: the sealed row keeps markers and a salted digest of them.
            audit_record(
                actor=actor,
                action="update",
                resource_type="audit_subject",
                resource_id=subject.subject_id,
                changes=identity,
            )
    return subject.subject_id


def _without_nul(value):
    """The value with every NUL character replaced: PostgreSQL stores none in text or JSON, and an audit
    write must never fail (and abort the caller's transaction) over what a client managed to send."""
    if isinstance(value, str):
        return value.replace("\x00", "\ufffd") if "\x00" in value else value
    if isinstance(value, dict):
        return {_without_nul(key): _without_nul(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_without_nul(item) for item in value]
    return value


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
    changes_json = json.dumps(changes or {}, cls=DjangoJSONEncoder)
    normalised = json.loads(changes_json)
    if "\\u0000" in changes_json:
        normalised = _without_nul(normalised)
    sealed_changes, personal_changes = _split_changes(normalised)

    # The actor's email and name are not copied into every event: their identity is recorded once per
    # change (see `_actor_subject_id`) and the event refers to it through the pseudonym.
    actor_subject = _actor_subject_id(actor) if actor else None
    personal: dict[str, Any] = {}
    if request is not None:
        personal["ip"] = client_ip(request)
        personal["user_agent"] = _without_nul((request.META.get("HTTP_USER_AGENT") or "")[:USER_AGENT_MAX])
    if error_message:
        personal["error_message"] = _without_nul(error_message)
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

    fields = {
        "occurred_at": timezone.now(),
        "actor_id": actor.pk if actor else None,
        "actor_subject": actor_subject,
        "organization_id": getattr(organization, "pk", organization),
        "action": action,
        "resource_type": _without_nul(resource_type),
        "resource_id": "" if resource_id is None else _without_nul(str(resource_id)),
        "success": success,
        "request_id": get_request_id() or "",
        "changes": sealed_changes,
        "personal_digests": sorted(personal_digest(salt=salt, data=data) for _, salt, data in salted),
        "xid": None,
        "format_version": FORMAT_VERSION,
    }
    db = connections[DEFAULT_DB_ALIAS]
    if db.vendor == "postgresql":
        fields["id"], fields["xid"] = _insert_postgresql(db, fields, salted)
        # Built from the written values, like a row read back (positional: the cheap path of Model.__init__).
        return AuditEvent.from_db(db.alias, None, [fields[name] for name in _EVENT_ATTNAMES])
    event = AuditEvent(**fields)
    with transaction.atomic(using=db.alias):
        event.save(using=db.alias)
        AuditPersonalData.objects.using(db.alias).bulk_create(
            AuditPersonalData(event=event, subject_id=subject, salt=salt, data=data) for subject, salt, data in salted
        )
    return event


_EVENT_ATTNAMES = [field.attname for field in AuditEvent._meta.concrete_fields]

_INSERT_EVENT = """
INSERT INTO audit_auditevent (occurred_at, actor_id, actor_subject, organization_id, action, resource_type,
    resource_id, success, request_id, changes, personal_digests, format_version)
VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s::jsonb, %s::jsonb, %s)
RETURNING id, xid
"""
# With personal data, one statement writes the event and its personal-data rows: atomic, one round trip.
# One row (a request's IP and user agent, the usual case) is passed as plain parameters; unpacking a JSON
# array server-side costs about a fifth of the statement's time, so it is kept for two rows or more.
_INSERT_EVENT_WITH_PERSONAL_ROW = """
WITH event AS (
    INSERT INTO audit_auditevent (occurred_at, actor_id, actor_subject, organization_id, action, resource_type,
        resource_id, success, request_id, changes, personal_digests, format_version)
    VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s::jsonb, %s::jsonb, %s)
    RETURNING id, xid
), personal AS (
    INSERT INTO audit_auditpersonaldata (event_id, subject_id, salt, data)
    SELECT event.id, %s::uuid, %s, %s::jsonb FROM event
)
SELECT id, xid FROM event
"""
_INSERT_EVENT_WITH_PERSONAL_ROWS = """
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


def _insert_postgresql(db, fields: dict, salted: list) -> tuple[int, int]:
    """Write the event and its personal data; returns the (id, xid) the stamping trigger gave the row."""
    params = [
        fields["occurred_at"],
        fields["actor_id"],
        fields["actor_subject"],
        fields["organization_id"],
        fields["action"],
        fields["resource_type"],
        fields["resource_id"],
        fields["success"],
        fields["request_id"],
        json.dumps(fields["changes"]),
        json.dumps(fields["personal_digests"]),
        fields["format_version"],
    ]
    statement = _INSERT_EVENT
    if len(salted) == 1:
        statement = _INSERT_EVENT_WITH_PERSONAL_ROW
        subject, salt, data = salted[0]
        params += [subject, salt, json.dumps(data, cls=DjangoJSONEncoder)]
    elif salted:
        statement = _INSERT_EVENT_WITH_PERSONAL_ROWS
        personal = [{"subject_id": str(subject), "salt": salt, "data": data} for subject, salt, data in salted]
        params.append(json.dumps(personal, cls=DjangoJSONEncoder))
    return fetch_one_prepared(db, statement, params)


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
