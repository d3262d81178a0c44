"""Audit alerts end to end: a failed verification, backup or lockout is logged and reported to Sentry
(in-memory transport) even when nothing can be written, and fires its enabled alert rule, which emails every
active admin and auditor (real SMTP server) and posts to Slack (real HTTP server) once, repeats after the
rule's interval, resolves when the failure is fixed and sends nothing while silenced."""

import logging
from datetime import timedelta

import pytest
import time_machine
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from audit.alerts import AlertKind, audit_alert_raise
from audit.backups import backup_run
from audit.immutability import suspended_protection
from audit.models import BackupRun, LoginLockout
from audit.sealing import seal_all
from audit.security import login_failure_record
from audit.services import audit_record
from audit.tasks import audit_verify_scheduled
from tests.sentry_utils import database_unreachable, memory_sentry
from tourbrain_support.alerting.evaluation import alerts_evaluate
from tourbrain_support.alerting.models import AlertRule, AlertState, ProbeSample, Silence
from tourbrain_support.models import User
from tourbrain_support.notifications.models import OutboxMessage
from tourbrain_support.roles import Role

pytestmark = pytest.mark.django_db

ALERT = "alert.notification"
AUDIT_RULES = ("AuditVerificationFailed", "BackupFailed", "LoginLockouts", "DataSubjectRequestOverdue")


@pytest.fixture(autouse=True)
def audit_rules_only(settings):
    """The audit rules as installed (enabled by their migration); the seed's other rules are not evaluated."""
    AlertRule.objects.exclude(name__in=AUDIT_RULES).delete()
    settings.SLACK_WEBHOOK_URL = ""
    settings.SLACK_WEBHOOKS = {}
    settings.ALERT_ONCALL_EMAILS = []
    settings.SITE_URL = "https://support.tourbrain.test"


@pytest.fixture
def staff(make_user):
    """Who is told: active admins and auditors; not other roles, not inactive accounts."""
    return {
        "admin": make_user(Role.ADMIN, email="admin@tourbrain.test"),
        "auditor": make_user(Role.AUDITOR, email="auditor@tourbrain.test"),
        "rep": make_user(Role.SUPPORT_REP, email="rep@tourbrain.test"),
        "former": make_user(Role.ADMIN, email="former@tourbrain.test", is_active=False),
    }


@pytest.fixture
def sentry_events():
    with memory_sentry() as transport:
        yield transport


@pytest.fixture
def delivered(celery_eager, django_capture_on_commit_callbacks):
    """Run a block as a job does (its writes commit; the delivery tasks run inline)."""

    def run(block):
        with django_capture_on_commit_callbacks(execute=True):
            return block()

    return run


def _alert_events(transport) -> list[dict]:
    import sentry_sdk

    sentry_sdk.flush()
    return [event for event in transport.events() if event.get("tags", {}).get("alert_kind")]


def _tampered_trail():
    events = [audit_record(actor=None, action="update", resource_type="ticket", resource_id=i) for i in range(3)]
    seal_all(wait_seconds=5)
    with suspended_protection(), connection.cursor() as cursor:
        cursor.execute("UPDATE audit_auditevent SET resource_id = 'x' WHERE id = %s", [events[1].pk])
    return events


def _evaluate(delivered, at):
    with time_machine.travel(at, tick=False):
        return delivered(alerts_evaluate)


def _notified(rule_name: str) -> list[OutboxMessage]:
    return list(OutboxMessage.objects.filter(kind=ALERT, subject__contains=rule_name).order_by("id"))


def _state(rule_name: str) -> str:
    return AlertState.objects.get(rule__name=rule_name).state


def test_the_audit_rules_are_enabled_for_admins_and_auditors():
    rules = {rule.name: rule for rule in AlertRule.objects.filter(name__in=AUDIT_RULES)}
    assert sorted(rules) == sorted(AUDIT_RULES)
    for rule in rules.values():
        assert rule.enabled
        assert {"role:admin", "role:auditor"} <= set(rule.channels)
    assert rules["LoginLockouts"].repeat_interval == timedelta(hours=1)
    assert rules["AuditVerificationFailed"].repeat_interval == timedelta(hours=24)


