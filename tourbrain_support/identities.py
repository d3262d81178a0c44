"""Customers known by a verified token: the token's profile claims create or update the User, the
Organization and the membership, keyed by (issuer, sub) and (issuer, org_id).

The claims are trusted only because the widget authentication verified the token's signature first.
An unchanged profile (same digest as last time) costs one query and no writes.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, connections, transaction
from django.db.models import Exists, OuterRef
from django.utils.text import slugify

from tourbrain_support.db import MARK_PREFIX, compiled_first
from tourbrain_support.models import ExternalIdentity, ExternalOrganization, Membership, Organization, User
from tourbrain_support.recorders import record_action
from tourbrain_support.roles import user_roles

logger = logging.getLogger(__name__)

# Profile claims read from the token (Clerk's session claims plus TourBrain's custom ones).
PROFILE_CLAIMS = ("email", "name", "org_id", "org_name", "org_role", "plan", "beta")
# A person with no email in the token still gets an account; this domain can never receive mail (RFC 2606).
PLACEHOLDER_EMAIL_DOMAIN = "customers.invalid"
# Clerk's org roles ("org:admin") and plain ones; anything else is a member.
ADMIN_ORG_ROLES = {"org:admin", "admin", "org:owner", "owner"}


class ClaimError(Exception):
    """A profile claim has the wrong type or value."""

    def __init__(self, claim: str, message: str):
        super().__init__(f"Claim '{claim}': {message}")
        self.claim = claim


class StaffAccountError(Exception):
    """The token names a staff account: staff do not use the customer widget."""


@dataclass(frozen=True)
class Profile:
    email: str | None
    name: str | None
    org_id: str | None
    org_name: str | None
    org_role: str | None
    plan: str | None
    beta: bool | None

    def digest(self) -> str:
        return hashlib.sha256(json.dumps(self.__dict__, sort_keys=True).encode()).hexdigest()


def _string(claims: dict, name: str, max_length: int) -> str | None:
    value = claims.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise ClaimError(name, "must be a string.")
    value = value.strip()
    if len(value) > max_length:
        raise ClaimError(name, f"at most {max_length} characters.")
    return value or None


def profile_from_claims(claims: dict) -> Profile:
    """The profile claims, checked: wrong types or values raise ClaimError."""
    email = _string(claims, "email", 254)
    if email is not None:
        try:
            validate_email(email)
        except ValidationError as exc:
            raise ClaimError("email", "not a valid email address.") from exc
        email = email.lower()
    plan = _string(claims, "plan", 40)
    if plan is not None and plan not in Organization.Plan.values:
        raise ClaimError("plan", f"one of {', '.join(Organization.Plan.values)}.")
    beta = claims.get("beta")
    if beta is not None and not isinstance(beta, bool):
        raise ClaimError("beta", "must be true or false.")
    return Profile(
        email=email,
        name=_string(claims, "name", 200),
        org_id=_string(claims, "org_id", 255),
        org_name=_string(claims, "org_name", 200),
        org_role=_string(claims, "org_role", 100),
        plan=plan,
        beta=beta,
    )


def _is_staff_account(user: User) -> bool:
    return user.is_staff or user.is_superuser or bool(user_roles(user))


def placeholder_email(issuer: str, subject: str) -> str:
    digest = hashlib.sha256(f"{issuer}\n{subject}".encode()).hexdigest()[:32]
    return f"{digest}@{PLACEHOLDER_EMAIL_DOMAIN}"


def _audit(actor: User, action: str, resource_type: str, resource_id, changes: dict, organization=None) -> None:
    record_action(
        actor=actor,
        action=action,
        resource_type=resource_type,
        resource_id=resource_id,
        organization=organization,
        changes=changes,
    )


def _user_for_new_identity(*, issuer: str, subject: str, profile: Profile) -> tuple[User, bool]:
    """An existing customer with the token's email is linked; otherwise a new customer is created."""
    if profile.email:
        existing = User.objects.filter(email__iexact=profile.email).first()
        if existing is not None:
            if _is_staff_account(existing):
                raise StaffAccountError(profile.email)
            return existing, False
    email = profile.email or placeholder_email(issuer, subject)
    user = User.objects.create_user(email=email, password=None, name=profile.name or "")
    return user, True


def _update_user(user: User, profile: Profile) -> list[str]:
    fields = []
    if profile.email and profile.email != user.email:
        if User.objects.filter(email__iexact=profile.email).exclude(pk=user.pk).exists():
            logger.warning("token email of user %s belongs to another account; kept the old one", user.pk)
        else:
            user.email = profile.email
            fields.append("email")
    if profile.name is not None and profile.name != user.name:
        user.name = profile.name
        fields.append("name")
    # The token can admit a user to the beta cohort but never remove them: an accepted invitation keeps them
    # beta until someone at support changes it.
    if profile.beta and not user.is_beta:
        user.is_beta = True
        fields.append("is_beta")
    if fields:
        user.save(update_fields=fields)
    return fields


