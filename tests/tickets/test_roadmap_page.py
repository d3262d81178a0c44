"""The roadmap page: feature requests grouped with their duplicates, organization and tier counts, merging."""

import re

import pytest

from tests.factories import MembershipFactory, OrganizationFactory, UserFactory
from tests.tickets.factories import TicketFactory
from tickets.models import Ticket
from tourbrain_support.models import Organization
from tourbrain_support.roles import Role

pytestmark = pytest.mark.django_db


def _request(*, organization=None, beta=False, **fields):
    requester = UserFactory(is_beta=beta)
    organization = organization or OrganizationFactory()
    MembershipFactory(user=requester, organization=organization)
    return TicketFactory(type=Ticket.Type.FEATURE_REQUEST, requester=requester, organization=organization, **fields)


def test_roadmap_is_for_product_managers_leads_and_admins(client, client_as):
    assert client.get("/roadmap/").status_code == 302
    for role in (None, Role.SUPPORT_REP, Role.ENGINEER, Role.AUDITOR):
        assert client_as(role).get("/roadmap/").status_code == 403
    for role in (Role.PRODUCT_MANAGER, Role.SUPPORT_LEAD, Role.ADMIN):
        assert client_as(role).get("/roadmap/").status_code == 200


def test_groups_count_organizations_and_tiers(client_as):
    enterprise = OrganizationFactory(plan=Organization.Plan.ENTERPRISE)
    original = _request(subject="Offline mode", organization=enterprise)
    _request(organization=enterprise, duplicate_of=original)  # same organization again
    _request(beta=True, duplicate_of=original)
    other = _request(subject="Dark theme")
    TicketFactory(type=Ticket.Type.BUG)

    response = client_as(Role.PRODUCT_MANAGER).get("/roadmap/")

    groups = response.context["groups"]
    assert [group["ticket"] for group in groups] == [original, other]
    top = groups[0]
    assert (top["request_count"], top["organization_count"]) == (3, 2)
    assert dict(top["tiers"]) == {"Enterprise": 2, "Beta": 1}
    assert len(top["duplicates"]) == 2
    body = response.content.decode()
    assert "Offline mode" in body
    assert "Enterprise: 2" in body


def test_marking_a_duplicate_folds_it_into_the_original(client_as):
    original = _request(subject="Offline mode")
    duplicate = _request(subject="Work without internet")
    pm = client_as(Role.PRODUCT_MANAGER)

    response = pm.post(
        "/roadmap/merge/", {"duplicate": duplicate.reference, "original": original.reference}, follow=True
    )

    assert f"{duplicate.reference} is now a duplicate of {original.reference}" in response.content.decode()
    duplicate.refresh_from_db()
    assert duplicate.duplicate_of == original
    groups = response.context["groups"]
    assert len(groups) == 1
    assert groups[0]["request_count"] == 2


@pytest.mark.parametrize(
    ("duplicate", "original", "expected"),
    [
        ("same", "same", "cannot be a duplicate of itself"),
        ("TB-999999", "first", "No ticket has this reference."),
        ("bug", "first", "is not a feature request"),
    ],
)
def test_bad_merges_are_form_errors(client_as, duplicate, original, expected):
    tickets = {"first": _request(), "bug": TicketFactory(type=Ticket.Type.BUG)}
    tickets["same"] = tickets["first"]
    value = {key: tickets[key].reference if key in tickets else key for key in (duplicate, original)}

    response = client_as(Role.SUPPORT_LEAD).post(
        "/roadmap/merge/", {"duplicate": value[duplicate], "original": value[original]}
    )

    assert response.status_code == 400
    assert expected in response.content.decode()
    assert not Ticket.objects.filter(duplicate_of__isnull=False).exists()


@pytest.mark.parametrize("rows", [5, 60])
def test_roadmap_query_count_is_constant(client_as, django_assert_max_num_queries, rows):
    originals = [_request() for _ in range(max(1, rows // 3))]
    for index in range(rows):
        _request(duplicate_of=originals[index % len(originals)])
    pm = client_as(Role.PRODUCT_MANAGER)

    with django_assert_max_num_queries(6):
        response = pm.get("/roadmap/")

    # then every original is a row, with its duplicates counted in
    assert response.status_code == 200
    html = response.content.decode()
    assert sorted(re.findall(r'<tr data-reference="(TB-\d+)"', html)) == sorted(t.reference for t in originals)
    rendered = re.findall(r'<tr data-reference="(TB-\d+)">.*?</td>\s*<td>[^<]*</td>\s*<td>(\d+)</td>', html, re.S)
    counts = {reference: int(count) for reference, count in rendered}
    expected = {t.reference: 1 + Ticket.objects.filter(duplicate_of=t).count() for t in originals}
    assert counts == expected
    assert sum(counts.values()) == rows + len(originals)
    assert all(duplicate.reference in html for duplicate in Ticket.objects.filter(duplicate_of__isnull=False))
