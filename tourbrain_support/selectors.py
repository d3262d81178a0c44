"""Core reads: a user's organizations and the tier that follows from them."""

from tourbrain_support.models import Organization, User
from tourbrain_support.tiers import Tier, resolve_tier


def user_organizations(*, user: User) -> list[Organization]:
    """The user's organizations, oldest membership first (the first is their home organization)."""
    return list(Organization.objects.filter(memberships__user=user).order_by("memberships__created_at", "pk"))


def user_tier(*, user: User, organizations: list[Organization]) -> Tier:
    """The best tier any of the user's organizations gives them (enterprise wins)."""
    tiers = [resolve_tier(user=user, organization=organization) for organization in organizations]
    tiers.append(resolve_tier(user=user, organization=None))
    order = [Tier.ENTERPRISE, Tier.BETA, Tier.GENERAL]
    return min(tiers, key=order.index)
