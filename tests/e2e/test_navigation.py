"""Each role logs in through the real login form and sees exactly its navigation."""

import pytest
from django.urls import NoReverseMatch, reverse

from tourbrain_support.context_processors import NAVIGATION
from tourbrain_support.roles import CUSTOMER, Role

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

# What each role may open (DESIGN.md roles table); links whose area is not built yet are left out below.
EXPECTED_NAVIGATION = {
    CUSTOMER: {"My tickets", "Docs"},
    Role.SUPPORT_REP: {"Queue", "Docs", "Admin"},
    Role.SUPPORT_LEAD: {"Queue", "Roadmap", "KPIs", "Docs", "Admin"},
    Role.ENGINEER: {"Queue", "Docs", "Admin"},
    Role.BILLING_ADMIN: {"Queue", "Docs", "Admin"},
    Role.PRODUCT_MANAGER: {"Roadmap", "KPIs", "Docs", "Admin"},
    Role.AUDITOR: {"Audit", "Security", "GDPR", "Docs", "Admin"},
    Role.ADMIN: {"Queue", "Roadmap", "KPIs", "Audit", "Security", "GDPR", "Docs", "Admin"},
}


def _built_labels() -> set[str]:
    built = set()
    for label, url_name, _roles in NAVIGATION:
        try:
            reverse(url_name)
        except NoReverseMatch:
            continue
        built.add(label)
    return built


@pytest.mark.parametrize("role", list(EXPECTED_NAVIGATION))
def test_each_role_sees_its_navigation(page, login_as, role):
    # given a user with the role, logged in through the login form
    user = login_as(role)

    # when the home page is shown
    page.goto("/")

    # then the main navigation holds exactly the role's links, and the header names the user
    labels = {text.strip() for text in page.locator("nav.main-nav a").all_inner_texts()}
    assert labels == EXPECTED_NAVIGATION[role] & _built_labels()
    assert user.name in page.locator("[data-testid=current-user]").inner_text()
