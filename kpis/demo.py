"""Demo product events for `seed_demo`: six weeks of a believable launch (signups, onboarding, tours, AI
routing, collaboration, exports, subscriptions, churn, web vitals), request samples and OpenAI usage, then the
rollups of those days. Idempotent: event
uuids are derived from a fixed seed, so a rerun inserts nothing new and recomputes the same rows."""

import random
import uuid
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

from django.utils import timezone

from kpis.models import HealthSample, MarketingSpend, OpenAIUsageSample, PlanPrice, ProductEvent, ProjectApiKey
from kpis.rollups import rollup_range

DEMO_DAYS = 42
DEMO_API_KEY = "phc_tourbrain_demo_local"  # printed for the local demo only
# Monthly list prices of the demo (a fixed first version; later versions are added in the admin).
DEMO_PRICES = {"starter": Decimal("49.00"), "professional": Decimal("149.00"), "enterprise": Decimal("499.00")}
DEMO_PRICES_FROM = date(2026, 1, 1)
NAMESPACE = uuid.UUID("6f1c2d4e-8a7b-4c3d-9e2f-1a2b3c4d5e6f")


def _events(today) -> list[ProductEvent]:
    rng = random.Random(15)  # noqa: S311 - demo data, not security
    events: list[ProductEvent] = []
    users: list[tuple[str, int]] = []  # (distinct id, signup day offset)
    first_day = today - timedelta(days=DEMO_DAYS)

    def add(name: str, user: str, offset: int, properties: dict) -> None:
        at = datetime.combine(first_day + timedelta(days=offset), time(9), tzinfo=UTC)
        at += timedelta(seconds=rng.randrange(10 * 3600))
        key = f"{name}:{user}:{offset}:{len(events)}"
        events.append(
            ProductEvent(
                uuid=uuid.uuid5(NAMESPACE, key),
                name=name,
                distinct_id=user,
                timestamp=at,
                received_at=at,
                properties=properties,
                organization_key=f"org-{user}",
            )
        )

    for offset in range(DEMO_DAYS):
        for _ in range(rng.randint(1, 3) + offset // 10):
            user = f"demo-user-{len(users) + 1}"
            users.append((user, offset))
            add(
                "userSignup",
                user,
                offset,
                {
                    "method": rng.choice(["email", "email", "google", "github"]),
                    "referral": rng.choice(["referral", "word_of_mouth", "search", "ads"]),
                },
            )
            add("organizationCreated", user, offset, {"type": rng.choice(["promoter", "agency", "artist_team"])})
            if rng.random() < 0.82:
                add("onboardingCompleted", user, offset, {"timeToComplete": rng.randint(300, 2400)})
        for user, signed_up in users:
            if offset < signed_up or rng.random() > 0.45:
                continue
            add("pageView", user, offset, {})
            if rng.random() < 0.3:
                add("tourCreated", user, offset, {"artistCount": rng.randint(1, 4), "venueCount": rng.randint(5, 30)})
            if rng.random() < 0.25:
                add(
                    "aiRoutingUsed",
                    user,
                    offset,
                    {"scenariosGenerated": rng.randint(1, 5), "applied": rng.random() < 0.6},
                )
            if rng.random() < 0.2:
                add("collaborationUsed", user, offset, {"permission": "edit", "external": rng.random() < 0.4})
            if rng.random() < 0.15:
                add(
                    "exportGenerated",
                    user,
                    offset,
                    {"type": rng.choice(["pdf", "csv", "ical"]), "showId": f"show-{offset}"},
                )
            if offset - signed_up == 14 and rng.random() < 0.3:
                add(
                    "subscriptionStarted",
                    user,
                    offset,
                    {"plan": rng.choice(["starter", "professional", "professional"])},
                )
            if offset - signed_up == 25 and rng.random() < 0.15:  # an upgrade (or a late first subscription)
                add("subscriptionStarted", user, offset, {"plan": "enterprise"})
            if offset - signed_up > 20 and rng.random() < 0.004:
                add("churnEvent", user, offset, {"reason": "price", "tenure": offset - signed_up})
    # posthog-js $web_vitals: a few page loads a day on the product's main pages.
    pages = ["/", "/tours/", "/tours/{}/", "/tours/{}/routing/", "/shows/{}/"]
    for offset in range(DEMO_DAYS):
        for _ in range(12):
            page = rng.choice(pages).format(rng.randint(1, 400))
            add(
                "$web_vitals",
                f"demo-user-{rng.randint(1, max(1, len(users)))}",
                offset,
                {
                    "$current_url": "https://app.tourbrain.example" + page,
                    "$pathname": page,
                    "$web_vitals_LCP_value": round(rng.lognormvariate(7.3, 0.4), 1),
                    "$web_vitals_INP_value": round(rng.lognormvariate(4.8, 0.5), 1),
                    "$web_vitals_CLS_value": round(rng.random() * 0.15, 3),
                    "$web_vitals_FCP_value": round(rng.lognormvariate(6.9, 0.4), 1),
                },
            )
    return events


def _health(today) -> tuple[list[HealthSample], list[OpenAIUsageSample]]:
    """Request samples (portal and Vercel) with one bad hour on day 20, and hourly OpenAI usage."""
    rng = random.Random(16)  # noqa: S311 - demo data, not security
    first_day = today - timedelta(days=DEMO_DAYS)
    routes = ["tickets:queue", "kpis:dashboard", "api-tickets", "tickets:portal", "knowledge_base:search"]
    samples: list[HealthSample] = []
    usage: list[OpenAIUsageSample] = []
    for offset in range(DEMO_DAYS):
        midnight = datetime.combine(first_day + timedelta(days=offset), time.min, tzinfo=UTC)
        for n in range(240):
            at = midnight + timedelta(seconds=n * 360 + rng.randrange(360))
            incident = offset == 20 and at.hour == 14
            source = HealthSample.Source.VERCEL if n % 4 == 0 else HealthSample.Source.PORTAL
            status = 503 if incident and rng.random() < 0.7 else (500 if rng.random() < 0.003 else 200)
            duration = round(rng.lognormvariate(4.6, 0.6), 1)
            samples.append(
                HealthSample(
                    source=source,
                    sample_key=f"demo:{source}:{offset}:{n}",
                    at=at,
                    route=rng.choice(routes) if source == HealthSample.Source.PORTAL else "/api/tours",
                    method="GET",
                    status=status,
                    duration_ms=None if source == HealthSample.Source.VERCEL else duration,
                    region="fra1" if source == HealthSample.Source.VERCEL else "",
                )
            )
        for hour in range(24):
            for model, price in (("gpt-4o", 0.02), ("gpt-4o-mini", 0.001)):
                requests = rng.randint(5, 40) + offset
                usage.append(
                    OpenAIUsageSample(
                        sample_key=f"demo:{offset}:{hour}:{model}",
                        at=midnight + timedelta(hours=hour, minutes=59),
                        model=model,
                        requests=requests,
                        input_tokens=requests * 1200,
                        output_tokens=requests * 300,
                        cost_usd=round(requests * price, 6),
                        rate_limit_hits=1 if rng.random() < 0.05 else 0,
                    )
                )
    return samples, usage


def seed(stdout=None) -> None:
    ProjectApiKey.objects.get_or_create(key=DEMO_API_KEY, defaults={"name": "Demo web app"})
    for plan, price in DEMO_PRICES.items():
        PlanPrice.objects.get_or_create(plan=plan, valid_from=DEMO_PRICES_FROM, defaults={"monthly_price": price})
    today = timezone.now().date()
    this_month = today.replace(day=1)
    for month in ((this_month - timedelta(days=1)).replace(day=1), this_month):  # for the acquisition cost
        MarketingSpend.objects.get_or_create(month=month, defaults={"amount_usd": 1500, "note": "Demo ads budget"})
    ProductEvent.objects.bulk_create(_events(today), batch_size=500, ignore_conflicts=True)
    samples, usage = _health(today)
    HealthSample.objects.bulk_create(samples, batch_size=500, ignore_conflicts=True)
    OpenAIUsageSample.objects.bulk_create(usage, batch_size=500, ignore_conflicts=True)
    rollup_range(start=today - timedelta(days=DEMO_DAYS), end=today - timedelta(days=1))
    if stdout:
        stdout.write(f"KPI demo: {DEMO_DAYS} days of product events rolled up; project API key {DEMO_API_KEY}")
