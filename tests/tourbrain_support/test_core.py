import pytest

from tests.factories import OrganizationFactory
from tourbrain_support.models import Organization
from tourbrain_support.roles import Role, has_role, user_roles
from tourbrain_support.tiers import Tier, resolve_tier

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("plan", "is_beta", "expected"),
    [
        (Organization.Plan.ENTERPRISE, True, Tier.ENTERPRISE),
        (Organization.Plan.ENTERPRISE, False, Tier.ENTERPRISE),
        (Organization.Plan.PROFESSIONAL, True, Tier.BETA),
        (Organization.Plan.STARTER, False, Tier.GENERAL),
    ],
)
def test_tier_resolution_prefers_enterprise_then_beta(make_user, plan, is_beta, expected):
    user = make_user(is_beta=is_beta)
    assert resolve_tier(user=user, organization=OrganizationFactory(plan=plan)) == expected


def test_tier_without_organization_uses_beta_flag(make_user):
    assert resolve_tier(user=make_user(is_beta=True), organization=None) == Tier.BETA
    assert resolve_tier(user=None, organization=None) == Tier.GENERAL


def test_roles_come_from_groups_and_make_staff(make_user):
    rep = make_user(Role.SUPPORT_REP)
    customer = make_user()
    assert user_roles(rep) == {Role.SUPPORT_REP}
    assert rep.is_staff
    assert has_role(rep, Role.SUPPORT_REP, Role.ADMIN)
    assert not has_role(customer, Role.SUPPORT_REP)
    assert not customer.is_staff


def test_email_login_is_case_insensitive(client, make_user):
    make_user(email="mixed@example.test")
    response = client.post("/accounts/login/", {"username": "MIXED@example.test", "password": "correct-horse-battery"})
    assert response.status_code == 302
    assert response.url == "/"


def test_login_page_shows_error_for_wrong_password(client, make_user):
    make_user(email="someone@example.test")
    response = client.post("/accounts/login/", {"username": "someone@example.test", "password": "nope"})
    assert response.status_code == 200
    assert b"Please enter a correct" in response.content


def test_seed_demo_is_idempotent(django_user_model):
    from django.core.management import call_command

    call_command("seed_demo")
    users, orgs = django_user_model.objects.count(), Organization.objects.count()
    call_command("seed_demo")
    assert (django_user_model.objects.count(), Organization.objects.count()) == (users, orgs)
    assert set(Organization.objects.values_list("plan", flat=True)) == set(Organization.Plan.values)
    for role in Role.values:
        assert django_user_model.objects.filter(groups__name=role).exists(), role
