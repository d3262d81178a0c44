"""Security metrics (the seed's SecurityMetrics) and brute-force protection for logins.

- `security_metrics(window_start, window_end)` reads failed logins, suspicious API activity (429s and
  bursts of 401/403 per source), data-export volume per user against that user's usual level, and
  admin-site access; the KPI alert rules feed on it.
- `SecurityCounterMiddleware` counts 401/403/429 responses and admin-site requests per minute and
  source (a keyed hash of the IP, never the address itself).
- `LockoutModelBackend` refuses logins for an account or IP that is locked out; failures lock with
  exponential backoff. Accounts that do not exist are counted exactly like those that do, so the
  lockout never tells an attacker whether an email is registered. Each lockout is audited and alerted;
  the LoginLockouts alert rule tells admins and auditors (hourly while lockouts go on).
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.backends import ModelBackend
from django.core.exceptions import PermissionDenied
from django.db import IntegrityError, transaction
from django.db.models import Count, F, Q, Sum
from django.utils import timezone

from audit.client_ip import client_ip
from audit.models import LoginLockout, SecurityCounter
from audit.services import audit_record

logger = logging.getLogger(__name__)

# Audit resource type of lockouts and their lifts.
LOCKOUT_RESOURCE = "login_lockout"


# --- helpers -------------------------------------------------------------------------------------


def pseudonym(kind: str, value: str) -> str:
    """A keyed hash: stable for counting and lockouts, useless for recovering or confirming the value."""
    return hmac.new(settings.SECRET_KEY.encode(), f"{kind}:{value}".encode(), hashlib.sha256).hexdigest()[:40]


def mask_ip(ip: str) -> str:
    """What staff see of an IP: the network part only (203.0.113.* / 2001:db8:1::*)."""
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return "invalid"
    if address.version == 4:
        return ".".join(ip.split(".")[:3]) + ".*"
    return ":".join(address.exploded.split(":")[:3]) + "::*"


def _setting(name: str, default):
    return getattr(settings, name, default)


# --- brute-force protection ----------------------------------------------------------------------


@dataclass(frozen=True)
class LockoutPolicy:
    account_threshold: int
    ip_threshold: int
    window: timedelta
    base: timedelta
    maximum: timedelta

    @classmethod
    def current(cls) -> LockoutPolicy:
        return cls(
            account_threshold=_setting("LOGIN_LOCKOUT_ACCOUNT_THRESHOLD", 5),
            ip_threshold=_setting("LOGIN_LOCKOUT_IP_THRESHOLD", 20),
            window=timedelta(seconds=_setting("LOGIN_LOCKOUT_WINDOW_SECONDS", 900)),
            base=timedelta(seconds=_setting("LOGIN_LOCKOUT_BASE_SECONDS", 60)),
            maximum=timedelta(seconds=_setting("LOGIN_LOCKOUT_MAX_SECONDS", 86400)),
        )

    def threshold(self, scope: str) -> int:
        return self.account_threshold if scope == LoginLockout.Scope.ACCOUNT else self.ip_threshold

    def duration(self, lockouts: int) -> timedelta:
        """Exponential backoff: base, 2*base, 4*base, ... capped at maximum."""
        return min(self.base * (2 ** max(lockouts - 1, 0)), self.maximum)


def _keys(username: str | None, ip: str | None) -> list[tuple[str, str]]:
    keys = []
    if username:
        keys.append((LoginLockout.Scope.ACCOUNT, pseudonym("account", username.strip().lower())))
    if ip:
        keys.append((LoginLockout.Scope.IP, pseudonym("ip", ip)))
    return keys


def lockout_until(*, username: str | None, ip: str | None, now: datetime | None = None) -> datetime | None:
    """When the account or the IP may try again, or None when neither is locked."""
    now = now or timezone.now()
    keys = _keys(username, ip)
    if not keys:
        return None
    query = Q(pk__in=[])
    for scope, key in keys:
        query |= Q(scope=scope, key=key)
    until = LoginLockout.objects.filter(query, locked_until__gt=now).order_by("-locked_until")
    row = until.values_list("locked_until", flat=True).first()
    return row


def _lockout_row(scope: str, key: str) -> LoginLockout:
    try:
        with transaction.atomic():
            row, _ = LoginLockout.objects.select_for_update().get_or_create(scope=scope, key=key)
            return row
    except IntegrityError:  # a concurrent failure created it first
        return LoginLockout.objects.select_for_update().get(scope=scope, key=key)


@transaction.atomic
def login_failure_record(*, username: str | None, ip: str | None, now: datetime | None = None) -> datetime | None:
    """Count a failed login against the account and the IP; lock when a threshold is reached.

    Returns the new lockout end when this failure locked the account or IP.
    """
    now = now or timezone.now()
    policy = LockoutPolicy.current()
    locked = None
    for scope, key in _keys(username, ip):
        row = _lockout_row(scope, key)
        if row.last_failure_at and now - row.last_failure_at > policy.window:
            row.failures = 0  # the earlier failures are too old to count
        if row.lockouts and row.locked_until and now - row.locked_until > policy.maximum:
            row.lockouts = 0  # a long quiet period forgives the backoff
        row.failures += 1
        row.last_failure_at = now
        if scope == LoginLockout.Scope.ACCOUNT and row.user_id is None:
            row.user = get_user_model().objects.filter(email__iexact=username.strip()).first()
        elif scope == LoginLockout.Scope.IP:
            row.label = mask_ip(ip)
        just_locked = row.failures >= policy.threshold(scope)
        if just_locked:
            row.lockouts += 1
            row.failures = 0
            row.locked_until = now + policy.duration(row.lockouts)
            row.lifted_at = None
            row.lifted_by = None
            locked = max(locked, row.locked_until) if locked else row.locked_until
            logger.warning("login lockout: %s %s until %s", scope, row.label or key[:12], row.locked_until)
        row.save()
        if just_locked:
            _lockout_record(row)
    return locked


def lockout_label(row: LoginLockout) -> str:
    """How alerts name a locked account or IP: the account id or the masked IP, never the email or address."""
    if row.scope == LoginLockout.Scope.IP:
        return f"IP {row.label}"
    if row.user_id:
        return f"account #{row.user_id}"
    # A login name that matches no account: the keyed hash tells repeats apart without revealing it.
    return f"unknown account {row.key[:8]}"


def _lockout_record(row: LoginLockout) -> None:
    """Audit the lockout and raise its alert; both commit with the failure that locked.

    The event is the exact record of when the lockout happened (the row keeps only the latest one, a lift
    resets it, a successful login deletes it): the hourly summary of lockouts counts these events.
    """
    from audit.lockout_alerts import lockout_alert_raise  # audit.alerts -> tickets -> audit.gdpr -> this module

    label = lockout_label(row)
    event = audit_record(
        actor=None,
        action="update",
        resource_type=LOCKOUT_RESOURCE,
        resource_id=row.pk,
        changes={
            "locked": True,
            "scope": row.scope,
            "label": label,
            "lockouts": row.lockouts,
            "locked_until": row.locked_until.isoformat(),
        },
    )
    lockout_alert_raise(lockout=row, label=label, at=event.occurred_at)


def login_success_record(*, username: str | None) -> None:
    """A correct password clears the account's failures and backoff (never the IP's: one good login
    from a shared address must not reset an attacker's count)."""
    if username:
        LoginLockout.objects.filter(
            scope=LoginLockout.Scope.ACCOUNT, key=pseudonym("account", username.strip().lower())
        ).filter(Q(locked_until__isnull=True) | Q(locked_until__lte=timezone.now())).delete()


