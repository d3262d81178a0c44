"""Immutable activity log, system (deployment) log, checkpoints and the personal-data store.

Append-only tables (`AuditEvent`, `DeploymentRecord`, `AuditCheckpoint`): the database refuses UPDATE,
DELETE and TRUNCATE through triggers (see `audit.immutability`), and the ORM refuses them first so the
mistake shows up as a clear Python error. Personal data (IP, user agent, email, name, free-text errors)
never enters a sealed row: it lives in `AuditPersonalData`, keyed by a pseudonymous subject id, and the
sealed row keeps only a salted digest of it, so erasure deletes the personal rows and the seals still
verify.
"""

import uuid

from django.conf import settings
from django.db import models
from django.utils import timezone

__all__ = [
    "AppendOnlyError",
    "AuditCheckpoint",
    "AuditEvent",
    "AuditPersonalData",
    "AuditSubject",
    "DeploymentRecord",
]

FORMAT_VERSION = 1


class AppendOnlyError(RuntimeError):
    """Raised when code tries to change or remove a row of an append-only audit table."""


class AppendOnlyQuerySet(models.QuerySet):
    def update(self, **kwargs):
        raise AppendOnlyError(f"{self.model.__name__} rows are append-only and cannot be updated.")

    def delete(self):
        raise AppendOnlyError(f"{self.model.__name__} rows are append-only and cannot be deleted.")

    def bulk_update(self, objs, fields, batch_size=None):
        raise AppendOnlyError(f"{self.model.__name__} rows are append-only and cannot be updated.")

    def update_or_create(self, *args, **kwargs):
        raise AppendOnlyError(f"{self.model.__name__} rows are append-only; use create().")

    _raw_delete = delete


class AppendOnlyModel(models.Model):
    objects = AppendOnlyQuerySet.as_manager()

    class Meta:
        abstract = True

    def save(self, *args, **kwargs):
        if not self._state.adding:
            raise AppendOnlyError(f"{type(self).__name__} #{self.pk} is append-only and cannot be changed.")
        kwargs["force_insert"] = True
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise AppendOnlyError(f"{type(self).__name__} #{self.pk} is append-only and cannot be deleted.")


class AuditSubject(models.Model):
    """The pseudonym of one person in the audit trail; deleting this row at erasure breaks the link.

    `email` and `name` are the identity last recorded in the trail for this person (by an `audit_subject`
    event whose personal data holds them): who the pseudonym was stays known after the account is deleted,
    and a change of identity is recorded once instead of copying it into every event.
    """

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="audit_subject"
    )
    subject_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    created_at = models.DateTimeField(default=timezone.now)
    email = models.CharField(max_length=254, blank=True)
    name = models.CharField(max_length=150, blank=True)

    def __str__(self) -> str:
        return str(self.subject_id)


