"""The seed's "Final Production Checklist": automatic items checked live, manual items ticked by an admin.

Automatic checks are functions returning (ok, detail) that never raise. The core registers its own
(settings, health, migrations, on-call); apps register theirs at start-up with `launch_check_register`
(the audit app: backup verified in the last 24 h, audit trail verifying), so the core imports no app.

Delivery checks (`delivery=True`: a test email, a test Slack post, a Sentry test event) send something real:
`manage.py launch_check` runs them (unless `--no-send`); the /launch/ page shows their last run, stored in
LaunchDeliveryResult, and runs them again on an admin's POST (`launch_deliveries_send`, audited).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from tourbrain_support.api import ApplicationError
from tourbrain_support.oncall import launch_live
from tourbrain_support.oncall.models import LaunchDeliveryResult, LaunchItemTick

Check = Callable[[], tuple[bool, str]]
_REGISTERED: dict[str, Check] = {}


def launch_check_register(key: str, check: Check) -> None:
    """Attach the live check of an automatic item (apps call this from AppConfig.ready)."""
    _REGISTERED[key] = check


@dataclass(frozen=True)
class Item:
    key: str
    section: str
    label: str
    automatic: bool
    delivery: bool = False  # sends something real: run on demand, shown from its last run


# The seed's list, in its order. Automatic items name the check that decides them.
CHECKLIST = [
    Item("vercel_deployment", "Technical infrastructure", "Deployment successful with custom domain", False),
    Item("migrations", "Technical infrastructure", "Database migrations deployed to production", True),
    Item("settings", "Technical infrastructure", "All environment variables configured correctly", True),
    Item("health", "Technical infrastructure", "Health endpoints returning expected responses", True),
    Item("ssl", "Technical infrastructure", "SSL certificate active and properly configured", False),
    Item("clerk", "Service integration", "Clerk authentication working with social providers", False),
    Item("openai", "Service integration", "OpenAI API operational with production limits", False),
    Item("error_tracking", "Service integration", "Error tracking configured and tested", False),
    Item("sentry_test_event", "Service integration", "Error tracking tested: a Sentry test event sent", True, True),
    Item("widget_jwks", "Service integration", "Widget sign-in keys (JWKS) reachable", True),
    Item("analytics", "Service integration", "Analytics and monitoring active", False),
    Item("oncall", "Service integration", "Email notifications configured for alerts (on-call rotation)", True),
    Item("alert_rules", "Service integration", "Alert rules configured (the pre-installed rules enabled)", True),
    Item("test_email", "Service integration", "A test email delivered through the mail server", True, True),
    Item("test_slack", "Service integration", "A test Slack post delivered (#alerts, #status)", True, True),
    Item("support_email", "Business operations", "Customer support email configured and tested", False),
    Item("beta_criteria", "Business operations", "Beta user selection criteria finalized", False),
    Item("invitation_templates", "Business operations", "Invitation templates prepared and personalized", False),
    Item("onboarding", "Business operations", "Onboarding flow tested end-to-end", False),
    Item("feedback", "Business operations", "Feedback collection system operational", False),
    Item("backup_verified", "Security & compliance", "Data backup processes verified (last 24 h)", True),
    Item("audit_trail", "Security & compliance", "Audit logging operational (trail verifies)", True),
    Item("gdpr", "Security & compliance", "GDPR compliance measures active", False),
    Item("incident_procedures", "Security & compliance", "Incident response procedures documented", False),
    Item("rollback_tested", "Security & compliance", "Rollback procedures tested and ready", False),
]
ITEMS = {item.key: item for item in CHECKLIST}


def check_settings() -> tuple[bool, str]:
    """Production settings: not DEBUG, a real mail server, Sentry, Slack alerts/status, SMS, an https site."""
    missing = []
    if settings.DEBUG:
        missing.append("DEBUG is on")
    if "console" in settings.EMAIL_BACKEND or "locmem" in settings.EMAIL_BACKEND:
        missing.append("EMAIL_URL")
    if not getattr(settings, "SENTRY_DSN", ""):
        missing.append("SENTRY_DSN")
    if not settings.SITE_URL.startswith("https://"):
        missing.append("SITE_URL (https)")
    webhooks = getattr(settings, "SLACK_WEBHOOKS", {}) or {}
    for channel in ("alerts", "status"):
        if not (webhooks.get(channel) or webhooks.get("default") or settings.SLACK_WEBHOOK_URL):
            missing.append(f"Slack webhook for {channel}")
    if not (settings.SMS_API_URL and settings.SMS_ACCOUNT_SID and settings.SMS_AUTH_TOKEN and settings.SMS_FROM):
        missing.append("SMS_API_URL/SMS_ACCOUNT_SID/SMS_AUTH_TOKEN/SMS_FROM")
    if missing:
        return False, "missing or unsafe: " + ", ".join(missing)
    return True, "all present"


def check_health() -> tuple[bool, str]:
    from tourbrain_support.health import READINESS_CHECKS

    failing = []
    for name, check in READINESS_CHECKS.items():
        ok, detail = check()
        if not ok:
            failing.append(f"{name}: {detail}")
    return (False, "; ".join(failing)) if failing else (True, f"{', '.join(READINESS_CHECKS)} ok")


def check_migrations() -> tuple[bool, str]:
    from tourbrain_support.health import check_migrations as migrations_applied

    return migrations_applied()


def check_oncall() -> tuple[bool, str]:
    from tourbrain_support.oncall.selectors import oncall_configured

    return oncall_configured()


launch_check_register("settings", check_settings)
launch_check_register("health", check_health)
launch_check_register("migrations", check_migrations)
launch_check_register("oncall", check_oncall)


def check_alert_rules() -> tuple[bool, str]:
    from tourbrain_support.alerting.selectors import alert_rules_configured

    return alert_rules_configured()


launch_check_register("alert_rules", check_alert_rules)
launch_check_register("widget_jwks", launch_live.check_widget_jwks)
launch_check_register("test_email", launch_live.check_test_email)
launch_check_register("test_slack", launch_live.check_test_slack)
launch_check_register("sentry_test_event", launch_live.check_test_sentry)


@dataclass
class Result:
    item: Item
    ok: bool
    detail: str
    tick: LaunchItemTick | None = None
    delivery: LaunchDeliveryResult | None = None


def _run(key: str) -> tuple[bool, str]:
    check = _REGISTERED.get(key)
    if check is None:
        return False, "no check registered (its app is not installed)"
    try:
        return check()
    except Exception as error:  # a broken check is a failed item, never a crashed page
        return False, f"check failed: {error.__class__.__name__}: {error}"


def launch_results(*, send: bool = False) -> list[Result]:
    """Every item: automatic ones checked now, manual ones from their tick; 2 queries plus the checks.

    Delivery checks are run (and their results stored) only when `send`; otherwise they show their last run."""
    ticks = {tick.key: tick for tick in LaunchItemTick.objects.select_related("ticked_by")}
    if send:
        deliveries = _deliveries_run(actor=None)
    else:
        deliveries = {row.key: row for row in LaunchDeliveryResult.objects.select_related("ran_by")}
    results = []
    for item in CHECKLIST:
        tick = ticks.get(item.key)
        delivery = deliveries.get(item.key) if item.delivery else None
        if item.delivery:
            ok = bool(delivery and delivery.ok)
            detail = delivery.detail if delivery else "never run (send the test deliveries)"
        elif item.automatic:
            ok, detail = _run(item.key)
        else:
            ok = bool(tick and tick.done)
            detail = tick.note if tick else "not ticked"
        results.append(Result(item=item, ok=ok, detail=detail, tick=tick, delivery=delivery))
    return results


def _deliveries_run(*, actor) -> dict[str, LaunchDeliveryResult]:
    stored = {}
    for item in CHECKLIST:
        if not item.delivery:
            continue
        ok, detail = _run(item.key)
        row, _ = LaunchDeliveryResult.objects.update_or_create(
            key=item.key, defaults={"ok": ok, "detail": detail[:2000], "ran_at": timezone.now(), "ran_by": actor}
        )
        stored[item.key] = row
    return stored


def launch_deliveries_send(*, actor, request=None) -> dict[str, LaunchDeliveryResult]:
    """Send the test deliveries now (email, Slack, Sentry) and store each result; audited."""
    from tourbrain_support.recorders import record_action

    stored = _deliveries_run(actor=actor)
    record_action(
        actor=actor,
        action="update",
        resource_type="launch_item",
        resource_id="test_deliveries",
        changes={key: {"ok": row.ok, "detail": row.detail} for key, row in stored.items()},
        request=request,
    )
    return stored


@transaction.atomic
def launch_item_tick(*, key: str, done: bool, note: str, actor, request=None) -> LaunchItemTick:
    """Tick (or untick) a manual item with a note; audited."""
    from tourbrain_support.recorders import record_action

    item = ITEMS.get(key)
    if item is None or item.automatic:
        raise ApplicationError("Only manual items can be ticked.", fields={"key": ["Not a manual item."]})
    if not note.strip():
        raise ApplicationError("Say what was checked.", fields={"note": ["A note is required."]})
    tick, _ = LaunchItemTick.objects.select_for_update().get_or_create(key=key)
    tick.done, tick.note, tick.ticked_by, tick.ticked_at = done, note.strip(), actor, timezone.now()
    tick.save(update_fields=["done", "note", "ticked_by", "ticked_at"])
    record_action(
        actor=actor,
        action="update",
        resource_type="launch_item",
        resource_id=key,
        changes={"done": done, "note": tick.note},
        request=request,
    )
    return tick
