"""Beta cohort invitations: leads invite people, the invitation email carries a signed, expiring link, and
accepting it makes the person a beta user (tier beta from then on, unless their plan is enterprise).

The link is `signing.dumps(invitation id)` (timestamped, checked with max_age) and the row must still be
pending and unexpired, so a link works once and a revoked invitation's link stops working. The email is a
template (`templates/tickets/email/beta_invitation.txt`) personalised with the person's name, the inviter
and their note. Every invitation, revocation and acceptance is audited.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth.password_validation import validate_password
from django.core import signing
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.db.models import Count, Q, QuerySet
from django.template.loader import render_to_string
from django.utils import timezone

from audit.services import audit_record
from tickets.beta import beta_call_invites_send, beta_profile_of_organization
from tickets.models import BetaInvitation
from tickets.selectors import beta_user_identifiers
from tourbrain_support.api import ApplicationError
from tourbrain_support.models import Membership, Organization, User
from tourbrain_support.notifications.models import OutboxMessage
from tourbrain_support.notifications.outbox import outbox_enqueue
from tourbrain_support.roles import Role, has_role, is_customer

SIGNING_SALT = "tickets.beta-invitation"
ACCEPT_PATH = "/portal/beta/join/"
# The seed's launch target: 15 active beta users.
BETA_TARGET_ACTIVE = 15
INVITER_ROLES = (Role.SUPPORT_LEAD, Role.ADMIN)
MESSAGE_MAX = 2000


def _field_error(field: str, message: str, code: str = "invalid") -> ApplicationError:
    return ApplicationError(message, code=code, fields={field: [message]})


def beta_invitation_url(invitation: BetaInvitation) -> str:
    return f"{settings.SITE_URL}{ACCEPT_PATH}{signing.dumps(invitation.pk, salt=SIGNING_SALT)}/"


@transaction.atomic
def beta_invite(
    *,
    email: str,
    actor: User,
    name: str = "",
    organization: Organization | None = None,
    personal_message: str = "",
) -> BetaInvitation:
    """Invite one person (leads and admins); a pending invitation to the same address is replaced."""
    if not has_role(actor, *INVITER_ROLES):
        raise ApplicationError("Only a support lead or an admin may invite beta users.", code="forbidden", status=403)
    email = (email or "").strip().lower()
    try:
        validate_email(email)
    except ValidationError as exc:
        raise _field_error("email", "Enter a valid email address.") from exc
    name = (name or "").strip()
    if len(name) > 200:
        raise _field_error("name", "At most 200 characters.", "too_long")
    personal_message = (personal_message or "").strip()
    if len(personal_message) > MESSAGE_MAX:
        raise _field_error("personal_message", f"At most {MESSAGE_MAX} characters.", "too_long")
    existing = User.objects.filter(email__iexact=email).first()
    if existing is not None and existing.is_beta:
        raise _field_error("email", f"{email} is already in the beta cohort.", "already_beta")
    if existing is not None and not is_customer(existing):
        raise _field_error("email", f"{email} is a staff account; only customers join the beta.", "not_a_customer")
    now = timezone.now()
    # Re-inviting replaces the open invitation (its link stops working): one pending row per address.
    replaced = list(
        BetaInvitation.objects.select_for_update()
        .filter(email=email, status=BetaInvitation.Status.PENDING)
        .values_list("pk", flat=True)
    )
    BetaInvitation.objects.filter(pk__in=replaced).update(status=BetaInvitation.Status.REVOKED, revoked_at=now)
    try:
        with transaction.atomic():
            invitation = BetaInvitation.objects.create(
                email=email,
                name=name,
                organization=organization,
                personal_message=personal_message,
                invited_by=actor,
                created_at=now,
                expires_at=now + timedelta(days=settings.BETA_INVITATION_DAYS),
            )
    except IntegrityError as exc:  # a concurrent invite of the same address won
        raise _field_error("email", f"{email} was invited a moment ago.", "duplicate_invitation") from exc
    context = {
        "name": name or (existing.name if existing else "") or email,
        "inviter": actor.name or actor.email,
        "personal_message": personal_message,
        "organization": organization.name if organization else "",
        "accept_url": beta_invitation_url(invitation),
        "expires_at": invitation.expires_at,
        "days": settings.BETA_INVITATION_DAYS,
        "target": BETA_TARGET_ACTIVE,
    }
    outbox_enqueue(
        kind=OutboxMessage.Kind.BETA_INVITATION,
        channel=OutboxMessage.Channel.EMAIL,
        recipient=email,
        subject="You're invited to the TourBrain beta",
        body=render_to_string("tickets/email/beta_invitation.txt", context),
        idempotency_key=f"{OutboxMessage.Kind.BETA_INVITATION}:{invitation.pk}",
        payload={"beta_invitation": invitation.pk},
    )
    audit_record(
        actor=actor,
        action="create",
        resource_type="beta_invitation",
        resource_id=invitation.pk,
        organization=organization.pk if organization else None,
        changes={
            "operation": "invite",
            "email": email,
            "organization": organization.pk if organization else None,
            "replaced": replaced,
            "personalised": bool(personal_message),
        },
    )
    return invitation


@transaction.atomic
def beta_invitation_revoke(*, invitation: BetaInvitation, actor: User) -> BetaInvitation:
    if not has_role(actor, *INVITER_ROLES):
        raise ApplicationError("Only a support lead or an admin may revoke invitations.", code="forbidden", status=403)
    invitation = BetaInvitation.objects.select_for_update().get(pk=invitation.pk)
    if invitation.status != BetaInvitation.Status.PENDING:
        raise ApplicationError(f"This invitation is already {invitation.get_status_display().lower()}.", code="invalid")
    invitation.status = BetaInvitation.Status.REVOKED
    invitation.revoked_at = timezone.now()
    invitation.save(update_fields=["status", "revoked_at"])
    audit_record(
        actor=actor,
        action="update",
        resource_type="beta_invitation",
        resource_id=invitation.pk,
        changes={"operation": "revoke"},
    )
    return invitation


INVITATION_PROBLEMS = {
    "invalid": "This invitation link is not valid.",
    "expired": "This invitation has expired. Ask your TourBrain contact for a new one.",
    "accepted": "This invitation was already accepted.",
    "revoked": "This invitation was withdrawn or replaced by a newer one.",
}


def beta_invitation_from_token(token: str) -> tuple[BetaInvitation | None, str]:
    """(invitation, problem): problem is "" when the invitation can be accepted."""
    try:
        pk = signing.loads(token, salt=SIGNING_SALT, max_age=timedelta(days=settings.BETA_INVITATION_DAYS))
    except signing.SignatureExpired:
        return None, "expired"
    except (signing.BadSignature, ValueError, TypeError):
        return None, "invalid"
    if not isinstance(pk, int):
        return None, "invalid"
    invitation = BetaInvitation.objects.select_related("organization", "invited_by").filter(pk=pk).first()
    if invitation is None:
        return None, "invalid"
    if invitation.status == BetaInvitation.Status.ACCEPTED:
        return invitation, "accepted"
    if invitation.status == BetaInvitation.Status.REVOKED:
        return invitation, "revoked"
    if invitation.expires_at <= timezone.now():
        return invitation, "expired"
    return invitation, ""


@transaction.atomic
def beta_invitation_accept(
    *, token: str, user: User | None = None, name: str = "", password: str = ""
) -> tuple[User, BetaInvitation]:
    """Join the beta: the signed-in customer whose address was invited, or a new account with a password."""
    invitation, problem = beta_invitation_from_token(token)
    if problem:
        raise ApplicationError(INVITATION_PROBLEMS[problem], code=f"invitation_{problem}")
    invitation = BetaInvitation.objects.select_for_update().get(pk=invitation.pk)
    if invitation.status != BetaInvitation.Status.PENDING:
        raise ApplicationError(INVITATION_PROBLEMS["accepted"], code="invitation_accepted")
    created = False
    if user is not None and user.is_authenticated:
        if user.email.lower() != invitation.email:
            raise ApplicationError(
                f"This invitation is for {invitation.email}; sign out and accept it with that account.",
                code="wrong_account",
                status=403,
            )
        if not is_customer(user):
            raise ApplicationError("Only customer accounts join the beta.", code="not_a_customer", status=403)
    else:
        if User.objects.filter(email__iexact=invitation.email).exists():
            raise ApplicationError(
                f"An account for {invitation.email} exists: sign in first, then open the link again.",
                code="account_exists",
            )
        name = (name or "").strip()[:200]
        candidate = User(email=invitation.email, name=name)
        try:
            validate_password(password, candidate)
        except ValidationError as exc:
            raise ApplicationError(
                "Choose a stronger password.", code="invalid", fields={"password": list(exc.messages)}
            ) from exc
        user = User.objects.create_user(email=invitation.email, password=password, name=name)
        created = True
    user.is_beta = True
    user.save(update_fields=["is_beta"])
    if invitation.organization_id:
        Membership.objects.get_or_create(user=user, organization_id=invitation.organization_id)
    invitation.status = BetaInvitation.Status.ACCEPTED
    invitation.user = user
    invitation.accepted_at = timezone.now()
    invitation.save(update_fields=["status", "user", "accepted_at"])
    audit_record(
        actor=user,
        action="update",
        resource_type="beta_invitation",
        resource_id=invitation.pk,
        organization=invitation.organization_id,
        changes={"operation": "accept", "user": user.pk, "account_created": created, "is_beta": [False, True]},
    )
    # Joining a beta organization with a weekly call: the newcomer gets the invite (the others have it).
    profile = beta_profile_of_organization(invitation.organization_id)
    if profile is not None:
        beta_call_invites_send(profile=profile, actor=user)
    return user, invitation


# --- the cohort page ------------------------------------------------------------------------------


@dataclass(frozen=True)
class CohortSummary:
    invited: int  # pending, not expired
    accepted: int
    churned: int  # accepted, then left the beta (no longer beta or deactivated)
    beta_users: int  # everyone in the cohort now (accepted invitations and users flagged otherwise)
    target_active: int = BETA_TARGET_ACTIVE
    # Active beta users come from the KPI product events (a counter the kpis app registers); None without one.
    active: int | None = None
    active_days: int = 30


# Counts the beta users with product usage since a time, given {user id: the ids events may know them by}. The
# kpis app registers it at start-up: it reads this app, never the other way round (import-linter contracts).
ActiveCounter = Callable[[dict[int, set[str]], datetime], int]
_active_counter: ActiveCounter | None = None


def beta_active_counter_register(counter: ActiveCounter | None) -> None:
    """Called by the kpis app's AppConfig.ready() (None unregisters, for tests)."""
    global _active_counter
    _active_counter = counter


