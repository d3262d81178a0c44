"""`make run`'s promise: every printed demo login works in the browser and shows that role's navigation."""

import pytest

from tests.navigation import EXPECTED_NAVIGATION
from tourbrain_support import demo
from tourbrain_support.roles import CUSTOMER

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_every_printed_demo_login_works(page):
    # given the core demo data (organizations and one user per role) that `make run` loads and prints
    logins = demo.seed()

    for email, _name, role, _beta, _org in demo.DEMO_USERS:
        # when each demo user logs in through the form with the printed password
        page.context.clear_cookies()
        page.goto("/accounts/login/")
        page.fill("#id_username", email)
        page.fill("#id_password", demo.DEMO_PASSWORD)
        page.click("form button[type=submit]")
        page.wait_for_load_state()

        # then they land on the home page with exactly their role's navigation
        assert "/accounts/login/" not in page.url, email
        links = page.locator("nav.main-nav a")
        labels = [text.strip() for text in links.all_inner_texts()]
        hrefs = [links.nth(index).get_attribute("href") for index in range(links.count())]
        assert list(zip(labels, hrefs, strict=True)) == EXPECTED_NAVIGATION[role or CUSTOMER], email
        assert email in {email for _role, email in logins}
