"""A new sender whose address is at an organization's verified email domain joins that organization: the
ticket carries the organization, its tier and its SLA from the first message."""

from pathlib import Path

import pytest
from django.utils import timezone

from tests.factories import OrganizationFactory
from tickets.email_inbound import email_ingest, organization_for_address
from tickets.models import OrganizationEmailDomain
from tourbrain_support.models import Membership, Organization, User

pytestmark = pytest.mark.django_db

MAIL = Path(__file__).resolve().parents[1] / "data" / "mail"
SENDER = "new.customer@bandmail.example.com"  # the sender of new_plain.eml


@pytest.fixture
def enterprise():
    return OrganizationFactory(plan=Organization.Plan.ENTERPRISE)


def test_a_new_sender_from_a_verified_domain_joins_the_organization(enterprise):
    OrganizationEmailDomain.objects.create(
        organization=enterprise, domain="BandMail.example.com", verified_at=timezone.now()
    )

    ticket = email_ingest((MAIL / "new_plain.eml").read_bytes()).ticket

    person = User.objects.get(email=SENDER)
    assert Membership.objects.get(user=person).organization == enterprise
    assert (ticket.organization, ticket.tier) == (enterprise, "enterprise")


def test_an_unverified_domain_is_not_used(enterprise):
    OrganizationEmailDomain.objects.create(organization=enterprise, domain="bandmail.example.com")
    ticket = email_ingest((MAIL / "new_plain.eml").read_bytes()).ticket
    assert (ticket.organization, ticket.tier) == (None, "general")
    assert not Membership.objects.exists()


def test_subdomains_match_and_the_longest_verified_domain_wins(enterprise):
    parent = OrganizationFactory()
    now = timezone.now()
    OrganizationEmailDomain.objects.create(organization=parent, domain="example.com", verified_at=now)
    OrganizationEmailDomain.objects.create(organization=enterprise, domain="bandmail.example.com", verified_at=now)
    assert organization_for_address("x@eu.bandmail.example.com") == enterprise
    assert organization_for_address("x@other.example.com") == parent
    assert organization_for_address("x@example.org") is None
    assert organization_for_address("x@localhost") is None


def test_a_known_sender_keeps_their_memberships(enterprise):
    other = OrganizationFactory()
    person = User.objects.create_user(email=SENDER, password=None)
    Membership.objects.create(user=person, organization=other)
    OrganizationEmailDomain.objects.create(
        organization=enterprise, domain="bandmail.example.com", verified_at=timezone.now()
    )
    ticket = email_ingest((MAIL / "new_plain.eml").read_bytes()).ticket
    assert ticket.organization == other
    assert list(Membership.objects.filter(user=person).values_list("organization", flat=True)) == [other.pk]
