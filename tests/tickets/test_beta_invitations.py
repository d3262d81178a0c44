"""Beta invitations: leads invite from /beta/ (personalised, audited email with a signed, expiring link);
accepting makes the person a beta user (new account or signed in); the cohort page counts against 15."""

import re
import uuid
from datetime import timedelta

import pytest
import time_machine
from django.test import Client
from django.utils import timezone

from audit.models import AuditEvent
from kpis.models import ProductEvent
from kpis.selectors import beta_users_active_since
from tests.factories import OrganizationFactory
from tickets.beta_invitations import beta_active_counter_register, beta_invite
from tickets.models import BetaInvitation
from tourbrain_support.models import ExternalIdentity, Membership, User
from tourbrain_support.notifications.models import OutboxMessage
from tourbrain_support.roles import Role
from tourbrain_support.tiers import Tier, resolve_tier

pytestmark = pytest.mark.django_db

ACCEPT = re.compile(r"http://[^/\s]+(/portal/beta/join/[^\s]+/)")


@pytest.fixture
def lead(make_user):
    return make_user(Role.SUPPORT_LEAD, name="Lee Lead")


def _invite(lead, email="tia@backline.test", **fields):
    beta_invite(email=email, actor=lead, **fields)
    message = OutboxMessage.objects.filter(kind="beta.invitation", recipient=email).latest("id")
    return ACCEPT.search(message.body).group(1), message


def test_lead_invites_from_the_cohort_page_with_a_personal_note(client_as):
    client = client_as(Role.SUPPORT_LEAD, name="Lee Lead")
    organization = OrganizationFactory(name="Backline Booking")
    response = client.post(
        "/beta/invite/",
        {
            "email": "Tia@Backline.test",
            "name": "Tia O'Tourmanager",
            "organization": organization.pk,
            "personal_message": "We loved your feedback on routing <b>!</b>",
        },
    )
    assert response.status_code == 302
    invitation = BetaInvitation.objects.get()
    assert (invitation.email, invitation.status, invitation.organization) == (
        "tia@backline.test",
        "pending",
        organization,
    )
    message = OutboxMessage.objects.get(kind="beta.invitation")
    assert message.recipient == "tia@backline.test"
    # the template is personalised, plain text kept as typed
    assert "Hello Tia O'Tourmanager," in message.body
    assert "Lee Lead invites you to the TourBrain beta with Backline Booking." in message.body
    assert "We loved your feedback on routing <b>!</b>" in message.body
    assert ACCEPT.search(message.body)
    event = AuditEvent.objects.get(resource_type="beta_invitation")
    assert (event.action, event.changes["operation"]) == ("create", "invite")
    # and the cohort page lists it, the note escaped
    html = client.get("/beta/").content.decode()
    assert "tia@backline.test" in html
    assert 'data-testid="count-invited">1<' in html


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"email": "not-an-email"}, "email"),
        ({"email": "x@y.test", "personal_message": "x" * 2001}, "personal_message"),
        ({"email": "x@y.test", "organization": "999999"}, "organization"),
    ],
)
def test_bad_invitations_are_form_errors(client_as, data, field):
    response = client_as(Role.SUPPORT_LEAD).post("/beta/invite/", data)
    assert response.status_code == 400
    assert response.context["form"].errors[field]
    assert not BetaInvitation.objects.exists()
    assert not OutboxMessage.objects.exists()


def test_staff_and_existing_beta_users_cannot_be_invited(client_as, make_user):
    make_user(Role.SUPPORT_REP, email="rita@tourbrain.test")
    make_user(None, email="bo@roadcase.test", is_beta=True)
    client = client_as(Role.SUPPORT_LEAD)
    staff = client.post("/beta/invite/", {"email": "rita@tourbrain.test"})
    already = client.post("/beta/invite/", {"email": "BO@roadcase.test"})
    assert (staff.status_code, already.status_code) == (400, 400)
    assert "staff account" in staff.content.decode()
    assert "already in the beta" in already.content.decode()
    assert not BetaInvitation.objects.exists()


@pytest.mark.parametrize("role", [None, Role.SUPPORT_REP, Role.AUDITOR, Role.PRODUCT_MANAGER])
def test_only_leads_and_admins_open_the_cohort_page(client_as, role):
    client = client_as(role)
    assert client.get("/beta/").status_code == 403
    assert client.post("/beta/invite/", {"email": "x@y.test"}).status_code == 403
    assert not BetaInvitation.objects.exists()


def test_new_person_accepts_by_creating_an_account(lead, django_assert_max_num_queries):
    organization = OrganizationFactory()
    path, _ = _invite(lead, name="Tia", organization=organization)
    client = Client()
    with django_assert_max_num_queries(2):
        page = client.get(path)
    assert page.status_code == 200
    assert "Create your account for tia@backline.test" in page.content.decode()
    # a weak password is a form error, nothing is created
    weak = client.post(path, {"name": "Tia", "password": "123", "password_again": "123"})
    assert weak.status_code == 400
    assert not User.objects.filter(email="tia@backline.test").exists()

    response = client.post(
        path, {"name": "Tia T", "password": "long-enough-pass-42", "password_again": "long-enough-pass-42"}
    )
    assert (response.status_code, response.url) == (302, "/portal/")
    user = User.objects.get(email="tia@backline.test")
    assert user.is_beta
    assert resolve_tier(user=user, organization=organization) == Tier.BETA
    assert Membership.objects.filter(user=user, organization=organization).exists()
    assert client.get("/portal/").status_code == 200  # signed in
    invitation = BetaInvitation.objects.get()
    assert (invitation.status, invitation.user) == ("accepted", user)
    assert AuditEvent.objects.filter(resource_type="beta_invitation", changes__operation="accept").exists()
    # the link is spent
    assert Client().get(path).status_code == 410