@transaction.atomic
def lockout_lift(*, lockout: LoginLockout, actor, request=None) -> LoginLockout:
    """An admin lets the account or IP try again now; audited."""
    lockout = LoginLockout.objects.select_for_update().get(pk=lockout.pk)
    was_locked_until = lockout.locked_until
    lockout.failures = 0
    lockout.lockouts = 0
    lockout.locked_until = None
    lockout.lifted_at = timezone.now()
    lockout.lifted_by = actor
    lockout.save(update_fields=["failures", "lockouts", "locked_until", "lifted_at", "lifted_by"])
    audit_record(
        actor=actor,
        action="update",
        resource_type=LOCKOUT_RESOURCE,
        resource_id=lockout.pk,
        changes={
            "lifted": True,
            "scope": lockout.scope,
            "locked_until": was_locked_until.isoformat() if was_locked_until else None,
        },
        request=request,
    )
    return lockout


def lockouts_active(now: datetime | None = None):
    """Accounts and IPs locked right now (for the security page)."""
    now = now or timezone.now()
    return LoginLockout.objects.filter(locked_until__gt=now).select_related("user").order_by("locked_until")


class LockoutModelBackend(ModelBackend):
    """Django's model backend behind the lockout: locked account or IP → refused, whatever the password.

    Raising PermissionDenied stops Django from trying further backends and still sends
    `user_login_failed` (so the attempt is audited). The login form reads `request.login_locked_until`
    to say why.
    """

    def authenticate(self, request, username=None, password=None, **kwargs):
        if username is None:
            username = kwargs.get(get_user_model().USERNAME_FIELD)
        if username is None or password is None:
            return None
        ip = client_ip(request) if request is not None else None
        until = lockout_until(username=username, ip=ip)
        if until is not None:
            if request is not None:
                request.login_locked_until = until
            raise PermissionDenied("locked out")
        user = super().authenticate(request, username=username, password=password, **kwargs)
        if user is None:
            until = login_failure_record(username=username, ip=ip)
            if until is not None and request is not None:
                request.login_locked_until = until
        else:
            login_success_record(username=username)
        return user


