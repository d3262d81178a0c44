"""Real browser: a customer manages their own privacy (withdraws a consent, accepts the new policy, asks
for a copy of their data), and the auditor's GDPR page then shows the request."""

from datetime import timedelta

import pytest
from django.utils import timezone

from audit.gdpr import consent_record, policy_version_publish
from audit.models import ConsentRecord, DataSubjectRequest
from tourbrain_support.roles import CUSTOMER, Role

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_customer_manages_their_privacy_and_staff_see_the_request(page, login_as, make_user):
    # given a customer who signed up under the old policy with marketing email on, and a new policy
    customer = make_user(None, email="privacy.customer@example.test", name="Pat Privacy")
    old = policy_version_publish(version="2025-09", published_at=timezone.now() - timedelta(days=90))
    consent_record(user=customer, purpose="privacy_policy", granted=True, source="signup", policy_version=old)
    consent_record(user=customer, purpose="marketing_email", granted=True, source="signup")
    policy_version_publish(version="2026-01", published_at=timezone.now() - timedelta(days=1), text="Plain words.")
    login_as(CUSTOMER, user=customer)

    # when they follow "Privacy" in the navigation
    page.goto("/")
    page.locator("nav.main-nav").get_by_role("link", name="Privacy").click()
    page.wait_for_url("**/account/privacy/")
    assert page.get_by_role("heading", level=1).inner_text() == "My privacy"
    assert "You accepted version 2025-09; version 2026-01 replaces it." in page.get_by_test_id("policy").inner_text()

    # and withdraw marketing email
    page.get_by_role("button", name="Withdraw consent: Marketing email").click()
    page.wait_for_load_state()
    assert "Marketing email: consent withdrawn." in page.get_by_role("status").inner_text()
    row = page.locator("[data-testid=consents] tr[data-purpose=marketing_email]")
    assert "Withdrawn" in row.get_by_test_id("consent-state").inner_text()

    # and accept the new policy
    page.get_by_role("button", name="Accept version 2026-01").click()
    page.wait_for_load_state()
    assert "Accepted" in page.get_by_test_id("policy-status").inner_text()

    # and ask for a copy of their data
    page.get_by_role("button", name="Request a copy of my data").click()
    page.wait_for_load_state()
    dsr = DataSubjectRequest.objects.get(subject=customer)
    assert f"(#{dsr.pk})" in page.get_by_role("status").inner_text()
    request_row = page.locator(f"[data-testid=my-requests] tr[data-request='{dsr.pk}']")
    assert "Received" in request_row.inner_text()
    assert dsr.due_at.strftime("%Y-%m-%d") in request_row.inner_text()

    # then each change was recorded once, from the portal
    latest = ConsentRecord.objects.filter(user=customer).order_by("-recorded_at", "-id")
    assert [(r.purpose, r.granted, r.source) for r in latest[:2]] == [
        ("privacy_policy", True, "portal"),
        ("marketing_email", False, "portal"),
    ]

    # and the auditor's GDPR page lists the open request with the person and due date
    login_as(Role.AUDITOR)
    page.goto("/audit/gdpr/")
    open_row = page.locator("[data-testid=open-requests] tbody tr", has_text="privacy.customer@example.test")
    assert open_row.count() == 1
    assert "Access (export)" in open_row.inner_text()
    assert "Received" in open_row.inner_text()


def test_privacy_page_fits_a_phone_screen(page, login_as):
    # given a customer on a 360 px wide screen, then the page (tables, forms) does not overflow sideways
    policy_version_publish(version="2026-01", published_at=timezone.now() - timedelta(days=1))
    login_as(CUSTOMER)
    page.set_viewport_size({"width": 360, "height": 740})
    page.goto("/account/privacy/")
    overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
    assert overflow <= 0
    # and the erasure confirmation is found by its label
    page.get_by_role("link", name="Ask us to erase my data…").click()
    page.get_by_label("I understand that erasure closes my account").check()
    page.get_by_role("button", name="Request erasure").click()
    page.wait_for_load_state()
    assert "We received your erasure request" in page.get_by_role("status").inner_text()