def beta_cohort_summary() -> CohortSummary:
    """The counts of the cohort page (two queries)."""
    now = timezone.now()
    accepted = Q(status=BetaInvitation.Status.ACCEPTED)
    counts = BetaInvitation.objects.aggregate(
        invited=Count("pk", filter=Q(status=BetaInvitation.Status.PENDING, expires_at__gt=now)),
        accepted=Count("pk", filter=accepted),
        churned=Count(
            "pk", filter=accepted & (Q(user__isnull=True) | Q(user__is_beta=False) | Q(user__is_active=False))
        ),
    )
    beta_users = User.objects.filter(is_beta=True, is_active=True).count()
    active = None
    if _active_counter is not None:  # two more queries: the cohort's ids, their recent events
        days = CohortSummary.active_days
        active = _active_counter(beta_user_identifiers(cohort_only=True), now - timedelta(days=days))
    return CohortSummary(
        invited=counts["invited"],
        accepted=counts["accepted"],
        churned=counts["churned"],
        beta_users=beta_users,
        active=active,
    )


def beta_invitations(*, limit: int = 200) -> QuerySet[BetaInvitation]:
    """The newest invitations with who sent them, the organization and the account (one query)."""
    return BetaInvitation.objects.select_related("organization", "invited_by", "user").order_by("-created_at", "-pk")[
        :limit
    ]
