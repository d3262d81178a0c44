"""Real browser: the lockout message on the login page, an admin lifting it, an auditor reviewing the log."""

import re

import pytest

from audit.models import LoginLockout
from audit.services import audit_record
from tests.e2e.conftest import E2E_PASSWORD
from tourbrain_support.roles import Role

pytestmark = pytest.mark.e2e


def _attempt(page, email, password):
    page.goto("/accounts/login/")
    page.fill("#id_username", email)
    page.fill("#id_password", password)
    page.click("form button[type=submit]")
    page.wait_for_load_state()


def test_locked_out_login_says_so_and_an_admin_lifts_it(page, login_as, make_user, settings):
    settings.LOGIN_LOCKOUT_ACCOUNT_THRESHOLD = 3
    person = make_user(email="locked.person@example.test")
    # given three wrong passwords
    for _ in range(3):
        _attempt(page, person.email, "wrong-password")
    alert = page.locator("[role=alert]")
    assert "Too many failed login attempts" in alert.inner_text()
    # when the right password follows, then it is still refused with the same clear message
    _attempt(page, person.email, E2E_PASSWORD)
    assert "/accounts/login/" in page.url
    assert "Too many failed login attempts" in page.locator("[role=alert]").inner_text()
    # and an unknown address reads exactly the same after as many failures
    for _ in range(3):
        _attempt(page, "nobody.at.all@example.test", "wrong-password")
    assert "Too many failed login attempts" in page.locator("[role=alert]").inner_text()

    # when an admin lifts the lockout on the security page
    login_as(Role.ADMIN)
    page.goto("/audit/security/")
    row = page.locator("[data-testid=lockouts] tr", has_text="locked.person@example.test")
    row.get_by_role("button", name="Lift").click()
    page.wait_for_load_state()
    assert "Lockout lifted." in page.content()
    assert not LoginLockout.objects.get(user=person).is_locked()
    # then the person can log in again
    page.context.clear_cookies()
    _attempt(page, person.email, E2E_PASSWORD)
    assert "/accounts/login/" not in page.url


def test_auditor_filters_opens_an_event_and_cannot_lift(page, login_as, make_user):
    subject = make_user(email="ticket.owner@example.test")
    for n in range(3):
        audit_record(
            actor=subject,
            action="update",
            resource_type="ticket",
            resource_id=str(100 + n),
            changes={"status": ["open", f"solved-{n}"]},
        )
    login_as(Role.AUDITOR)
    page.goto("/audit/?resource_type=ticket&resource_id=101")
    rows = page.locator("[data-testid=events] tbody tr")
    assert rows.count() == 1
    rows.first.locator("a").first.click()
    page.wait_for_load_state()
    assert re.search(r"/audit/events/\d+/$", page.url)
    assert "solved-1" in page.locator("[data-testid=changes]").inner_text()
    page.goto("/audit/security/")
    assert page.get_by_role("button", name="Lift").count() == 0
    assert page.locator("[data-metric=failed_login_attempts]").is_visible()
