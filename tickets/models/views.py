"""Saved queue views: a rep names the current filter set and opens it again from the queue."""

from django.conf import settings
from django.db import models

__all__ = ["SavedView"]


class SavedView(models.Model):
    """A named set of queue filters owned by one staff user (the built-in views are not stored)."""

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="saved_queue_views")
    name = models.CharField(max_length=80)
    # The cleaned queue filter values (QueueFilterForm field -> value), never raw query strings.
    filters = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        constraints = [models.UniqueConstraint(fields=["owner", "name"], name="unique_saved_view_per_owner")]

    def __str__(self) -> str:
        return f"{self.name} ({self.owner})"
