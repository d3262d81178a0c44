"""Sign-in links for the customer portal: signed, expiring, single-use, revocable, sent through the outbox.

`ticket_portal_link(user=...)` stores a `PortalLoginLink` (the SHA-256 of a random token) and writes the
email as an outbox row in the same transaction. The URL carries `signing.dumps([link id, token])`, so a
tampered or foreign value is refused before the database is read; the row then decides (unused, not
revoked, not expired) and `portal_link_consume` marks it used under a row lock, so two clicks log in once.
Links are for customers only: staff sign in with their password (and the login lockout).

`portal_link_request(email=..., ip=...)` is the "email me a link" form: rate-limited per address and per
client IP (cache counters), and it answers the same way whether or not the address has an account.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
from datetime import timedelta

from django.conf import settings
from django.core import signing
from django.core.cache import cache
from django.db import transaction
from django.utils import timezone

from audit.security import pseudonym
from audit.services import audit_record
from tickets.models import PortalLoginLink
from tourbrain_support.api import ApplicationError
from tourbrain_support.models import User
from tourbrain_support.notifications.models import OutboxMessage
from tourbrain_support.notifications.outbox import outbox_enqueue
from tourbrain_support.roles import is_customer

logger = logging.getLogger(__name__)

SIGNING_SALT = "tickets.portal-login-link"
LINK_PATH = "/portal/login/"
RATE_WINDOW_SECONDS = 3600


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def portal_link_url(signed: str) -> str:
    return f"{settings.SITE_URL}{LINK_PATH}{signed}/"


@transaction.atomic
def ticket_portal_link(*, user: User, actor: User | None = None) -> OutboxMessage:
    """Email the customer a sign-in link for the portal (valid PORTAL_LOGIN_LINK_MINUTES, once); audited."""
    if not user.is_active or not is_customer(user):
        raise ApplicationError("Sign-in links are for customer accounts only.", code="not_a_customer")
    token = secrets.token_urlsafe(32)
    now = timezone.now()
    minutes = settings.PORTAL_LOGIN_LINK_MINUTES
    expires_at = now + timedelta(minutes=minutes)
    link = PortalLoginLink.objects.create(
        user=user, token_hash=_hash(token), created_by=actor, created_at=now, expires_at=expires_at
    )
    url = portal_link_url(signing.dumps([link.pk, token], salt=SIGNING_SALT, compress=True))
    body = "\n".join(
        [
            f"Hello {user.name or user.email},",
            "",
            "Use this link to sign in to TourBrain Support and follow your tickets:",
            "",
            url,
            "",
            f"It works once and expires in {minutes} minutes. If you did not ask for it, ignore this email:",
            "nobody can sign in without the link.",
            "",
            "— TourBrain Support",
        ]
    )
    message = outbox_enqueue(
        kind=OutboxMessage.Kind.PORTAL_LOGIN_LINK,
        channel=OutboxMessage.Channel.EMAIL,
        recipient=user.email,
        subject="Your sign-in link for TourBrain Support",
        body=body,
        idempotency_key=f"{OutboxMessage.Kind.PORTAL_LOGIN_LINK}:{link.pk}",
        payload={"user": user.pk, "portal_login_link": link.pk},
    )
    audit_record(
        actor=actor or user,
        action="share",
        resource_type="portal_login_link",
        resource_id=link.pk,
        changes={"operation": "login_link_sent", "user": user.pk, "expires_at": link.expires_at.isoformat()},
    )
    return message


def _link_from(signed: str) -> tuple[PortalLoginLink | None, str]:
    """The link row a URL names and why it cannot be used ("" when it can); the row is not locked."""
    try:
        link_id, token = signing.loads(signed, salt=SIGNING_SALT)
    except (signing.BadSignature, ValueError, TypeError):
        return None, "invalid"
    if not isinstance(link_id, int) or not isinstance(token, str):
        return None, "invalid"
    link = PortalLoginLink.objects.select_related("user").filter(pk=link_id).first()
    if link is None or not secrets.compare_digest(link.token_hash, _hash(token)):
        return None, "invalid"
    if link.revoked_at is not None:
        return link, "revoked"
    if link.used_at is not None:
        return link, "used"
    if link.expires_at <= timezone.now():
        return link, "expired"
    if not link.user.is_active or not is_customer(link.user):
        return link, "invalid"
    return link, ""


LINK_PROBLEMS = {
    "invalid": "This sign-in link is not valid. Ask for a new one below.",
    "revoked": "This sign-in link was revoked. Ask for a new one below.",
    "used": "This sign-in link was already used. Ask for a new one below.",
    "expired": "This sign-in link has expired. Ask for a new one below.",
}


def portal_link_check(signed: str) -> tuple[PortalLoginLink | None, str]:
    """(link, problem) for the confirmation page: problem is "" when the link can be used."""
    return _link_from(signed)


@transaction.atomic
def portal_link_consume(*, signed: str) -> User:
    """Use the link once: returns its customer, or raises ApplicationError (code invalid/used/expired/revoked)."""
    link, problem = _link_from(signed)
    if not problem:
        # Locked and checked again: of two clicks at once, only one finds it unused.
        link = PortalLoginLink.objects.select_for_update().select_related("user").get(pk=link.pk)
        if link.used_at is not None:
            problem = "used"
    if problem:
        raise ApplicationError(LINK_PROBLEMS[problem], code=f"link_{problem}", status=400)
    link.used_at = timezone.now()
    link.save(update_fields=["used_at"])
    audit_record(
        actor=link.user,
        action="update",
        resource_type="portal_login_link",
        resource_id=link.pk,
        changes={"operation": "login_link_used"},
    )
    return link.user


@transaction.atomic
def portal_links_revoke(*, user: User, actor: User | None = None, links=None) -> int:
    """Revoke the user's usable links (all of them, or the given ones); audited. Returns how many."""
    now = timezone.now()
    queryset = PortalLoginLink.objects.filter(
        user=user, used_at__isnull=True, revoked_at__isnull=True, expires_at__gt=now
    )
    if links is not None:
        queryset = queryset.filter(pk__in=[link.pk for link in links])
    ids = list(queryset.select_for_update().values_list("pk", flat=True))
    if not ids:
        return 0
    PortalLoginLink.objects.filter(pk__in=ids).update(revoked_at=now)
    audit_record(
        actor=actor,
        action="update",
        resource_type="portal_login_link",
        resource_id=ids[0] if len(ids) == 1 else None,
        changes={"operation": "login_links_revoked", "user": user.pk, "links": ids},
    )
    return len(ids)


