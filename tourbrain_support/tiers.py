"""Customer tier: the one rule that decides SLA targets and queue priority."""

from django.db import models

from tourbrain_support.models import Organization, User


class Tier(models.TextChoices):
    ENTERPRISE = "enterprise", "Enterprise"
    BETA = "beta", "Beta"
    GENERAL = "general", "General"


def resolve_tier(*, user: User | None, organization: Organization | None) -> Tier:
    """Enterprise when the organization's plan is enterprise, else beta for the beta cohort, else general."""
    if organization is not None and organization.plan == Organization.Plan.ENTERPRISE:
        return Tier.ENTERPRISE
    if user is not None and user.is_beta:
        return Tier.BETA
    return Tier.GENERAL