def test_existing_customer_accepts_signed_in_and_only_with_the_invited_account(lead, make_user):
    tia = make_user(None, email="tia@backline.test")
    path, _ = _invite(lead)
    # signed out: asked to sign in first
    assert "sign in" in Client().get(path).content.decode()
    # signed in as someone else: refused
    stranger = Client()
    stranger.force_login(make_user(None))
    assert "This invitation is for tia@backline.test" in stranger.get(path).content.decode()
    assert stranger.post(path).status_code == 403
    # the invited customer joins
    client = Client()
    client.force_login(tia)
    assert client.post(path).status_code == 302
    tia.refresh_from_db()
    assert tia.is_beta


def test_expired_revoked_replaced_and_forged_links_do_not_work(lead, client_as):
    expired, _ = _invite(lead, email="old@x.test")
    revoked, _ = _invite(lead, email="gone@x.test")
    replaced, _ = _invite(lead, email="again@x.test")
    current, _ = _invite(lead, email="again@x.test")  # re-inviting replaces the first link
    client = client_as(Role.SUPPORT_LEAD)
    gone = BetaInvitation.objects.get(email="gone@x.test")
    assert client.post(f"/beta/invitations/{gone.pk}/revoke/").status_code == 302

    with time_machine.travel(timezone.now() + timedelta(days=15)):
        assert "expired" in Client().get(expired).content.decode()
    assert "withdrawn" in Client().get(revoked).content.decode()
    assert "withdrawn" in Client().get(replaced).content.decode()
    assert Client().get(current).status_code == 200
    assert Client().get("/portal/beta/join/forged:token/").status_code == 400
    assert not User.objects.filter(is_beta=True).exists()


def test_cohort_counts_against_the_target_and_active_users_from_product_events(
    lead, make_user, django_assert_max_num_queries
):
    # given one waiting invitation, two accepted (one of whom left the beta)
    _invite(lead, email="waiting@x.test")
    for email in ("stays@x.test", "leaves@x.test", "idle@x.test"):
        path, _ = _invite(lead, email=email)
        user = make_user(None, email=email)
        client = Client()
        client.force_login(user)
        client.post(path)
    User.objects.filter(email="leaves@x.test").update(is_beta=False)
    for index in range(10):
        _invite(lead, email=f"more{index}@x.test")
    # product events (kpis): the staying user under their auth sub, the one who left, and the idle one 40 days ago
    stays = User.objects.get(email="stays@x.test")
    ExternalIdentity.objects.create(issuer="https://clerk.test", subject="user_2stays", user=stays)
    now = timezone.now()
    for distinct_id, days_ago in (("user_2stays", 2), ("leaves@x.test", 1), ("idle@x.test", 40)):
        ProductEvent.objects.create(
            uuid=uuid.uuid4(),
            name="tourCreated",
            distinct_id=distinct_id,
            timestamp=now - timedelta(days=days_ago),
            received_at=now,
            properties={"artistCount": 1, "venueCount": 1},
        )

    client = Client()
    client.force_login(lead)
    with django_assert_max_num_queries(11):
        response = client.get("/beta/")
    html = response.content.decode()
    assert 'data-testid="count-invited">11<' in html
    assert 'data-testid="count-accepted">3<' in html
    assert 'data-testid="count-churned">1<' in html
    assert 'data-testid="count-active">1 of 15<' in html
    assert "15 active beta users" in html
    assert html.count("<tr data-email=") == 14


def test_without_the_kpis_counter_no_active_number_is_made_up(lead):
    beta_active_counter_register(None)
    try:
        client = Client()
        client.force_login(lead)
        html = client.get("/beta/").content.decode()
    finally:
        beta_active_counter_register(beta_users_active_since)
    assert 'data-testid="count-active">—<' in html
    assert "does not record; no number is shown" in html


def test_joining_a_beta_organization_sends_the_newcomer_the_weekly_call(lead, make_user):
    from datetime import time

    from tickets.models import BetaSupportProfile

    organization = OrganizationFactory()
    BetaSupportProfile.objects.create(
        organization=organization,
        dedicated_rep=make_user(Role.SUPPORT_REP, email="rita@tourbrain.test"),
        call_weekday=2,
        call_time=time(9, 30),
        call_timezone="Europe/Berlin",
    )
    path, _ = _invite(lead, organization=organization)
    password = "long-enough-pass-42"
    Client().post(path, {"name": "Tia", "password": password, "password_again": password})
    invites = OutboxMessage.objects.filter(kind="beta.call_invite")
    assert sorted(invites.values_list("recipient", flat=True)) == ["rita@tourbrain.test", "tia@backline.test"]
    assert "BEGIN:VCALENDAR" in invites.get(recipient="tia@backline.test").attachments[0]["content"]
