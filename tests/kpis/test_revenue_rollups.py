"""Revenue (MRR, ARPU, CLV, expansion with versioned plan prices) and support metrics (first response by
tier, SLA compliance, backlog) against brute-force Python over hypothesis-generated rows."""

import math
import uuid
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kpis.models import DailyMetric, PlanPrice, ProductEvent
from kpis.rollups import rollup_range
from tickets.models import Ticket

pytestmark = pytest.mark.django_db

START = date(2026, 2, 1)
SPAN_DAYS = 40
ROLLED = 6  # the last days are rolled up: every churn window holds earlier events
MIDNIGHT = datetime.combine(START, datetime.min.time(), tzinfo=UTC)
PLANS = ["starter", "professional", "enterprise"]
USERS = ["u1", "u2", "u3", "u4"]

subscription_strategy = st.tuples(
    st.sampled_from(["subscriptionStarted", "subscriptionStarted", "churnEvent"]),
    st.sampled_from(USERS),
    st.integers(0, SPAN_DAYS * 24 - 1),  # hour
    st.sampled_from(PLANS),
)
price_strategy = st.tuples(st.sampled_from(PLANS), st.integers(0, SPAN_DAYS), st.integers(10, 500))


def price_oracle(prices, plan, day):
    eligible = [(valid_from, price) for p, valid_from, price in prices if p == plan and valid_from <= day]
    return max(eligible)[1] if eligible else None


def revenue_oracle(events, prices, day) -> dict:
    """events: (name, user, at, plan) in insertion order; prices: (plan, valid_from day, Decimal)."""
    start = datetime.combine(day, datetime.min.time(), tzinfo=UTC)
    end = start + timedelta(days=1)
    ordered = sorted((e for e in events if e[2] < end), key=lambda e: e[2])  # stable: insertion order on ties

    def state_at(moment):
        state = {}
        for name, user, at, plan in ordered:
            if at >= moment:
                break
            state[user] = None if name == "churnEvent" else (plan, price_oracle(prices, plan, at.date()))
        return {user: sub for user, sub in state.items() if sub is not None}

    result = {}
    running = state_at(end)
    paid = [price for _, price in running.values() if price is not None]
    if ordered:
        result["mrr"] = {"": float(sum(paid))}
    if paid:
        result["arpu"] = {"": float(sum(paid)) / len(paid)}
    # Churn as the rollups define it: churned in the 30 days over those subscribed (and not churned) before.
    window_start = start - timedelta(days=29)
    subscribed = {e[1] for e in events if e[0] == "subscriptionStarted" and e[2] < window_start}
    churned_before = {e[1] for e in events if e[0] == "churnEvent" and e[2] < window_start}
    churned = {e[1] for e in events if e[0] == "churnEvent" and window_start <= e[2] < end}
    customers = subscribed - churned_before
    churn = len(churned & customers) / len(customers) if customers else None
    if paid and churn:
        result["clv"] = {"": result["arpu"][""] / churn}
    before = state_at(start)
    todays = [e for e in ordered if e[2] >= start]
    if before or todays:
        expansion = Decimal(0)
        for name, user, at, plan in todays:
            if name == "churnEvent":
                before.pop(user, None)
                continue
            new_price = price_oracle(prices, plan, at.date())
            if user in before and before[user][1] is not None and new_price is not None:
                expansion += max(Decimal(0), new_price - before[user][1])
            before[user] = (plan, new_price)
        result["expansion_revenue"] = {"": float(expansion)}
    return result


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    generated=st.lists(subscription_strategy, max_size=30),
    generated_prices=st.lists(price_strategy, max_size=8, unique_by=lambda p: (p[0], p[1])),
)
def test_revenue_metrics_equal_the_oracle(generated, generated_prices):
    ProductEvent.objects.all().delete()
    PlanPrice.objects.all().delete()
    DailyMetric.objects.all().delete()
    events = [(name, user, MIDNIGHT + timedelta(hours=hour), plan) for name, user, hour, plan in generated]
    prices = [(plan, START + timedelta(days=offset), Decimal(price)) for plan, offset, price in generated_prices]
    for name, user, at, plan in events:  # one by one: ids follow the list order (ties in time keep it)
        properties = {"plan": plan} if name == "subscriptionStarted" else {"reason": "price", "tenure": 1}
        ProductEvent.objects.create(
            uuid=uuid.uuid4(), name=name, distinct_id=user, timestamp=at, received_at=at, properties=properties
        )
    PlanPrice.objects.bulk_create(PlanPrice(plan=p, valid_from=v, monthly_price=price) for p, v, price in prices)
    first = START + timedelta(days=SPAN_DAYS - ROLLED)
    rollup_range(start=first, end=START + timedelta(days=SPAN_DAYS - 1))
    names = {"mrr", "arpu", "clv", "expansion_revenue"}
    for offset in range(ROLLED):
        day = first + timedelta(days=offset)
        stored: dict = {}
        for row in DailyMetric.objects.filter(day=day, metric__in=names):
            stored.setdefault(row.metric, {})[row.dimension_value] = row.value
        expected = revenue_oracle(events, prices, day)
        assert stored.keys() == expected.keys(), day
        for metric, values in expected.items():
            assert stored[metric][""] == pytest.approx(values[""]), (metric, day)


