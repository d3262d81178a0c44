"""Admin actions of the surveys and the email domains: leads ask a beta organization for feedback or send it
the NPS survey now, approve testimonials and verify email domains; each is audited, reps may not."""

import pytest

from audit.models import AuditEvent
from tests.factories import MembershipFactory, OrganizationFactory
from tickets.models import BetaFeedback, BetaSupportProfile, NpsSurvey, OrganizationEmailDomain
from tickets.surveys import KIND_BETA_FEEDBACK, KIND_NPS_SURVEY
from tourbrain_support.notifications.models import OutboxMessage
from tourbrain_support.roles import Role

pytestmark = pytest.mark.django_db

PROFILES = "/admin/tickets/betasupportprofile/"


@pytest.fixture
def profile():
    organization = OrganizationFactory()
    for index in range(2):
        MembershipFactory(organization=organization, user__email=f"crew{index}@band.example.com")
    return BetaSupportProfile.objects.create(organization=organization)


def test_a_lead_asks_a_beta_organization_for_feedback_and_sends_nps_once(client_as, profile):
    lead = client_as(Role.SUPPORT_LEAD)
    lead.post(PROFILES, {"action": "ask_beta_feedback", "_selected_action": [profile.pk]})
    lead.post(PROFILES, {"action": "ask_beta_feedback", "_selected_action": [profile.pk]})  # same week
    lead.post(PROFILES, {"action": "send_nps_survey", "_selected_action": [profile.pk]})
    lead.post(PROFILES, {"action": "send_nps_survey", "_selected_action": [profile.pk]})  # same period

    assert OutboxMessage.objects.filter(kind=KIND_BETA_FEEDBACK).count() == 2
    assert OutboxMessage.objects.filter(kind=KIND_NPS_SURVEY).count() == 2
    assert set(NpsSurvey.objects.values_list("source", flat=True)) == {"admin"}
    assert AuditEvent.objects.filter(resource_type="nps_survey").count() == 2
    assert AuditEvent.objects.filter(resource_type="beta_feedback_request").count() == 1


def test_a_rep_cannot_send_surveys(client_as, profile):
    rep = client_as(Role.SUPPORT_REP)
    rep.post(PROFILES, {"action": "send_nps_survey", "_selected_action": [profile.pk]})
    assert not NpsSurvey.objects.exists()


def test_a_lead_approves_only_testimonials_given_with_consent(client_as, profile):
    people = [membership.user for membership in profile.organization.memberships.all()]
    consented = BetaFeedback.objects.create(
        user=people[0], round="2026-W10", conversion_intent="yes", testimonial="Great.", publish_consent=True
    )
    private = BetaFeedback.objects.create(
        user=people[1], round="2026-W10", conversion_intent="no", testimonial="Meh.", publish_consent=False
    )
    lead = client_as(Role.SUPPORT_LEAD)
    response = lead.post(
        "/admin/tickets/betafeedback/",
        {"action": "approve", "_selected_action": [consented.pk, private.pk]},
        follow=True,
    )
    assert "Approved 1 testimonial(s); 1 without consent or text skipped." in response.content.decode()
    consented.refresh_from_db()
    private.refresh_from_db()
    assert (consented.approved_by, private.approved_at) == (lead.user, None)


def test_a_lead_verifies_an_email_domain(client_as, profile):
    domain = OrganizationEmailDomain.objects.create(organization=profile.organization, domain="band.example.com")
    lead = client_as(Role.SUPPORT_LEAD)
    lead.post("/admin/tickets/organizationemaildomain/", {"action": "verify", "_selected_action": [domain.pk]})
    domain.refresh_from_db()
    assert domain.verified_at is not None
    assert AuditEvent.objects.filter(resource_type="organization_email_domain").exists()
