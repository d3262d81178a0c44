"""The customer side: the beta program's support profiles and invitations, and portal login links.

A `BetaSupportProfile` is the seed's BetaSupport for one organization: a dedicated rep, a direct Slack
channel (its own incoming webhook), a weekly feedback call and whether screen sharing is offered.
A `BetaInvitation` asks one person to join the beta cohort; accepting it makes them a beta user.
A `PortalLoginLink` is one emailed sign-in link: the URL carries a signed id and a random token whose
hash is stored here, so a link can be used once, expires, and can be revoked.
"""

from __future__ import annotations

from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.utils import timezone

__all__ = ["BetaInvitation", "BetaSupportProfile", "PortalLoginLink"]

WEEKDAYS = [
    (0, "Monday"),
    (1, "Tuesday"),
    (2, "Wednesday"),
    (3, "Thursday"),
    (4, "Friday"),
    (5, "Saturday"),
    (6, "Sunday"),
]


def validate_timezone(value: str) -> None:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValidationError(f"Unknown time zone '{value}' (use an IANA name such as Europe/London).") from exc


def validate_webhook_url(value: str) -> None:
    if value and not value.startswith(("https://", "http://")):
        raise ValidationError("The Slack incoming-webhook URL must be an http(s) URL.")


class BetaSupportProfile(models.Model):
    """Support arrangements of one beta organization (edited by leads in the admin)."""

    organization = models.OneToOneField(
        "tourbrain_support.Organization", on_delete=models.CASCADE, related_name="beta_profile"
    )
    is_active = models.BooleanField(default=True, help_text="Off: the organization is treated like any other.")
    dedicated_rep = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="beta_profiles",
        help_text="New tickets from this organization go to this rep while they are available.",
    )
    slack_channel = models.CharField(
        max_length=80, blank=True, default="#tourbrain-beta-users", help_text="Shown to people, e.g. #tourbrain-beta."
    )
    slack_webhook_url = models.CharField(
        "Slack incoming-webhook URL",
        max_length=500,
        blank=True,
        validators=[validate_webhook_url],
        help_text="The channel's own incoming webhook; its tickets and public replies are posted there. "
        "Empty: nothing is posted.",
    )
    call_weekday = models.PositiveSmallIntegerField(
        "weekly call weekday", choices=WEEKDAYS, null=True, blank=True, help_text="Empty: no weekly call."
    )
    call_time = models.TimeField("weekly call time", null=True, blank=True, help_text="In the customer's time zone.")
    call_timezone = models.CharField(
        "customer's time zone", max_length=64, default="Europe/London", validators=[validate_timezone]
    )
    call_duration_minutes = models.PositiveSmallIntegerField(default=30)
    screen_share_available = models.BooleanField(default=True, help_text="Shown to reps on the ticket page.")
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["organization__name"]
        verbose_name = "beta support profile"

    def __str__(self) -> str:
        return f"Beta support: {self.organization}"

    def clean(self) -> None:
        if (self.call_weekday is None) != (self.call_time is None):
            raise ValidationError("Set both the weekday and the time of the weekly call, or neither.")
        if self.call_duration_minutes is not None and not 5 <= self.call_duration_minutes <= 240:
            raise ValidationError({"call_duration_minutes": "Between 5 and 240 minutes."})

    @property
    def has_weekly_call(self) -> bool:
        return self.call_weekday is not None and self.call_time is not None


class BetaInvitation(models.Model):
    """One person invited to the beta cohort; the email carries a signed, expiring acceptance link."""

    class Status(models.TextChoices):
        PENDING = "pending", "Invited"
        ACCEPTED = "accepted", "Accepted"
        REVOKED = "revoked", "Revoked"

    email = models.EmailField()
    name = models.CharField(max_length=200, blank=True)
    organization = models.ForeignKey(
        "tourbrain_support.Organization", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    personal_message = models.TextField(blank=True)
    invited_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="beta_invitations"
    )
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    accepted_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            # One open invitation per address (compared lower-cased: the service stores it so).
            models.UniqueConstraint(fields=["email"], condition=Q(status="pending"), name="beta_invitation_one_pending")
        ]

    def __str__(self) -> str:
        return f"Beta invitation for {self.email} ({self.status})"

    @property
    def is_expired(self) -> bool:
        return self.status == self.Status.PENDING and self.expires_at <= timezone.now()


class PortalLoginLink(models.Model):
    """An emailed sign-in link: usable once, before `expires_at`, unless revoked."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="portal_login_links")
    # SHA-256 of the random token in the URL: the database alone cannot rebuild a working link.
    token_hash = models.CharField(max_length=64, unique=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["user", "created_at"], name="portal_link_user_created")]

    def __str__(self) -> str:
        return f"login link #{self.pk} for user {self.user_id}"

    @property
    def is_usable(self) -> bool:
        return self.used_at is None and self.revoked_at is None and self.expires_at > timezone.now()
