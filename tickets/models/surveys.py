"""Satisfaction data beyond the per-ticket CSAT: NPS surveys and beta feedback.

The KPI rollups read these through `tickets.selectors` (`nps_score`, `beta_conversion_intent`,
`testimonials_count`, `active_beta_users`).
"""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

__all__ = ["BetaFeedback", "NpsSurvey"]


class NpsSurvey(models.Model):
    """One NPS survey sent to one person for one period ("How likely are you to recommend TourBrain?");
    the answer (0-10 and why) is stored on it. At most one per person per period."""

    class Source(models.TextChoices):
        SCHEDULE = "schedule", "Schedule"
        ADMIN = "admin", "Admin"

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="nps_surveys")
    # The person's organization when the survey was sent (answers count per organization too).
    organization = models.ForeignKey(
        "tourbrain_support.Organization", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # The survey period's first day (periods are NPS_INTERVAL_DAYS long, counted from 2026-01-01).
    period = models.DateField()
    source = models.CharField(max_length=10, choices=Source.choices, default=Source.SCHEDULE)
    sent_at = models.DateTimeField(default=timezone.now)
    score = models.PositiveSmallIntegerField(null=True, blank=True)
    comment = models.TextField(blank=True)
    answered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "NPS survey"
        constraints = [
            models.UniqueConstraint(fields=["user", "period"], name="nps_one_survey_per_period"),
            models.CheckConstraint(condition=Q(score__isnull=True) | Q(score__lte=10), name="nps_score_0_10"),
        ]
        indexes = [
            models.Index(fields=["user", "-sent_at"], name="nps_user_sent"),
            models.Index(fields=["answered_at"], name="nps_answered"),
        ]

    def __str__(self) -> str:
        return f"NPS {self.period} for {self.user_id}: {self.score if self.score is not None else 'no answer'}"


class BetaFeedback(models.Model):
    """A beta user's answer to the feedback form: would they pay to keep access, and an optional
    testimonial with consent to publish it (a lead approves it before it is used). One per person per week."""

    class Intent(models.TextChoices):
        YES = "yes", "Yes"
        MAYBE = "maybe", "Maybe"
        NO = "no", "No"

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="beta_feedback")
    organization = models.ForeignKey(
        "tourbrain_support.Organization", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # ISO week of the request, e.g. "2026-W10" (the weekly feedback call's round).
    round = models.CharField(max_length=10)
    conversion_intent = models.CharField(max_length=5, choices=Intent.choices)
    plan = models.CharField(max_length=20, blank=True, help_text="The plan they would pay for, if any.")
    testimonial = models.TextField(blank=True)
    publish_consent = models.BooleanField(
        default=False, help_text="The person agrees to the testimonial being published."
    )
    approved_at = models.DateTimeField(null=True, blank=True)
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = "beta feedback"
        verbose_name_plural = "beta feedback"
        constraints = [models.UniqueConstraint(fields=["user", "round"], name="beta_feedback_one_per_round")]
        indexes = [models.Index(fields=["created_at"], name="beta_feedback_created")]

    def __str__(self) -> str:
        return f"{self.round}: {self.conversion_intent} ({self.user_id})"