# --- support metrics from tickets -------------------------------------------------------------------------

ticket_strategy = st.tuples(
    st.sampled_from(["general", "beta", "enterprise"]),
    st.integers(0, 3 * 24 * 60),  # created, minutes after START
    st.one_of(st.none(), st.integers(1, 2 * 24 * 60)),  # first response, minutes after creation
    st.integers(30, 24 * 60),  # first response due, minutes after creation
    st.one_of(st.none(), st.integers(1, 3 * 24 * 60)),  # solved, minutes after creation
)


def _percentile(values, fraction):
    ordered = sorted(values)
    return ordered[math.ceil(fraction * len(ordered)) - 1]


def support_oracle(tickets, day) -> dict:
    start = datetime.combine(day, datetime.min.time(), tzinfo=UTC)
    end = start + timedelta(days=1)
    result: dict = {"backlog": {"": 0}}
    answered = [t for t in tickets if t["responded"] is not None and start <= t["responded"] < end]
    for name, fraction in (("first_response_median", 0.5), ("first_response_p90", 0.9)):
        if answered:
            minutes = {t["tier"]: [] for t in answered}
            for t in answered:
                minutes[t["tier"]].append((t["responded"] - t["created"]).total_seconds() / 60)
            result[name] = {tier: _percentile(values, fraction) for tier, values in minutes.items()}
            result[name][""] = _percentile([m for values in minutes.values() for m in values], fraction)
    due = [t for t in tickets if start <= t["due"] < end]
    if due:
        result["sla_compliance"] = {}
        for tier in {t["tier"] for t in due}:
            mine = [t for t in due if t["tier"] == tier]
            result["sla_compliance"][tier] = sum(
                1 for t in mine if t["responded"] and t["responded"] <= t["due"]
            ) / len(mine)
        result["sla_compliance"][""] = sum(1 for t in due if t["responded"] and t["responded"] <= t["due"]) / len(due)
    for t in tickets:
        if t["created"] < end and (t["solved"] is None or t["solved"] >= end):
            result["backlog"][t["tier"]] = result["backlog"].get(t["tier"], 0) + 1
            result["backlog"][""] += 1
    return result


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(generated=st.lists(ticket_strategy, max_size=25))
def test_support_metrics_equal_the_oracle(generated):
    Ticket.objects.all().delete()
    DailyMetric.objects.all().delete()
    tickets = []
    for tier, created, responded, due, solved in generated:
        created_at = MIDNIGHT + timedelta(minutes=created)
        tickets.append(
            {
                "tier": tier,
                "created": created_at,
                "responded": created_at + timedelta(minutes=responded) if responded is not None else None,
                "due": created_at + timedelta(minutes=due),
                "solved": created_at + timedelta(minutes=solved) if solved is not None else None,
            }
        )
    Ticket.objects.bulk_create(
        Ticket(
            type="bug",
            subject="s",
            description="d",
            tier=t["tier"],
            created_at=t["created"],
            first_responded_at=t["responded"],
            first_response_due_at=t["due"],
            solved_at=t["solved"],
            status="solved" if t["solved"] else "open",
        )
        for t in tickets
    )
    rollup_range(start=START, end=START + timedelta(days=4))
    names = {"first_response_median", "first_response_p90", "sla_compliance", "backlog"}
    for offset in range(5):
        day = START + timedelta(days=offset)
        stored: dict = {}
        for row in DailyMetric.objects.filter(day=day, metric__in=names):
            stored.setdefault(row.metric, {})[row.dimension_value] = row.value
        expected = support_oracle(tickets, day)
        assert stored.keys() == expected.keys(), day
        for metric, values in expected.items():
            assert stored[metric].keys() == values.keys(), (metric, day)
            for key, value in values.items():
                assert stored[metric][key] == pytest.approx(value), (metric, day, key)