def test_failed_verification_fires_once_repeats_daily_and_resolves_when_a_verification_passes(
    audit_dirs, staff, smtp_server, delivered, sentry_events, caplog
):
    # given a trail with a tampered row
    events = _tampered_trail()
    start = timezone.now().replace(second=0, microsecond=0) + timedelta(hours=1)

    # when the daily verification runs
    with time_machine.travel(start, tick=False), caplog.at_level(logging.ERROR, logger="audit.alerts"):
        assert delivered(audit_verify_scheduled) is False
    # then the ERROR line and exactly one Sentry message (the log line's copy is not sent twice), no email yet
    assert [r.levelno for r in caplog.records if r.name == "audit.alerts"] == [logging.ERROR]
    [event] = _alert_events(sentry_events)
    assert event["tags"]["alert_kind"] == AlertKind.AUDIT_VERIFY_FAILED
    assert not OutboxMessage.objects.exists()

    # when the rules are evaluated: every active admin and auditor gets one email naming the bad row
    _evaluate(delivered, start + timedelta(minutes=1))
    assert _state("AuditVerificationFailed") == AlertState.State.FIRING
    received = smtp_server.wait_for(2)
    assert sorted(address for mail in received for address in mail.rcpt_tos) == [
        "admin@tourbrain.test",
        "auditor@tourbrain.test",
    ]
    assert received[0].message["Subject"] == "[TourBrain alert] 1 firing: AuditVerificationFailed"
    text = received[0].text()
    assert f"row #{events[1].pk} does not match its seal" in text
    assert "https://support.tourbrain.test/audit/" in text

    # when it fails again within the day and the rules keep being evaluated, nobody is mailed twice
    with time_machine.travel(start + timedelta(hours=2), tick=False):
        assert delivered(audit_verify_scheduled) is False
    for minutes in (2, 60, 23 * 60):
        _evaluate(delivered, start + timedelta(minutes=minutes))
    assert len(_notified("AuditVerificationFailed")) == 2
    assert len(_alert_events(sentry_events)) == 2  # the log and Sentry see every failure

    # when it still fires after the repeat interval, they are told again
    _evaluate(delivered, start + timedelta(hours=24, minutes=2))
    repeats = _notified("AuditVerificationFailed")[2:]
    assert [row.subject for row in repeats] == ["[TourBrain alert] 1 still firing: AuditVerificationFailed"] * 2

    # when a later verification passes, the rule resolves and they are told so, once
    with time_machine.travel(start + timedelta(hours=25), tick=False):
        audit_record(actor=None, action="verify", resource_type="audit_trail", resource_id="", success=True)
    _evaluate(delivered, start + timedelta(hours=25, minutes=1))
    _evaluate(delivered, start + timedelta(hours=25, minutes=2))
    assert _state("AuditVerificationFailed") in (AlertState.State.RESOLVED, AlertState.State.INACTIVE)
    resolved = _notified("AuditVerificationFailed")[4:]
    assert [row.subject for row in resolved] == ["[TourBrain alert] 1 resolved: AuditVerificationFailed"] * 2
    assert len(smtp_server.wait_for(6)) == 6


def test_a_verification_failure_fires_even_when_its_audit_row_is_refused(staff, delivered):
    # given a failure raised before the run's audit row, and that row never written
    now = timezone.now()
    assert audit_alert_raise(kind=AlertKind.AUDIT_VERIFY_FAILED, message="Audit trail verification failed: x", now=now)
    # then the rule fires on its recorded failure alone
    _evaluate(delivered, now + timedelta(minutes=1))
    assert _state("AuditVerificationFailed") == AlertState.State.FIRING
    rows = _notified("AuditVerificationFailed")
    assert sorted(row.recipient for row in rows) == ["admin@tourbrain.test", "auditor@tourbrain.test"]
    assert "Problem: Audit trail verification failed: x" in rows[0].body


def test_a_silence_suppresses_the_audit_alert(staff, delivered):
    now = timezone.now()
    Silence.objects.create(
        matchers=[["alertname", "=", "AuditVerificationFailed"]],
        starts_at=now - timedelta(minutes=1),
        ends_at=now + timedelta(hours=1),
        reason="known, being fixed",
    )
    audit_alert_raise(kind=AlertKind.AUDIT_VERIFY_FAILED, message="Audit trail verification failed: x", now=now)
    _evaluate(delivered, now + timedelta(minutes=1))
    assert _state("AuditVerificationFailed") == AlertState.State.FIRING
    assert not OutboxMessage.objects.exists()
    # once the silence ends while it still fires, the firing is notified then
    _evaluate(delivered, now + timedelta(hours=1, minutes=1))
    assert len(_notified("AuditVerificationFailed")) == 2


def test_a_failed_backup_alerts_by_email_and_slack_and_resolves_after_a_good_run(
    tmp_path, staff, smtp_server, http_server, delivered, settings
):
    # given Slack configured and a backup folder that cannot be created
    settings.SLACK_WEBHOOK_URL = http_server.url("/services/T/B/X")
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")

    # when the daily backup runs, then the rules are evaluated
    run = delivered(lambda: backup_run(directory=blocker / "sub"))
    assert run.status == run.Status.FAILED
    _evaluate(delivered, timezone.now() + timedelta(minutes=1))

    # then admins, auditors and the alerts channel were told, naming the run and its error
    received = smtp_server.wait_for(2)
    assert sorted(mail.rcpt_tos[0] for mail in received) == ["admin@tourbrain.test", "auditor@tourbrain.test"]
    assert received[0].message["Subject"] == "[TourBrain alert] 1 firing: BackupFailed"
    assert f"Backup run #{run.pk}: " in received[0].text()
    slack_texts = [request.json()["text"] for request in http_server.requests]
    assert any("BackupFailed" in text for text in slack_texts)

    # when the next backup succeeds, the rule resolves
    BackupRun.objects.create(kind=BackupRun.Kind.BACKUP, status=BackupRun.Status.SUCCEEDED)
    _evaluate(delivered, timezone.now() + timedelta(minutes=2))
    assert _state("BackupFailed") in (AlertState.State.RESOLVED, AlertState.State.INACTIVE)
    assert len(smtp_server.wait_for(4)) == 4