# --- suspicious activity counters ---------------------------------------------------------------

_STATUS_KINDS = {
    401: SecurityCounter.Kind.UNAUTHORIZED,
    403: SecurityCounter.Kind.FORBIDDEN,
    429: SecurityCounter.Kind.THROTTLED,
}


def security_counter_increment(*, kind: str, source: str, at: datetime | None = None) -> None:
    """Add one to this minute's counter for (kind, source); an upsert that tolerates races."""
    bucket = (at or timezone.now()).replace(second=0, microsecond=0)
    updated = SecurityCounter.objects.filter(kind=kind, bucket=bucket, source=source).update(count=F("count") + 1)
    if updated:
        return
    try:
        with transaction.atomic():
            SecurityCounter.objects.create(kind=kind, bucket=bucket, source=source, count=1)
    except IntegrityError:
        SecurityCounter.objects.filter(kind=kind, bucket=bucket, source=source).update(count=F("count") + 1)


class SecurityCounterMiddleware:
    """Counts 401/403/429 responses per source and admin-site requests per user, per minute."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        try:
            self._count(request, response)
        except Exception:  # counting must never break a response
            logger.exception("security counter failed")
        return response

    def _count(self, request, response) -> None:
        kind = _STATUS_KINDS.get(response.status_code)
        if kind is not None:
            ip = client_ip(request) or "unknown"
            security_counter_increment(kind=kind, source=pseudonym("ip", ip))
        user = getattr(request, "user", None)
        # By the view's namespace: reversing the admin's path cost about 20 us on every request.
        match = getattr(request, "resolver_match", None)
        if (
            match is not None
            and "admin" in match.namespaces
            and user is not None
            and user.is_authenticated
            and user.is_staff
            and response.status_code < 400
        ):
            security_counter_increment(kind=SecurityCounter.Kind.ADMIN_ACCESS, source=f"user:{user.pk}")


# --- metrics ------------------------------------------------------------------------------------


def _audit_event_model():
    try:
        from audit.models import AuditEvent
    except ImportError:  # the activity log is not installed yet
        return None
    return AuditEvent


def _audit_counts(window_start: datetime, window_end: datetime) -> dict[str, int]:
    """Counts of failed logins, permission denials and exports in the window from the activity log."""
    from audit import selectors

    return selectors.audit_action_counts(
        window_start=window_start, window_end=window_end, actions=("login_failed", "permission_denied", "export")
    )


def export_outliers(window_start: datetime, window_end: datetime) -> list[dict]:
    """Users whose exports in the window are well above their trailing average for a window that long."""
    from audit import selectors

    baseline_days = _setting("EXPORT_BASELINE_DAYS", 28)
    factor = _setting("EXPORT_OUTLIER_FACTOR", 3.0)
    minimum = _setting("EXPORT_OUTLIER_MIN", 5)
    length = window_end - window_start
    baseline_start = window_start - timedelta(days=baseline_days)
    rows = selectors.audit_exports_per_actor(
        window_start=window_start, window_end=window_end, baseline_start=baseline_start
    )
    periods = timedelta(days=baseline_days) / length if length.total_seconds() > 0 else 1
    result = []
    for row in rows:
        usual = row["baseline"] / periods if periods else 0.0
        outlier = row["in_window"] >= minimum and row["in_window"] > factor * max(usual, 1.0)
        result.append(
            {
                "actor_id": row["actor_id"],
                "actor": row.get("actor", ""),
                "exports": row["in_window"],
                "usual": round(usual, 2),
                "outlier": outlier,
            }
        )
    result.sort(key=lambda item: (-item["outlier"], -item["exports"]))
    return result


def security_metrics(window_start: datetime, window_end: datetime) -> dict:
    """The seed's SecurityMetrics over [window_start, window_end), plus their breakdown.

    Keys: failed_login_attempts, suspicious_api_activity, data_export_volume, admin_access (the four
    headline numbers), and throttled_requests, unauthorized_responses, forbidden_responses,
    bursts, burst_responses, permission_denied_events, export_outliers (count), exports_by_user,
    locked_accounts, locked_ips.
    """
    burst_threshold = _setting("SECURITY_BURST_THRESHOLD", 20)
    counters = SecurityCounter.objects.filter(bucket__gte=window_start, bucket__lt=window_end)
    totals = dict(counters.values_list("kind").annotate(total=Sum("count")).order_by())
    denied_kinds = (SecurityCounter.Kind.UNAUTHORIZED, SecurityCounter.Kind.FORBIDDEN)
    bursts = counters.filter(kind__in=denied_kinds, count__gte=burst_threshold).aggregate(
        bursts=Count("id"), responses=Sum("count")
    )
    audit_counts = _audit_counts(window_start, window_end)
    exports = export_outliers(window_start, window_end)
    now = timezone.now()
    locked = dict(
        LoginLockout.objects.filter(locked_until__gt=now).values_list("scope").annotate(n=Count("id")).order_by()
    )
    throttled = totals.get(SecurityCounter.Kind.THROTTLED, 0)
    burst_responses = bursts["responses"] or 0
    return {
        "window_start": window_start,
        "window_end": window_end,
        "failed_login_attempts": audit_counts.get("login_failed", 0),
        "suspicious_api_activity": throttled + burst_responses,
        "data_export_volume": audit_counts.get("export", 0),
        "admin_access": totals.get(SecurityCounter.Kind.ADMIN_ACCESS, 0),
        "throttled_requests": throttled,
        "unauthorized_responses": totals.get(SecurityCounter.Kind.UNAUTHORIZED, 0),
        "forbidden_responses": totals.get(SecurityCounter.Kind.FORBIDDEN, 0),
        "bursts": bursts["bursts"] or 0,
        "burst_responses": burst_responses,
        "permission_denied_events": audit_counts.get("permission_denied", 0),
        "export_outliers": sum(1 for row in exports if row["outlier"]),
        "exports_by_user": exports,
        "locked_accounts": locked.get(LoginLockout.Scope.ACCOUNT, 0),
        "locked_ips": locked.get(LoginLockout.Scope.IP, 0),
    }
