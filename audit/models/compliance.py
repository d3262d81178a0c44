"""Security metrics and lockouts, GDPR (consent, data-subject requests, transfers) and backups.

No row here stores a raw IP address: sources are keyed by a keyed hash (see `audit.security.pseudonym`)
so that erasing a person never has to hunt for their addresses in these tables.
"""

from datetime import timedelta

from django.conf import settings
from django.db import models
from django.utils import timezone

__all__ = [
    "BackupRun",
    "ConsentRecord",
    "CrossBorderTransfer",
    "DataSubjectRequest",
    "LoginLockout",
    "PrivacyPolicyVersion",
    "SecurityCounter",
]

DSR_DEADLINE = timedelta(days=30)


class SecurityCounter(models.Model):
    """Per-minute counts of suspicious responses (401, 403, 429) and admin-site requests, per source."""

    class Kind(models.TextChoices):
        THROTTLED = "throttled", "Throttled (429)"
        UNAUTHORIZED = "unauthorized", "Unauthorized (401)"
        FORBIDDEN = "forbidden", "Forbidden (403)"
        ADMIN_ACCESS = "admin_access", "Admin site request"

    kind = models.CharField(max_length=20, choices=Kind.choices)
    bucket = models.DateTimeField(help_text="Start of the minute the requests fell in (UTC).")
    # A keyed hash of the client IP, or "user:<id>" for admin access; never the raw address.
    source = models.CharField(max_length=64)
    count = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["kind", "bucket", "source"], name="unique_security_counter_bucket")
        ]
        indexes = [models.Index(fields=["bucket", "kind"], name="security_counter_bucket_idx")]

    def __str__(self) -> str:
        return f"{self.kind} {self.bucket:%Y-%m-%d %H:%M} {self.source}: {self.count}"


class LoginLockout(models.Model):
    """Failed-login state of one account or one IP; locked with exponential backoff after N failures."""

    class Scope(models.TextChoices):
        ACCOUNT = "account", "Account"
        IP = "ip", "IP address"

    scope = models.CharField(max_length=10, choices=Scope.choices)
    # Keyed hash of the lower-cased login name or the IP: the same for existing and unknown accounts.
    key = models.CharField(max_length=64)
    # What the security page shows: the account (when it exists) or a masked IP such as "203.0.113.*".
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.CASCADE, related_name="login_lockouts"
    )
    label = models.CharField(max_length=64, blank=True)
    failures = models.PositiveIntegerField(default=0, help_text="Failures since the last lockout or success.")
    lockouts = models.PositiveIntegerField(default=0, help_text="Lockouts in a row; drives the backoff.")
    last_failure_at = models.DateTimeField(null=True, blank=True)
    locked_until = models.DateTimeField(null=True, blank=True, db_index=True)
    lifted_at = models.DateTimeField(null=True, blank=True)
    lifted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        constraints = [models.UniqueConstraint(fields=["scope", "key"], name="unique_login_lockout_key")]

    def __str__(self) -> str:
        return f"{self.scope} {self.label or self.key[:12]}"

    def is_locked(self, now=None) -> bool:
        return self.locked_until is not None and self.locked_until > (now or timezone.now())


class PrivacyPolicyVersion(models.Model):
    version = models.CharField(max_length=40, unique=True)
    published_at = models.DateTimeField()
    url = models.URLField(blank=True)
    text = models.TextField(blank=True)

    class Meta:
        ordering = ["-published_at"]

    def __str__(self) -> str:
        return self.version


