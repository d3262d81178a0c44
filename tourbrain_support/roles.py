"""Staff roles (Django groups) and what each may do.

The groups are created by a migration; their permissions are synced after every
migrate (permissions of later apps only exist then), from ROLE_PERMISSIONS below.
Customers have no group: any user without a staff role is a customer.
"""

from collections.abc import Iterable
from functools import wraps

from django.contrib.auth.models import Group, Permission
from django.core.exceptions import PermissionDenied
from django.db import models


class Role(models.TextChoices):
    SUPPORT_REP = "support_rep", "Support rep"
    SUPPORT_LEAD = "support_lead", "Support lead"
    ENGINEER = "engineer", "Engineer"
    BILLING_ADMIN = "billing_admin", "Billing admin"
    PRODUCT_MANAGER = "product_manager", "Product manager"
    AUDITOR = "auditor", "Auditor"
    ADMIN = "admin", "Admin"


CUSTOMER = "customer"

# (app_label or "*", model name / tuple of model names / "*", actions). "*" means every app or model.
# Ticket work (reps, engineers, billing) versus ticket configuration (leads: SLA policies, routing, teams).
TICKET_WORK_MODELS = ("ticket", "ticketmessage", "attachment", "savedview")
TICKET_CONFIG_MODELS = ("team", "businesscalendarconfig", "slapolicy", "slatarget", "routingrule")
# An app-level "*" does not reach these: the outbox and the email records hold whole messages of other people. Admins
# see it (their rule is "*" for every app), and so does a notification operator, a user given
# `notifications.view_outboxmessage` (and `change_outboxmessage` to retry) on their account in the admin.
OPERATOR_ONLY_MODELS = {
    "notifications": ("outboxmessage",),
    "tickets": ("quarantinedemail", "ticketemail", "bouncingaddress", "ticketintake"),
}
_TICKET_WORK = [("tickets", "*", ("view",)), ("tickets", TICKET_WORK_MODELS, ("add", "change"))]
_KB_READ = ("knowledge_base", "*", ("view",))
# Rules and probes are read by those who answer alerts; admins edit them.
_ALERTING = [("alerting", "*", ("view",))]
ROLE_PERMISSIONS: dict[str, list[tuple[str, str | tuple[str, ...], tuple[str, ...]]]] = {
    Role.SUPPORT_REP: [*_TICKET_WORK, _KB_READ],
    Role.SUPPORT_LEAD: [
        ("tickets", "*", ("view", "add", "change")),
        ("tickets", (*TICKET_CONFIG_MODELS, "savedview"), ("delete",)),
        ("knowledge_base", "*", ("view", "add", "change", "delete")),
        ("kpis", "*", ("view",)),
        *_ALERTING,
    ],
    Role.ENGINEER: [*_TICKET_WORK, _KB_READ, *_ALERTING],
    Role.BILLING_ADMIN: [*_TICKET_WORK, _KB_READ],
    Role.PRODUCT_MANAGER: [("tickets", "*", ("view",)), ("kpis", "*", ("view", "add", "change")), _KB_READ],
    Role.AUDITOR: [("audit", "*", ("view",))],
    Role.ADMIN: [("*", "*", ("view", "add", "change", "delete"))],
}

# Roles that work tickets from the queue (engineers and billing admins see their team's only).
QUEUE_ROLES = (Role.SUPPORT_REP, Role.SUPPORT_LEAD, Role.ENGINEER, Role.BILLING_ADMIN, Role.ADMIN)
KPI_ROLES = (Role.SUPPORT_LEAD, Role.PRODUCT_MANAGER, Role.ADMIN)
AUDIT_ROLES = (Role.AUDITOR, Role.ADMIN)
ROADMAP_ROLES = (Role.PRODUCT_MANAGER, Role.SUPPORT_LEAD, Role.ADMIN)
# The alerts page and its silences: whoever answers alerts.
ALERT_ROLES = (Role.SUPPORT_LEAD, Role.ENGINEER, Role.ADMIN)
# Staff who read the on-call page and incidents; those who act on pages and incidents (the people on call).
ONCALL_VIEW_ROLES = (
    Role.SUPPORT_REP,
    Role.SUPPORT_LEAD,
    Role.ENGINEER,
    Role.BILLING_ADMIN,
    Role.PRODUCT_MANAGER,
    Role.ADMIN,
)
ONCALL_ACT_ROLES = (Role.SUPPORT_LEAD, Role.ENGINEER, Role.ADMIN)


def _permissions_for(rules, using: str = "default") -> models.QuerySet:
    query = models.Q(pk__in=[])
    for app_label, model, actions in rules:
        clause = models.Q(codename__regex=rf"^({'|'.join(actions)})_")
        if app_label != "*":
            clause &= models.Q(content_type__app_label=app_label)
        if model != "*":
            clause &= models.Q(content_type__model__in=[model] if isinstance(model, str) else list(model))
        elif app_label in OPERATOR_ONLY_MODELS:
            clause &= ~models.Q(content_type__model__in=OPERATOR_ONLY_MODELS[app_label])
        query |= clause
    return Permission.objects.using(using).filter(query)


def sync_role_permissions(using: str = "default") -> None:
    """Make every role group exist and hold exactly the permissions ROLE_PERMISSIONS gives it."""
    for role, rules in ROLE_PERMISSIONS.items():
        group, _ = Group.objects.using(using).get_or_create(name=role)
        group.permissions.set(_permissions_for(rules, using))


def user_roles(user) -> set[str]:
    """The user's staff roles; cached on the user object for the request."""
    if not getattr(user, "is_authenticated", False):
        return set()
    cached = getattr(user, "_role_cache", None)
    if cached is None:
        cached = set(user.groups.values_list("name", flat=True)) & set(Role.values)
        if user.is_superuser:
            cached.add(Role.ADMIN)
        user._role_cache = cached
    return cached


def has_role(user, *roles: str) -> bool:
    return bool(user_roles(user) & set(roles))


def is_customer(user) -> bool:
    return getattr(user, "is_authenticated", False) and not user_roles(user)


def assign_roles(user, roles: Iterable[str]) -> None:
    """Give the user exactly these staff roles; staff roles imply is_staff (admin access)."""
    roles = set(roles)
    unknown = roles - set(Role.values)
    if unknown:
        raise ValueError(f"Unknown roles: {sorted(unknown)}")
    user.groups.set(Group.objects.filter(name__in=roles))
    user.is_staff = bool(roles)
    user.save(update_fields=["is_staff"])
    user._role_cache = None


def role_required(*roles: str):
    """View decorator: login required (redirect), then one of `roles` (403 otherwise)."""

    def decorator(view):
        @wraps(view)
        def wrapped(request, *args, **kwargs):
            from django.contrib.auth.views import redirect_to_login

            if not request.user.is_authenticated:
                return redirect_to_login(request.get_full_path())
            if not has_role(request.user, *roles):
                raise PermissionDenied
            return view(request, *args, **kwargs)

        return wrapped

    return decorator


class HasRole:
    """DRF permission: `permission_classes = [HasRole.of(Role.AUDITOR, Role.ADMIN)]`."""

    roles: tuple[str, ...] = ()

    @classmethod
    def of(cls, *roles: str):
        return type("HasRole_" + "_".join(roles), (cls,), {"roles": roles})

    def has_permission(self, request, view) -> bool:
        return has_role(request.user, *self.roles)

    def has_object_permission(self, request, view, obj) -> bool:
        return True
