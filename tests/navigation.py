"""What each role's navigation must show (DESIGN.md roles table), shared by the page and browser tests."""

from django.urls import NoReverseMatch, reverse

from tourbrain_support.context_processors import NAVIGATION
from tourbrain_support.roles import CUSTOMER, Role

EXPECTED_NAVIGATION = {
    CUSTOMER: {"My tickets", "Docs", "Privacy"},
    Role.SUPPORT_REP: {"Queue", "Docs", "Privacy", "Admin"},
    Role.SUPPORT_LEAD: {"Queue", "Roadmap", "Beta cohort", "KPIs", "Docs", "Privacy", "Admin"},
    Role.ENGINEER: {"Queue", "Docs", "Privacy", "Admin"},
    Role.BILLING_ADMIN: {"Queue", "Docs", "Privacy", "Admin"},
    Role.PRODUCT_MANAGER: {"Roadmap", "KPIs", "Docs", "Privacy", "Admin"},
    Role.AUDITOR: {"Audit", "Security", "GDPR", "Docs", "Privacy", "Admin"},
    Role.ADMIN: {"Queue", "Roadmap", "Beta cohort", "KPIs", "Audit", "Security", "GDPR", "Docs", "Privacy", "Admin"},
}


def built_labels() -> set[str]:
    """Labels whose area exists (links to areas not built yet are left out of the navigation)."""
    built = set()
    for label, url_name, _roles in NAVIGATION:
        try:
            reverse(url_name)
        except NoReverseMatch:
            continue
        built.add(label)
    return built
