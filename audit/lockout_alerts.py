"""Login-lockout alerts, grouped by UTC clock hour: a credential-stuffing attack over hundreds of accounts or
IPs is two notifications an hour, not hundreds.

- Every lockout is audited (`audit.security`: a `login_lockout` update event with `changes.locked`) and
  goes to the log and Sentry through `audit_alert_raise`, as any alert does.
- The first lockout of an hour also emails admins and auditors (and posts to Slack) at once: its dedupe
  key is the hour, so the outbox's unique keys decide "first", even between concurrent logins. The later
  ones of that hour are deduplicated there and wait for the summary.
- `lockout_summaries_send` (the periodic `audit.tasks.lockout_summaries`) sends, for each closed hour of
  the last day that had more than one lockout, one follow-up: how many lockouts, of how many accounts and
  IPs, with their labels (account id, masked IP, never an email or an address) and a link to the security
  page for that hour. It is keyed by the hour, so a second or late run sends nothing new.

The hour's lockouts come from those audit events, not from the `LoginLockout` rows: a row keeps only its
latest lockout, a lift resets it and a successful login deletes it, so the rows cannot say what an hour
held.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.db.models import Count, QuerySet
from django.db.models.fields.json import KT
from django.db.models.functions import TruncHour
from django.utils import timezone

from audit.alerts import AlertKind, audit_alert_notify, audit_alert_raise, audit_alerts_notified
from audit.models import AuditEvent, LoginLockout
from audit.security import LOCKOUT_RESOURCE

WINDOW = timedelta(hours=1)
# How late a summary may still be sent (a worker down longer than this loses those hours' summaries).
SUMMARY_LOOKBACK = timedelta(days=1)
# A lockout stamped just before the hour may commit just after it: wait this long before summarising.
SUMMARY_GRACE = timedelta(minutes=1)


def window_start(at: datetime) -> datetime:
    """The UTC clock hour holding this instant."""
    return at.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def lockout_alert_raise(*, lockout: LoginLockout, label: str, at: datetime) -> None:
    """Log and report one lockout; notify people only when it is the first of its hour."""
    start = window_start(at)
    # The message stays the same across lockouts of one account or IP, so Sentry groups them.
    audit_alert_raise(
        kind=AlertKind.LOGIN_LOCKOUT,
        message=f"Login lockout: {label} after repeated failed logins",
        details={
            "locked until": f"{lockout.locked_until:%Y-%m-%d %H:%M:%S} UTC",
            "lockouts in a row": lockout.lockouts,
            "later lockouts": f"this hour's are summarised in one follow-up after {start + WINDOW:%H:%M} UTC",
        },
        dedupe_key=f"hour:{start:%Y%m%dT%H}",
        now=at,
    )


# --- selectors ---------------------------------------------------------------------------------------


def lockout_events(*, start: datetime, end: datetime) -> QuerySet[AuditEvent]:
    """Audit events of lockouts (not lifts) in [start, end)."""
    return AuditEvent.objects.filter(
        resource_type=LOCKOUT_RESOURCE,
        action=AuditEvent.Action.UPDATE,
        changes__locked=True,
        occurred_at__gte=start,
        occurred_at__lt=end,
    ).order_by()


def lockout_counts_by_hour(*, start: datetime, end: datetime) -> dict[datetime, int]:
    """Lockouts per UTC hour in [start, end); hours without any are absent."""
    rows = (
        lockout_events(start=start, end=end)
        .annotate(hour=TruncHour("occurred_at", tzinfo=UTC))
        .values("hour")
        .annotate(lockouts=Count("id"))
    )
    return {row["hour"]: row["lockouts"] for row in rows}


def lockouts_locked_by_hour(hours: list[datetime]) -> dict[datetime, dict[str, dict[str, set[str]]]]:
    """For each hour: per scope, each label with the lockout rows (ids) locked under it. One query; one row
    per hour, account or IP and label, however many times each was locked."""
    result: dict[datetime, dict[str, dict[str, set[str]]]] = {hour: {} for hour in hours}
    if not hours:
        return result
    rows = (
        lockout_events(start=min(hours), end=max(hours) + WINDOW)
        .annotate(hour=TruncHour("occurred_at", tzinfo=UTC), scope=KT("changes__scope"), label=KT("changes__label"))
        .values_list("hour", "scope", "label", "resource_id")
        .distinct()
    )
    for hour, scope, label, resource_id in rows:
        if hour in result:
            result[hour].setdefault(scope, {}).setdefault(label, set()).add(resource_id)
    return result


# --- the hourly summary ------------------------------------------------------------------------------


def lockout_summaries_send(*, now: datetime | None = None) -> list[datetime]:
    """Send the summary of each closed hour of the last day with more than one lockout, unless it was sent.

    Returns the hours summarised by this run. Safe to run twice or late: the summary's key is its hour.
    """
    now = now or timezone.now()
    end = window_start(now - SUMMARY_GRACE)  # hours ending at or before this are closed
    counts = lockout_counts_by_hour(start=end - SUMMARY_LOOKBACK, end=end)
    # One lockout was notified at once; only hours with more have anything left to tell.
    keys = {_summary_key(hour): hour for hour, lockouts in counts.items() if lockouts > 1}
    sent = audit_alerts_notified(kind=AlertKind.LOGIN_LOCKOUT_SUMMARY, dedupe_keys=keys)
    hours = sorted(hour for key, hour in keys.items() if key not in sent)
    locked = lockouts_locked_by_hour(hours)
    for hour in hours:
        _summary_notify(hour=hour, lockouts=counts[hour], locked=locked[hour], now=now)
    return hours


def _summary_key(hour: datetime) -> str:
    return f"{hour:%Y%m%dT%H}"


def _summary_notify(*, hour: datetime, lockouts: int, locked: dict[str, dict[str, set[str]]], now: datetime) -> None:
    accounts = sorted(locked.get(LoginLockout.Scope.ACCOUNT, {}))
    ip_labels = locked.get(LoginLockout.Scope.IP, {})
    # Masked IPs can share a label (203.0.113.*): count the addresses by their lockout rows.
    ips = sum(len(rows) for rows in ip_labels.values())
    end = hour + WINDOW
    message = (
        f"Login lockouts {hour:%Y-%m-%d %H:%M}-{end:%H:%M} UTC: {_plural(lockouts, 'lockout')} of "
        f"{_plural(len(accounts), 'account')} and {_plural(ips, 'IP')}"
    )
    window = f"window=custom&start={hour:%Y-%m-%dT%H:%M}&end={end:%Y-%m-%dT%H:%M}"
    audit_alert_notify(
        kind=AlertKind.LOGIN_LOCKOUT_SUMMARY,
        message=message,
        details={
            "lockouts": lockouts,
            "notified at once": "the first; the others only in this summary",
            "accounts locked": accounts,
            "IPs locked": [_ip_label(label, len(rows)) for label, rows in sorted(ip_labels.items())],
            "that hour on the security page": f"{settings.SITE_URL}/audit/security/?{window}",
        },
        dedupe_key=_summary_key(hour),
        now=now,
    )


def _ip_label(label: str, addresses: int) -> str:
    return label if addresses == 1 else f"{label} ({addresses} addresses)"


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"
