"""Default SLA targets, calendars, teams and routing rules (loaded by a data migration; documented in the README).

First response from the seed: enterprise 60, beta 120, general 480 business minutes; a critical
ticket halves the first-response and next-response targets (so a critical bug from a beta user
gets 60). Resolution targets scale by priority (a business day is 540 minutes, 09:00-18:00).
"""

# tier -> (first response, next response) at normal priority (low, medium, high).
BASE_RESPONSE = {"enterprise": (60, 120), "beta": (120, 240), "general": (480, 480)}
# tier -> priority -> resolution target.
RESOLUTION = {
    "enterprise": {"critical": 240, "high": 540, "medium": 1080, "low": 2700},
    "beta": {"critical": 480, "high": 1080, "medium": 2160, "low": 4320},
    "general": {"critical": 960, "high": 2160, "medium": 4320, "low": 8640},
}
PRIORITIES = ("low", "medium", "high", "critical")


def default_targets() -> list[dict]:
    """Twelve rows tier x priority with first_response/next_response/resolution minutes."""
    rows = []
    for tier, (first, following) in BASE_RESPONSE.items():
        for priority in PRIORITIES:
            factor = 2 if priority == "critical" else 1
            rows.append(
                {
                    "tier": tier,
                    "priority": priority,
                    "first_response_minutes": first // factor,
                    "next_response_minutes": following // factor,
                    "resolution_minutes": RESOLUTION[tier][priority],
                }
            )
    return rows


WEEKDAY_HOURS = [[["09:00", "18:00"]]] * 5 + [[], []]

TEAMS = [
    ("support", "Support"),
    ("engineering", "Engineering"),
    ("billing", "Billing"),
    ("product", "Product"),
]

# Every beta ticket joins the priority queue (the seed's BetaSupport.priorityQueue); a lead can narrow it
# (e.g. back to critical only) by editing the rule.
BETA_PRIORITY_RULE = "Every ticket from beta users goes to the priority queue"
# (order, type, priority, tier, team, priority_queue, description)
ROUTING_RULES = [
    (10, "", "", "beta", "", True, BETA_PRIORITY_RULE),
    (20, "", "critical", "enterprise", "", True, "Critical tickets from enterprise customers go to the priority queue"),
    (100, "bug", "", "", "engineering", False, "Bugs go to engineering"),
    (110, "billing", "", "", "billing", False, "Billing questions go to billing"),
    (120, "feature_request", "", "", "product", False, "Feature requests go to product (roadmap)"),
    (130, "question", "", "", "support", False, "Questions go to support"),
]


def load_defaults(get_model) -> None:
    """Create the default calendars, policy v1, teams and routing rules where missing.

    `get_model` is `apps.get_model` of a migration or of the running project. Run by the data migration;
    at runtime again only when the tables were emptied (a flushed database), see `ensure_defaults`.
    """
    from django.conf import settings

    Calendar = get_model("tickets", "BusinessCalendarConfig")
    Policy = get_model("tickets", "SLAPolicy")
    Target = get_model("tickets", "SLATarget")
    Team = get_model("tickets", "Team")
    Rule = get_model("tickets", "RoutingRule")

    business, _ = Calendar.objects.get_or_create(
        name="Business hours",
        defaults={
            "timezone": settings.BUSINESS_TIMEZONE,
            "weekly_hours": WEEKDAY_HOURS,
            "holiday_country": settings.BUSINESS_COUNTRY,
        },
    )
    Calendar.objects.get_or_create(name="24/7", defaults={"timezone": "UTC", "always_open": True})
    if not Policy.objects.exists():
        policy = Policy.objects.create(version=1, name="Default", calendar=business, is_active=True)
        Target.objects.bulk_create(Target(policy=policy, **row) for row in default_targets())
    for slug, name in TEAMS:
        Team.objects.get_or_create(slug=slug, defaults={"name": name})
    if not Rule.objects.exists():
        Rule.objects.bulk_create(
            Rule(
                order=order,
                type=type_,
                priority=priority,
                tier=tier,
                team=team,
                priority_queue=priority_queue,
                description=description,
            )
            for order, type_, priority, tier, team, priority_queue, description in ROUTING_RULES
        )


def ensure_defaults() -> None:
    """Recreate the defaults when no SLA policy exists at all (e.g. after `flush`); a no-op otherwise."""
    from django.apps import apps

    if not apps.get_model("tickets", "SLAPolicy").objects.exists():
        load_defaults(apps.get_model)