class ConsentRecord(models.Model):
    """One grant or withdrawal; append-only history, the latest record per (user, purpose, version) counts.

    Erasure detaches the record from the person (user set to NULL) so the acceptance rates stay true.
    """

    class Purpose(models.TextChoices):
        PRIVACY_POLICY = "privacy_policy", "Privacy policy"
        MARKETING_EMAIL = "marketing_email", "Marketing email"
        PRODUCT_ANALYTICS = "product_analytics", "Product analytics"
        BETA_PROGRAM = "beta_program", "Beta programme"

    class Source(models.TextChoices):
        SIGNUP = "signup", "Sign-up form"
        PORTAL = "portal", "Portal"
        WIDGET = "widget", "In-app widget"
        EMAIL = "email", "Email"
        ADMIN = "admin", "Recorded by staff"
        API = "api", "API"

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="consents"
    )
    purpose = models.CharField(max_length=30, choices=Purpose.choices)
    policy_version = models.ForeignKey(
        PrivacyPolicyVersion, null=True, blank=True, on_delete=models.PROTECT, related_name="consents"
    )
    granted = models.BooleanField(help_text="True for a grant, False for a withdrawal.")
    recorded_at = models.DateTimeField(default=timezone.now)
    source = models.CharField(max_length=20, choices=Source.choices)

    class Meta:
        ordering = ["-recorded_at", "-id"]
        indexes = [
            models.Index(fields=["user", "purpose", "policy_version", "recorded_at"], name="consent_latest_idx"),
            models.Index(fields=["policy_version", "purpose"], name="consent_version_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.purpose} {'granted' if self.granted else 'withdrawn'} by {self.user_id}"


class DataSubjectRequest(models.Model):
    """A GDPR access or erasure request with its 30-day deadline and workflow."""

    class Kind(models.TextChoices):
        ACCESS = "access", "Access (export)"
        ERASURE = "erasure", "Erasure"

    class Status(models.TextChoices):
        RECEIVED = "received", "Received"
        VERIFYING = "verifying", "Verifying identity"
        IN_PROGRESS = "in_progress", "In progress"
        COMPLETED = "completed", "Completed"
        REJECTED = "rejected", "Rejected"

    OPEN_STATUSES = (Status.RECEIVED, Status.VERIFYING, Status.IN_PROGRESS)

    subject = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="data_requests"
    )
    # Cleared when the person is erased; `subject_reference` (a keyed hash) remains for the record.
    subject_email = models.EmailField(blank=True)
    subject_reference = models.CharField(max_length=64, blank=True)
    kind = models.CharField(max_length=10, choices=Kind.choices)
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.RECEIVED)
    received_at = models.DateTimeField(default=timezone.now)
    due_at = models.DateTimeField(db_index=True)
    handled_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    notes = models.TextField(blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    # 0 none, 1 "due soon" sent, 2 "overdue" sent: the daily reminder job only ever moves this up.
    reminder_level = models.PositiveSmallIntegerField(default=0)
    # Set once, by a conditional UPDATE, so a request is announced to the person at most once.
    subject_notified_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="When the person was told the request is complete (access: queued in the outbox; erasure: sent).",
    )

    class Meta:
        ordering = ["due_at", "id"]
        indexes = [models.Index(fields=["status", "due_at"], name="dsr_status_due_idx")]
        constraints = [
            # The database, not a read-then-insert check, keeps one open request per person and kind: two
            # concurrent submissions cannot both get in (SQLite ignores the row lock the check relies on).
            # Requests without an account (subject NULL) are not constrained. The statuses are OPEN_STATUSES.
            models.UniqueConstraint(
                fields=["subject", "kind"],
                condition=models.Q(status__in=["received", "verifying", "in_progress"]),
                name="dsr_one_open_per_subject_kind",
            )
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} request #{self.pk}"

    def save(self, *args, **kwargs):
        if self.due_at is None:
            self.due_at = self.received_at + DSR_DEADLINE
        super().save(*args, **kwargs)

    @property
    def is_open(self) -> bool:
        return self.status in self.OPEN_STATUSES


class CrossBorderTransfer(models.Model):
    """A transfer of personal data to a processor outside the data's region (Slack, Sentry, mail, OpenAI)."""

    class LegalBasis(models.TextChoices):
        ADEQUACY = "adequacy", "Adequacy decision"
        SCC = "scc", "Standard contractual clauses"
        DPF = "dpf", "EU-US Data Privacy Framework"
        CONSENT = "consent", "Explicit consent"
        CONTRACT = "contract", "Necessary for a contract"

    recipient = models.CharField(max_length=60, help_text="Processor, e.g. slack, sentry, email_provider, openai.")
    country = models.CharField(max_length=2, help_text="ISO 3166-1 alpha-2 country of the recipient.")
    legal_basis = models.CharField(max_length=20, choices=LegalBasis.choices)
    data_categories = models.JSONField(default=list, help_text='e.g. ["contact", "ticket_content"].')
    purpose = models.CharField(max_length=200, blank=True)
    # A pseudonymous pointer to what was sent (e.g. "ticket:42"), never the data itself.
    reference = models.CharField(max_length=100, blank=True)
    records = models.PositiveIntegerField(default=1)
    transferred_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["-transferred_at", "-id"]

    def __str__(self) -> str:
        return f"{self.recipient} ({self.country}) {self.transferred_at:%Y-%m-%d %H:%M}"


class BackupRun(models.Model):
    """One backup, verification or restore drill, with what it measured."""

    class Kind(models.TextChoices):
        BACKUP = "backup", "Backup"
        VERIFY = "verify", "Verification"
        DRILL = "drill", "Restore drill"

    class Status(models.TextChoices):
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"

    kind = models.CharField(max_length=10, choices=Kind.choices, default=Kind.BACKUP)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.RUNNING)
    engine = models.CharField(max_length=20, blank=True)
    path = models.CharField(max_length=500, blank=True)
    sha256 = models.CharField(max_length=64, blank=True)
    size_bytes = models.BigIntegerField(null=True, blank=True)
    started_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)
    duration_seconds = models.FloatField(null=True, blank=True)
    verified = models.BooleanField(default=False)
    # Drill: seconds from "start restore" to "restored and checked", against the RTO.
    recovery_seconds = models.FloatField(null=True, blank=True)
    rto_met = models.BooleanField(null=True, blank=True)
    tables = models.PositiveIntegerField(null=True, blank=True)
    rows = models.BigIntegerField(null=True, blank=True)
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["-started_at", "-id"]
        indexes = [models.Index(fields=["kind", "-started_at"], name="backup_run_kind_idx")]

    def __str__(self) -> str:
        return f"{self.kind} {self.status} {self.started_at:%Y-%m-%d %H:%M}"
