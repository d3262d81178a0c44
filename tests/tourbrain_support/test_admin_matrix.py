"""Role x admin-page matrix: every staff role sees exactly what it may see and change in /admin/.

The expected cells come from ADMIN_POLICY below (the roles table of DESIGN.md written as app-level
permissions), capped by what each ModelAdmin allows anyone at all (e.g. immutable audit rows cannot be
edited even by an admin). Models are taken from `admin.site._registry`, so every app's admin is covered.
"""

import pytest
from django.contrib import admin
from django.contrib.auth.models import Group
from django.urls import reverse

from tests.factories import OrganizationFactory
from tourbrain_support.roles import Role

pytestmark = pytest.mark.django_db

ACTIONS = ("view", "add", "change", "delete")
ALL = ("view", "add", "change", "delete")
# What a rep works on, and what only leads configure (DESIGN.md: leads edit SLA policies and routing).
TICKET_WORK = ("ticket", "ticketmessage", "attachment", "savedview")
TICKET_CONFIG = ("team", "businesscalendarconfig", "slapolicy", "slatarget", "routingrule")
QUEUE_WORK = [
    ("tickets", "*", ("view",)),
    ("tickets", TICKET_WORK, ("add", "change")),
    ("knowledge_base", "*", ("view",)),
]
# Models an app-level "*" does not reach: only the admins' "*" for every app (or a rule naming them).
OPERATOR_ONLY = {
    "notifications.OutboxMessage",
    "tickets.QuarantinedEmail",
    "tickets.TicketEmail",
    "tickets.BouncingAddress",
    "tickets.TicketIntake",
}
# Those who answer alerts read the alerting records (rules, probes, samples, silences, history).
ALERTING_READ = ("alerting", "*", ("view",))
# role -> [(app label or "*", model names or "*", actions)]. Anything not listed is forbidden.
ADMIN_POLICY: dict[str, list[tuple[str, str | tuple[str, ...], tuple[str, ...]]]] = {
    Role.SUPPORT_REP: QUEUE_WORK,
    Role.SUPPORT_LEAD: [
        ("tickets", "*", ("view", "add", "change")),
        ("tickets", (*TICKET_CONFIG, "savedview"), ("delete",)),
        ("knowledge_base", "*", ALL),
        ("kpis", "*", ("view",)),
        ALERTING_READ,
    ],
    Role.ENGINEER: [*QUEUE_WORK, ALERTING_READ],
    Role.BILLING_ADMIN: QUEUE_WORK,
    Role.PRODUCT_MANAGER: [
        ("tickets", "*", ("view",)),
        ("kpis", "*", ("view", "add", "change")),
        ("knowledge_base", "*", ("view",)),
    ],
    Role.AUDITOR: [("audit", "*", ("view",))],
    Role.ADMIN: [("*", "*", ALL)],
}


def _expected(role: str, model) -> set[str]:
    allowed: set[str] = set()
    for app_label, models, actions in ADMIN_POLICY[role]:
        if app_label not in ("*", model._meta.app_label):
            continue
        if models != "*" and model._meta.model_name not in models:
            continue
        if models == "*" and app_label != "*" and model._meta.label in OPERATOR_ONLY:
            continue
        allowed |= set(actions)
    return allowed


def _admin_index_perms(client) -> dict[str, dict[str, bool]]:
    """{"app.Model": {"view": bool, ...}} as the admin index offers it to the logged-in user."""
    response = client.get(reverse("admin:index"))
    assert response.status_code == 200
    perms = {}
    for app in response.context["app_list"]:
        for model in app["models"]:
            perms[model["model"]._meta.label] = {action: bool(model["perms"].get(action)) for action in ACTIONS}
    return perms


def _registered_models():
    return sorted(admin.site._registry, key=lambda model: model._meta.label)


def _url(model, page: str, *args) -> str:
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_{page}", args=args)


@pytest.fixture
def ceiling(client, django_user_model) -> dict[str, dict[str, bool]]:
    """What the ModelAdmins allow a superuser: no role gets more than this."""
    superuser = django_user_model.objects.create_superuser(email="root@example.test", password="x")
    client.force_login(superuser)
    perms = _admin_index_perms(client)
    client.logout()
    return perms


def test_every_registered_model_is_in_the_matrix(ceiling):
    # given the admin registry, then a superuser sees every registered model on the admin index
    assert set(ceiling) == {model._meta.label for model in _registered_models()}