def test_a_broken_transaction_still_logs_and_reports_the_alert(staff, sentry_events, caplog):
    # given a job whose transaction is broken by a failed write
    with caplog.at_level(logging.WARNING), transaction.atomic():
        try:
            User.objects.create(email=staff["admin"].email)  # duplicate: the transaction is now unusable
        except IntegrityError:
            # when it raises an alert about it
            recorded = audit_alert_raise(kind=AlertKind.AUDIT_VERIFY_FAILED, message="verification failed: y")

    # then the failure could not be recorded, and that did not raise
    assert recorded is False
    assert not ProbeSample.objects.exists()
    # but the ERROR line is there, the recording failure is logged, and Sentry has the alert
    messages = [(r.name, r.getMessage()) for r in caplog.records]
    assert ("audit.alerts", "verification failed: y") in messages
    assert any("not recorded" in text for _name, text in messages)
    [event] = _alert_events(sentry_events)
    assert event["message"] == "verification failed: y"


def test_an_unreachable_database_still_logs_and_reports_the_alert(staff, sentry_events, caplog):
    with database_unreachable(), caplog.at_level(logging.ERROR):
        recorded = audit_alert_raise(kind=AlertKind.AUDIT_VERIFY_FAILED, message="Audit trail verification failed: x")
    assert recorded is False
    assert any(r.name == "audit.alerts" and r.getMessage().endswith("failed: x") for r in caplog.records)
    assert len(_alert_events(sentry_events)) == 1


def test_lockouts_are_one_alert_then_hourly_with_masked_labels_and_resolve_when_they_end(
    staff, settings, delivered, sentry_events
):
    # given an account and an IP locked after failed logins
    settings.LOGIN_LOCKOUT_ACCOUNT_THRESHOLD = 3
    settings.LOGIN_LOCKOUT_IP_THRESHOLD = 2
    victim = staff["rep"]
    start = timezone.now().replace(second=0, microsecond=0) + timedelta(hours=1)
    with time_machine.travel(start, tick=False):
        for _ in range(3):
            login_failure_record(username=victim.email, ip=None)
        for _ in range(2):
            login_failure_record(username=None, ip="198.51.100.23")
    # the log and Sentry see each lockout
    assert len(_alert_events(sentry_events)) == 2

    # when the rules are evaluated: one email per admin and auditor, naming the account and the masked IP
    _evaluate(delivered, start + timedelta(seconds=30))
    rows = _notified("LoginLockouts")
    assert sorted(row.recipient for row in rows) == ["admin@tourbrain.test", "auditor@tourbrain.test"]
    assert f"account #{victim.pk}" in rows[0].body
    assert "198.51.100.*" in rows[0].body
    assert "198.51.100.23" not in rows[0].body
    assert victim.email not in rows[0].body

    # when more lockouts follow within the hour, nobody is mailed again; after the hour, one repeat
    with time_machine.travel(start + timedelta(minutes=5), tick=False):
        for _ in range(2):
            login_failure_record(username=None, ip="203.0.113.9")
    _evaluate(delivered, start + timedelta(minutes=5, seconds=30))
    assert len(_notified("LoginLockouts")) == 2
    # (an attack that goes on: the lockouts back off and stay locked through the next hour)
    LoginLockout.objects.update(locked_until=start + timedelta(hours=2))
    _evaluate(delivered, start + timedelta(hours=1, minutes=1))
    repeats = _notified("LoginLockouts")[2:]
    assert [row.subject for row in repeats] == ["[TourBrain alert] 1 still firing: LoginLockouts"] * 2
    assert "203.0.113.*" in repeats[0].body

    # when the lockouts end, the rule resolves
    _evaluate(delivered, start + timedelta(hours=2, minutes=1))
    assert _state("LoginLockouts") in (AlertState.State.RESOLVED, AlertState.State.INACTIVE)
    assert [row.subject for row in _notified("LoginLockouts")[4:]] == [
        "[TourBrain alert] 1 resolved: LoginLockouts"
    ] * 2


def test_the_lockout_summary_beat_entry_is_removed_by_its_migration():
    from importlib import import_module

    from django.apps import apps
    from django_celery_beat.models import IntervalSchedule, PeriodicTask

    every = IntervalSchedule.objects.create(every=300, period=IntervalSchedule.SECONDS)
    PeriodicTask.objects.create(name="audit-lockout-summaries", task="audit.tasks.lockout_summaries", interval=every)
    PeriodicTask.objects.create(name="audit-gdpr-reminders-x", task="audit.tasks.gdpr_reminders", interval=every)
    import_module("audit.migrations.0011_remove_lockout_summaries_beat_entry").remove(apps, None)
    assert list(PeriodicTask.objects.filter(task__startswith="audit.").values_list("task", flat=True)) == [
        "audit.tasks.gdpr_reminders"
    ]