def _organization(*, issuer: str, profile: Profile, actor: User) -> Organization:
    link = ExternalOrganization.objects.select_related("organization").filter(issuer=issuer, external_id=profile.org_id)
    link = link.first()
    if link is None:
        name = profile.org_name or profile.org_id
        suffix = hashlib.sha256(f"{issuer}\n{profile.org_id}".encode()).hexdigest()[:10]
        organization = Organization.objects.create(
            name=name,
            slug=f"{slugify(name)[:80] or 'org'}-{suffix}",
            plan=profile.plan or Organization.Plan.STARTER,
        )
        ExternalOrganization.objects.create(issuer=issuer, external_id=profile.org_id, organization=organization)
        _audit(actor, "create", "organization", organization.pk, {"source": "widget_token"}, organization)
        return organization
    organization = link.organization
    fields = []
    if profile.org_name and profile.org_name != organization.name:
        organization.name = profile.org_name
        fields.append("name")
    if profile.plan and profile.plan != organization.plan:
        organization.plan = profile.plan
        fields.append("plan")
    if fields:
        organization.save(update_fields=fields)
        _audit(
            actor, "update", "organization", organization.pk, {"fields": fields, "source": "widget_token"}, organization
        )
    return organization


def _membership(user: User, organization: Organization, org_role: str | None) -> None:
    role = None
    if org_role is not None:
        role = Membership.Role.ADMIN if org_role.lower() in ADMIN_ORG_ROLES else Membership.Role.MEMBER
    membership = Membership.objects.filter(user=user, organization=organization).first()
    if membership is None:
        Membership.objects.get_or_create(
            user=user, organization=organization, defaults={"role": role or Membership.Role.MEMBER}
        )
    elif role is not None and membership.role != role and membership.role != Membership.Role.OWNER:
        membership.role = role
        membership.save(update_fields=["role"])


# Columns a widget request never reads, left out of the identity query: each timestamp loaded cost about 5 us.
_IDENTITY_UNREAD_FIELDS = (
    "created_at",
    "updated_at",
    "user__password",
    "user__last_login",
    "user__date_joined",
    "user__audit_subject__created_at",
    "organization__created_at",
)

# Placeholders the identity query is compiled with; each request binds the real issuer and subject.
_ISSUER_MARK, _SUBJECT_MARK = MARK_PREFIX + "issuer", MARK_PREFIX + "subject"


def _identity_queryset():
    return (
        ExternalIdentity.objects.select_related("user__audit_subject", "organization")
        .defer(*_IDENTITY_UNREAD_FIELDS)
        .annotate(user_has_groups=Exists(User.groups.through.objects.filter(user_id=OuterRef("user_id"))))
        .filter(issuer=_ISSUER_MARK, subject=_SUBJECT_MARK)[:1]
    )


def _identity(issuer: str, subject: str) -> ExternalIdentity | None:
    """The identity with its user and organization, and whether the user is in any group: one query, compiled
    once per connection and prepared on PostgreSQL (`compiled_first`; planning it cost four times what running
    it does).

    The user's audit pseudonym comes along: every write the customer makes is audited with it.
    """
    db = connections[ExternalIdentity.objects.db]
    values = {_ISSUER_MARK: issuer, _SUBJECT_MARK: subject}
    identity = compiled_first(db, "widget_identity", _identity_queryset, values)
    if identity is None:
        return None
    if not identity.user_has_groups and not identity.user.is_superuser:
        identity.user._role_cache = set()  # no group, no staff role: later role checks need no query
    return identity


def customer_from_claims(*, issuer: str, subject: str, claims: dict) -> ExternalIdentity:
    """The identity (with `.user` and `.organization`) for a verified token, its profile applied.

    Raises ClaimError for a malformed profile claim and StaffAccountError when the token names staff.
    """
    profile = profile_from_claims(claims)
    digest = profile.digest()
    identity = _identity(issuer, subject)
    if identity is not None and identity.claims_digest == digest:
        if _is_staff_account(identity.user):
            raise StaffAccountError(identity.user.email)
        return identity
    try:
        return _apply_profile(issuer=issuer, subject=subject, profile=profile, identity=identity)
    except IntegrityError:
        # A concurrent first request for the same person, email or organization committed first: build on it.
        return _apply_profile(issuer=issuer, subject=subject, profile=profile, identity=_identity(issuer, subject))


@transaction.atomic
def _apply_profile(
    *, issuer: str, subject: str, profile: Profile, identity: ExternalIdentity | None
) -> ExternalIdentity:
    if identity is None:
        user, created = _user_for_new_identity(issuer=issuer, subject=subject, profile=profile)
        identity = ExternalIdentity.objects.create(issuer=issuer, subject=subject, user=user)
        if created:
            _audit(user, "create", "user", user.pk, {"source": "widget_token", "issuer": issuer})
    user = identity.user
    if _is_staff_account(user):
        raise StaffAccountError(user.email)
    fields = _update_user(user, profile)
    if fields:
        _audit(user, "update", "user", user.pk, {"fields": fields, "source": "widget_token"})
    organization = None
    if profile.org_id:
        organization = _organization(issuer=issuer, profile=profile, actor=user)
        _membership(user, organization, profile.org_role)
    identity.organization = organization
    identity.claims_digest = profile.digest()
    identity.save(update_fields=["organization", "claims_digest", "updated_at"])
    return identity