@pytest.mark.parametrize("role", list(ADMIN_POLICY))
def test_role_admin_matrix(client_as, ceiling, role):
    # given a staff user with exactly this role
    client = client_as(role)

    # when the admin index lists the models, then each cell matches the policy capped by the ModelAdmin
    offered = _admin_index_perms(client)
    wrong = []
    for model in _registered_models():
        label = model._meta.label
        allowed = {action for action in ACTIONS if ceiling[label][action]} & _expected(role, model)
        # "change" implies "view" in Django's admin.
        if "change" in allowed:
            allowed.add("view")
        actual = {action for action, ok in offered.get(label, {}).items() if ok}
        if actual != allowed:
            wrong.append((label, sorted(allowed), sorted(actual)))

        # and the pages themselves enforce it: changelist (view) and add answer 200 or 403
        changelist = client.get(_url(model, "changelist"))
        assert changelist.status_code == (200 if "view" in allowed else 403), (role, label, "changelist")
        add = client.get(_url(model, "add"))
        assert add.status_code == (200 if "add" in allowed else 403), (role, label, "add")
    assert not wrong, f"{role}: (model, expected, offered) mismatches: {wrong}"


@pytest.mark.parametrize("role", list(ADMIN_POLICY))
def test_users_groups_and_organizations_belong_to_admins_only(client_as, make_user, role):
    # given one existing user, role group and organization
    other, group, organization = make_user(), Group.objects.get(name=Role.SUPPORT_REP), OrganizationFactory()
    client = client_as(role)
    expected = 200 if role == Role.ADMIN else 403

    # when the role opens their change and delete pages, then only admins get in
    for obj in (other, group, organization):
        assert client.get(_url(type(obj), "change", obj.pk)).status_code == expected, (role, obj)
        assert client.get(_url(type(obj), "delete", obj.pk)).status_code == expected, (role, obj)


def test_admin_can_change_a_users_roles(client_as, make_user):
    # given an admin and a customer
    client = client_as(Role.ADMIN)
    customer = make_user()

    # when the admin opens the user's change page, then the roles (groups) field is editable
    response = client.get(_url(type(customer), "change", customer.pk))
    assert response.status_code == 200
    assert "groups" in response.context["adminform"].form.fields


def test_auditor_reads_audit_models_but_cannot_write(client_as, ceiling):
    # given an auditor
    client = client_as(Role.AUDITOR)
    offered = _admin_index_perms(client)

    # then every audit model is viewable and none is addable, changeable or deletable
    for model in _registered_models():
        if model._meta.app_label != "audit":
            continue
        label = model._meta.label
        assert offered[label]["view"], label
        assert [action for action in ("add", "change", "delete") if offered[label][action]] == [], label
        assert client.get(_url(model, "add")).status_code == 403


@pytest.mark.parametrize("url_name", ["admin:index", "admin:tourbrain_support_user_changelist"])
def test_customers_get_no_admin_at_all(client_as, url_name):
    # given a customer (no staff role)
    client = client_as(None)

    # when they open the admin, then they are sent to the admin login
    response = client.get(reverse(url_name))
    assert response.status_code == 302
    assert "/admin/login/" in response.url


def test_role_groups_exist_after_migrate():
    # the post_migrate sync gives every role a group; the admin group holds every permission
    assert set(Group.objects.values_list("name", flat=True)) >= set(Role.values)
    assert Group.objects.get(name=Role.ADMIN).permissions.count() > 0


@pytest.mark.parametrize("role", [Role.SUPPORT_REP, Role.ENGINEER, Role.BILLING_ADMIN])
def test_queue_roles_cannot_reconfigure_sla_or_routing(make_user, role):
    # the ticket configuration (SLA policies, routing, teams, calendars) is the leads' and admins' job
    user = make_user(role)
    for model_name in ("slapolicy", "routingrule", "team"):
        assert user.has_perm(f"tickets.view_{model_name}")
        assert not user.has_perm(f"tickets.change_{model_name}")
        assert not user.has_perm(f"tickets.add_{model_name}")
    assert user.has_perm("tickets.change_ticket")
    lead = make_user(Role.SUPPORT_LEAD)
    assert lead.has_perm("tickets.change_slapolicy")
    assert lead.has_perm("tickets.change_routingrule")
