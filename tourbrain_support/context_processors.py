"""Navigation by role: each user sees links to the areas their roles may open, and only those."""

from django.urls import reverse

from tourbrain_support.roles import (
    ALERT_ROLES,
    AUDIT_ROLES,
    KPI_ROLES,
    ONCALL_VIEW_ROLES,
    QUEUE_ROLES,
    ROADMAP_ROLES,
    Role,
    user_roles,
)

# (label, url name, roles that see it; None = every signed-in user, "customer" = users without a staff role)
NAVIGATION = [
    ("Queue", "tickets:queue", QUEUE_ROLES),
    ("Roadmap", "tickets:roadmap", ROADMAP_ROLES),
    ("My tickets", "tickets:portal", "customer"),
    ("Beta cohort", "tickets:beta_cohort", (Role.SUPPORT_LEAD, Role.ADMIN)),
    ("KPIs", "kpis:dashboard", KPI_ROLES),
    ("Alerts", "alerting:alerts", ALERT_ROLES),
    ("Audit", "audit:events", AUDIT_ROLES),
    ("Security", "audit:security", AUDIT_ROLES),
    ("GDPR", "audit:gdpr", AUDIT_ROLES),
    ("On call", "oncall:oncall", ONCALL_VIEW_ROLES),
    ("Launch", "oncall:launch", (Role.ADMIN,)),
    ("Docs", "knowledge_base:index", None),
    ("Privacy", "audit:privacy", None),
    ("Admin", "admin:index", tuple(Role.values)),
]


def navigation_items(user) -> list[dict]:
    roles = user_roles(user)
    items = []
    for label, url_name, allowed in NAVIGATION:
        visible = not roles if allowed == "customer" else allowed is None or bool(roles & set(allowed))
        if not visible:
            continue
        items.append({"label": label, "url": reverse(url_name)})
    return items


def navigation(request):
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {"nav_items": [], "user_roles": []}
    return {"nav_items": navigation_items(user), "user_roles": sorted(user_roles(user))}
