"""Each role logs in through the real login form and sees exactly its navigation."""

import pytest

from tests.navigation import EXPECTED_NAVIGATION
from tourbrain_support.roles import Role

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


@pytest.mark.parametrize("role", list(EXPECTED_NAVIGATION))
def test_each_role_sees_its_navigation(page, login_as, role):
    # given a user with the role, logged in through the login form
    user = login_as(role)

    # when the home page is shown
    page.goto("/")

    # then the main navigation holds exactly the role's links, and the header names the user
    links = page.locator("nav.main-nav a")
    labels = [text.strip() for text in links.all_inner_texts()]
    hrefs = [links.nth(index).get_attribute("href") for index in range(links.count())]
    assert list(zip(labels, hrefs, strict=True)) == EXPECTED_NAVIGATION[role]
    assert user.name in page.locator("[data-testid=current-user]").inner_text()


def test_log_out_returns_to_the_login_page(page, login_as):
    # given a signed-in support rep
    login_as(Role.SUPPORT_REP)

    # when they press "Log out"
    page.goto("/")
    page.get_by_role("button", name="Log out").click()
    page.wait_for_url("**/accounts/login/")

    # then the home page needs a login again
    page.goto("/")
    assert "/accounts/login/" in page.url


def test_layout_fits_a_phone_screen(page, login_as):
    # given an admin (the longest navigation) on a 360 px wide screen
    login_as(Role.ADMIN)
    page.set_viewport_size({"width": 360, "height": 740})

    # when the home page is shown, then nothing overflows sideways and the skip link comes first
    page.goto("/")
    overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
    assert overflow <= 0
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "Skip to content"


def test_login_as_an_existing_user_switches_the_session(page, login_as, make_user):
    # given a customer created by the test itself, after a rep was signed in
    login_as(Role.SUPPORT_REP)
    customer = make_user(None, name="Casey Customer")

    # when the harness logs in as that user
    login_as(user=customer)

    # then the header names the customer
    page.goto("/")
    assert "Casey Customer" in page.locator("[data-testid=current-user]").inner_text()


def test_page_starts_with_the_portal_defaults_after_earlier_flushes(page):
    # the tests above ended with a flush of every table; the harness put the ticket defaults back
    from tickets.models import SLAPolicy

    assert SLAPolicy.objects.exists()