# --- "email me a link" ----------------------------------------------------------------------------


def _over_limit(key: str, limit: int) -> bool:
    """Count one attempt in a fixed one-hour window; True once the limit is passed."""
    cache.add(key, 0, RATE_WINDOW_SECONDS)
    try:
        count = cache.incr(key)
    except ValueError:  # expired between add and incr
        cache.set(key, 1, RATE_WINDOW_SECONDS)
        count = 1
    return count > limit


def portal_link_request(*, email: str, ip: str | None) -> None:
    """Send a link if the address belongs to an active customer; the caller's answer never says which.

    Raises ApplicationError code `rate_limited` (429) when this address or this IP asked too often;
    counted before the account is looked up, so the limit says nothing about existence either.
    """
    email = (email or "").strip().lower()
    address_key = f"portal-link:email:{pseudonym('email', email)}"
    ip_key = f"portal-link:ip:{pseudonym('ip', ip or 'unknown')}"
    over_ip = _over_limit(ip_key, settings.PORTAL_LOGIN_LINK_IP_RATE)
    over_address = _over_limit(address_key, settings.PORTAL_LOGIN_LINK_RATE)
    if over_ip or over_address:
        raise ApplicationError(
            "Too many sign-in links were asked for. Please try again in an hour, or sign in with your password.",
            code="rate_limited",
            status=429,
        )
    user = User.objects.filter(email__iexact=email, is_active=True).first()
    if user is None or not is_customer(user):
        logger.info("portal: sign-in link asked for an address with no customer account")
        return
    ticket_portal_link(user=user)
