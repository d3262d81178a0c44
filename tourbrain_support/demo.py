"""Demo data for the core: one organization per plan and one user per role (idempotent)."""

from django.db import transaction

from tourbrain_support.models import Membership, Organization, User
from tourbrain_support.roles import Role, assign_roles

DEMO_PASSWORD = "tourbrain-demo"  # noqa: S105 - printed for the local demo only

DEMO_ORGANIZATIONS = [
    ("Backline Booking", "backline-booking", Organization.Plan.STARTER, Organization.Region.UK),
    ("Roadcase Touring", "roadcase-touring", Organization.Plan.PROFESSIONAL, Organization.Region.US),
    ("Arena Live Group", "arena-live", Organization.Plan.ENTERPRISE, Organization.Region.EU),
]

# (email, name, role or None for a customer, beta cohort, organization slug)
DEMO_USERS = [
    ("admin@tourbrain.test", "Ada Admin", Role.ADMIN, False, None),
    ("lead@tourbrain.test", "Lee Lead", Role.SUPPORT_LEAD, False, None),
    ("rep@tourbrain.test", "Rita Rep", Role.SUPPORT_REP, False, None),
    ("rep2@tourbrain.test", "Ravi Rep", Role.SUPPORT_REP, False, None),
    ("engineer@tourbrain.test", "Eli Engineer", Role.ENGINEER, False, None),
    ("billing@tourbrain.test", "Bea Billing", Role.BILLING_ADMIN, False, None),
    ("pm@tourbrain.test", "Pat Product", Role.PRODUCT_MANAGER, False, None),
    ("auditor@tourbrain.test", "Avery Auditor", Role.AUDITOR, False, None),
    ("customer@backline.test", "Cass Customer", None, False, "backline-booking"),
    ("beta@roadcase.test", "Bo Beta", None, True, "roadcase-touring"),
    ("enterprise@arena.test", "Erin Enterprise", None, False, "arena-live"),
]


@transaction.atomic
def seed(stdout=None) -> list[tuple[str, str]]:
    """Create (or refresh) the demo organizations and users; returns (role, email) per demo login."""
    organizations = {}
    for name, slug, plan, region in DEMO_ORGANIZATIONS:
        organizations[slug], _ = Organization.objects.update_or_create(
            slug=slug, defaults={"name": name, "plan": plan, "region": region}
        )
    logins = []
    for email, name, role, is_beta, org_slug in DEMO_USERS:
        user = User.objects.filter(email=email).first()
        if user is None:
            user = User.objects.create_user(email=email, password=DEMO_PASSWORD, name=name, is_beta=is_beta)
        assign_roles(user, [role] if role else [])
        if org_slug:
            Membership.objects.get_or_create(user=user, organization=organizations[org_slug])
        logins.append((_login_label(role, is_beta, org_slug), email))
    return logins


def demo_logins() -> list[tuple[str, str]]:
    """(role, email) of each demo login that exists in the database, in the order seed() prints them."""
    present = set(User.objects.filter(email__in=[row[0] for row in DEMO_USERS]).values_list("email", flat=True))
    return [
        (_login_label(role, is_beta, org_slug), email)
        for email, _name, role, is_beta, org_slug in DEMO_USERS
        if email in present
    ]


def _login_label(role: str | None, is_beta: bool, org_slug: str | None) -> str:
    return role or f"customer ({'beta' if is_beta else org_slug})"
