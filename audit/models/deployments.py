"""Deployment freezes: while one is on, CI must not ship (it reads GET /api/v1/deployments/freeze).

A failed or rolled-back production deployment (Vercel's webhook) turns one on, and so can CI or an admin;
only a person lifts it (API with the deploy token, or the admin), with a note. At most one is on at a time.
"""

from django.conf import settings
from django.db import models
from django.utils import timezone

__all__ = ["DeploymentFreeze"]


class DeploymentFreeze(models.Model):
    class Source(models.TextChoices):
        VERCEL = "vercel", "Vercel deployment webhook"
        API = "api", "Deployment API"
        ADMIN = "admin", "Admin"

    reason = models.CharField(max_length=300)
    source = models.CharField(max_length=10, choices=Source.choices)
    deployment_id = models.CharField(max_length=100, blank=True, help_text="The deployment that caused it, if any.")
    is_active = models.BooleanField(default=True)
    started_at = models.DateTimeField(default=timezone.now)
    set_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    lifted_at = models.DateTimeField(null=True, blank=True)
    lifted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    lift_note = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["-started_at", "-id"]
        constraints = [
            # One freeze on at a time: a second failure while frozen keeps the first freeze (and its reason).
            models.UniqueConstraint(fields=["is_active"], condition=models.Q(is_active=True), name="one_active_freeze")
        ]

    def __str__(self) -> str:
        state = "on" if self.is_active else "lifted"
        return f"Freeze {state} since {self.started_at:%Y-%m-%d %H:%M}: {self.reason}"
