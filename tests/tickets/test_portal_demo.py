"""Demo data for the customer side: every demo customer signs in to /portal/ with the demo password, the beta
organization has its support profile and the cohort page an open invitation; running the seed again adds nothing."""

import pytest
from django.test import Client

from tickets import demo as tickets_demo
from tickets.models import BetaInvitation, BetaSupportProfile, Ticket
from tourbrain_support import demo as core_demo
from tourbrain_support.models import Membership
from tourbrain_support.notifications.models import OutboxMessage

pytestmark = pytest.mark.django_db


def test_demo_customers_use_the_portal_and_the_beta_organization_has_a_profile():
    core_demo.seed()
    tickets_demo.seed()
    tickets_demo.seed()  # idempotent

    customers = [email for email, *_ in tickets_demo.DEMO_CUSTOMERS] + tickets_demo.CORE_CUSTOMERS
    for email in customers:
        client = Client()
        assert client.login(username=email, password=core_demo.DEMO_PASSWORD), email
        response = client.get("/portal/")
        assert response.status_code == 200, email
    profile = BetaSupportProfile.objects.get()
    assert profile.organization.slug == "roadcase-touring"
    assert profile.dedicated_rep.email == "rep@tourbrain.test"
    # the beta organization's demo tickets went to its dedicated rep (those the sweep did not escalate to a lead)
    roadcase = Ticket.objects.filter(organization__slug="roadcase-touring", status="new", escalated_at__isnull=True)
    assert roadcase.exists()
    assert set(roadcase.values_list("assignee__email", flat=True)) <= {"rep@tourbrain.test"}
    assert Membership.objects.get(user__email="customer@backline.test").role == Membership.Role.OWNER
    assert BetaInvitation.objects.count() == 1
    assert OutboxMessage.objects.filter(kind="beta.invitation").count() == 1

    # the beta customer sees the profile and the next call on the portal
    client = Client()
    client.login(username="beta@roadcase.test", password=core_demo.DEMO_PASSWORD)
    assert "Every Tuesday at 16:00 (America/New_York)" in client.get("/portal/").content.decode()
