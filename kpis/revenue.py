"""Revenue from the subscription events: who pays what at the end of a day, with versioned plan prices.

A user subscribes with `subscriptionStarted{plan}` (a later one with another plan is a plan change) and leaves
with `churnEvent`. A subscription is priced at the plan's PlanPrice in effect on the day it started
(grandfathered); a plan without a price on that day is left out of MRR and ARPU alike.
"""

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from kpis.models import PlanPrice, ProductEvent


@dataclass(frozen=True)
class Subscription:
    plan: str
    price: Decimal | None


def price_list() -> dict[str, list[tuple[date, Decimal]]]:
    prices: dict[str, list[tuple[date, Decimal]]] = {}
    for plan, valid_from, price in PlanPrice.objects.order_by("valid_from").values_list(
        "plan", "valid_from", "monthly_price"
    ):
        prices.setdefault(plan, []).append((valid_from, price))
    return prices


def price_on(prices: dict, plan: str, day: date) -> Decimal | None:
    current = None
    for valid_from, price in prices.get(plan, []):
        if valid_from > day:
            break
        current = price
    return current


def subscription_changes(*, end: datetime) -> list[tuple[str, datetime, str, str | None]]:
    """(user, timestamp, event name, plan) of every subscription event before `end`, oldest first."""
    return list(
        ProductEvent.objects.filter(name__in=["subscriptionStarted", "churnEvent"], timestamp__lt=end)
        .order_by("timestamp", "id")
        .values_list("distinct_id", "timestamp", "name", "properties__plan")
    )


def subscriptions_at(changes, prices, *, at: datetime) -> dict[str, Subscription]:
    """Each paying user's subscription just before `at`."""
    current: dict[str, Subscription] = {}
    for user, timestamp, name, plan in changes:
        if timestamp >= at:
            break
        if name == "churnEvent":
            current.pop(user, None)
        else:
            current[user] = Subscription(plan, price_on(prices, plan, timestamp.date()))
    return current