class AuditEvent(AppendOnlyModel):
    """One audited action (the seed's AuditLog), sealed into signed Merkle checkpoints in id order."""

    class Action(models.TextChoices):
        CREATE = "create", "Create"
        UPDATE = "update", "Update"
        DELETE = "delete", "Delete"
        EXPORT = "export", "Export"
        SHARE = "share", "Share"
        LOGIN = "login", "Login"
        LOGIN_FAILED = "login_failed", "Failed login"
        LOGOUT = "logout", "Logout"
        PERMISSION_DENIED = "permission_denied", "Permission denied"
        VERIFY = "verify", "Audit verification"

    occurred_at = models.DateTimeField(default=timezone.now)
    # No database constraint and DO_NOTHING: deleting a user or organization must never touch audit rows.
    # No single-column index either: the (actor, -id) and (organization, -id) indexes below serve both
    # lookups, and every index costs each audited write.
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        db_index=False,
        related_name="+",
    )
    actor_subject = models.UUIDField(null=True, blank=True, help_text="Pseudonym of the actor (AuditSubject).")
    organization = models.ForeignKey(
        "tourbrain_support.Organization",
        null=True,
        blank=True,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        db_index=False,
        related_name="+",
    )
    action = models.CharField(max_length=32, choices=Action.choices)
    resource_type = models.CharField(max_length=40)
    resource_id = models.CharField(max_length=64, blank=True)
    success = models.BooleanField(default=True)
    request_id = models.CharField(max_length=128, blank=True)
    # Changed fields; personal values are replaced by {"$personal": "<field>"} and kept in AuditPersonalData.
    changes = models.JSONField(default=dict, blank=True)
    # Salted SHA-256 of each AuditPersonalData row of this event (the rows may be erased, these stay).
    personal_digests = models.JSONField(default=list, blank=True)
    # The writing transaction (PostgreSQL, set by a trigger); the sealer's watermark reasons about it.
    xid = models.BigIntegerField(null=True, blank=True, editable=False)
    format_version = models.PositiveSmallIntegerField(default=FORMAT_VERSION)

    class Meta:
        ordering = ["-id"]
        indexes = [
            models.Index(fields=["occurred_at"], name="audit_event_time_idx"),
            models.Index(fields=["actor", "-id"], name="audit_event_actor_idx"),
            models.Index(fields=["organization", "-id"], name="audit_event_org_idx"),
            models.Index(fields=["action", "-id"], name="audit_event_action_idx"),
            models.Index(fields=["resource_type", "resource_id", "-id"], name="audit_event_resource_idx"),
            models.Index(fields=["actor_subject"], name="audit_event_subject_idx"),
            # The security metrics count these few actions over time windows (at every /metrics scrape):
            # an index-only scan, and partial, so the other ~95% of writes never touch it.
            models.Index(
                fields=["action", "occurred_at", "actor"],
                name="audit_event_security_idx",
                condition=models.Q(action__in=["login_failed", "permission_denied", "export"]),
            ),
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {self.action} {self.resource_type}:{self.resource_id}"


class AuditPersonalData(models.Model):
    """Personal data of one subject in one event; deleted at erasure (this table is NOT append-only)."""

    # No database constraint: its check would row-lock the (append-only) event on every insert.
    event = models.ForeignKey(
        AuditEvent, on_delete=models.DO_NOTHING, db_constraint=False, related_name="personal_data"
    )
    subject_id = models.UUIDField(db_index=True)
    # Random per row, so a guessed IP or email cannot be confirmed against the sealed digest.
    salt = models.CharField(max_length=32)
    data = models.JSONField(default=dict)

    def __str__(self) -> str:
        return f"personal data of event #{self.event_id}"


class DeploymentRecord(AppendOnlyModel):
    """The seed's SystemAuditLog: one deployment (or a change of its migration status) per row."""

    class MigrationStatus(models.TextChoices):
        PENDING = "pending", "Pending"
        COMPLETE = "complete", "Complete"
        FAILED = "failed", "Failed"

    class Source(models.TextChoices):
        COMMAND = "command", "record_deployment command"
        API = "api", "Deployment API"
        MIGRATE = "migrate", "After migrations"
        VERCEL = "vercel", "Vercel deployment webhook"

    deployment_id = models.CharField(max_length=64, db_index=True)
    version = models.CharField(max_length=100)
    deployed_by = models.CharField(max_length=150)
    rollback_available = models.BooleanField(default=False)
    migration_status = models.CharField(max_length=10, choices=MigrationStatus.choices, default=MigrationStatus.PENDING)
    configuration_changes = models.JSONField(default=list, blank=True)
    source = models.CharField(max_length=10, choices=Source.choices, default=Source.COMMAND)
    occurred_at = models.DateTimeField(default=timezone.now, db_index=True)
    xid = models.BigIntegerField(null=True, blank=True, editable=False)
    format_version = models.PositiveSmallIntegerField(default=FORMAT_VERSION)

    class Meta:
        ordering = ["-id"]

    def __str__(self) -> str:
        return f"{self.version} by {self.deployed_by} ({self.migration_status})"


class AuditCheckpoint(AppendOnlyModel):
    """A signed seal over the rows [first_id, last_id] of one stream, linked to the previous seal.

    `leaves` holds, per sealed row, its id (8 bytes) and the first 8 bytes of its leaf hash, so a broken
    root can be traced to the first bad row; its SHA-256 is part of the signed body.
    """

    class Stream(models.TextChoices):
        EVENTS = "events", "Activity log"
        DEPLOYMENTS = "deployments", "System log"

    stream = models.CharField(max_length=20, choices=Stream.choices)
    sequence = models.PositiveBigIntegerField()
    first_id = models.BigIntegerField()
    last_id = models.BigIntegerField()
    row_count = models.PositiveIntegerField()
    merkle_root = models.CharField(max_length=64)
    leaves = models.BinaryField()
    prev_hash = models.CharField(max_length=64)
    checkpoint_hash = models.CharField(max_length=64, unique=True)
    signature = models.CharField(max_length=128)
    key_id = models.CharField(max_length=16)
    sealed_at = models.DateTimeField()
    # PostgreSQL watermark at seal time: the sequence value read, then the snapshot's xmax.
    seq_last_value = models.BigIntegerField(null=True, blank=True)
    snapshot_xmax = models.BigIntegerField(null=True, blank=True)
    format_version = models.PositiveSmallIntegerField(default=FORMAT_VERSION)

    class Meta:
        ordering = ["stream", "sequence"]
        constraints = [
            # Two sealers racing cannot both extend the chain: the loser's insert fails.
            models.UniqueConstraint(fields=["stream", "sequence"], name="unique_checkpoint_sequence"),
            models.UniqueConstraint(fields=["stream", "first_id"], name="unique_checkpoint_first_id"),
        ]
        indexes = [models.Index(fields=["stream", "last_id"], name="checkpoint_last_id_idx")]

    def __str__(self) -> str:
        return f"{self.stream} #{self.sequence} [{self.first_id}..{self.last_id}]"
