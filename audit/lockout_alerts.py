"""Login-lockout alerts: every lockout is audited (`audit.security`: a `login_lockout` update event with
`changes.locked`) and goes to the log and Sentry through `audit_alert_raise`, as any alert does.

People are told by the LoginLockouts alert rule (source `audit.lockouts`: the accounts and IPs locked now, by
account id or masked IP): once when lockouts start, again each hour they go on (its repeat interval) and a
resolve when none is left, so a credential-stuffing attack over hundreds of accounts or IPs is one
notification an hour, not hundreds.
"""

from __future__ import annotations

from datetime import datetime

from audit.alerts import AlertKind, audit_alert_raise
from audit.models import LoginLockout


def lockout_alert_raise(*, lockout: LoginLockout, label: str, at: datetime) -> None:
    """Log and report one lockout (the LoginLockouts rule tells people)."""
    # The message stays the same across lockouts of one account or IP, so Sentry groups them.
    audit_alert_raise(
        kind=AlertKind.LOGIN_LOCKOUT,
        message=f"Login lockout: {label} after repeated failed logins",
        details={
            "locked until": f"{lockout.locked_until:%Y-%m-%d %H:%M:%S} UTC",
            "lockouts in a row": lockout.lockouts,
        },
        now=at,
    )
