"""Audit alerts end to end: a failed verification, backup or lockout reaches admins and auditors by email (real
SMTP server) and Slack (real HTTP server), once per hour for a repeating failure, and is logged and reported to
Sentry (in-memory transport) even when the notifications cannot be written."""

import logging
from datetime import timedelta

import pytest
import time_machine
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from audit.alerts import AlertKind, audit_alert_raise
from audit.backups import backup_run
from audit.immutability import suspended_protection
from audit.models import LoginLockout
from audit.sealing import seal_all
from audit.security import login_failure_record
from audit.services import audit_record
from audit.tasks import audit_verify_scheduled
from tests.sentry_utils import database_unreachable, memory_sentry
from tourbrain_support.models import User
from tourbrain_support.notifications.models import OutboxMessage
from tourbrain_support.roles import Role

pytestmark = pytest.mark.django_db

ALERT = OutboxMessage.Kind.AUDIT_ALERT


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


def test_failed_verification_emails_admins_and_auditors_once_an_hour(
    audit_dirs, staff, smtp_server, delivered, sentry_events, caplog, settings
):
    # given a trail with a tampered row, and Slack not configured
    settings.SLACK_WEBHOOK_URL = ""
    settings.SITE_URL = "https://support.tourbrain.test"
    events = _tampered_trail()
    start = timezone.now().replace(minute=5, second=0, microsecond=0) + timedelta(hours=1)

    # when the daily verification runs
    with time_machine.travel(start), caplog.at_level(logging.ERROR, logger="audit.alerts"):
        assert delivered(audit_verify_scheduled) is False

    # then every active admin and auditor got one email through the SMTP server, naming the bad row
    received = smtp_server.wait_for(2)
    assert sorted(address for mail in received for address in mail.rcpt_tos) == [
        "admin@tourbrain.test",
        "auditor@tourbrain.test",
    ]
    mail = received[0]
    assert mail.message["Subject"].startswith("[TourBrain alert] Audit trail verification failed:")
    text = mail.text()
    assert f"row #{events[1].pk} does not match its seal" in text
    assert "Alert:  audit.verify_failed" in text
    assert "https://support.tourbrain.test/audit/" in text
    # and the ERROR line and exactly one Sentry message (the log line's copy is not sent twice)
    assert [r.levelno for r in caplog.records if r.name == "audit.alerts"] == [logging.ERROR]
    [event] = _alert_events(sentry_events)
    assert event["tags"]["alert_kind"] == AlertKind.AUDIT_VERIFY_FAILED
    assert event["message"].startswith("Audit trail verification failed:")

    # when it fails again within the hour
    with time_machine.travel(start + timedelta(minutes=40)):
        assert delivered(audit_verify_scheduled) is False
    # then nobody is mailed twice, though the log and Sentry see the repeat
    assert len(smtp_server.wait_for(3, timeout=0.5)) == 2
    assert OutboxMessage.objects.filter(kind=ALERT).count() == 2
    assert len(_alert_events(sentry_events)) == 2

    # when it still fails the next hour (the next daily run), they are told again
    with time_machine.travel(start + timedelta(hours=1)):
        assert delivered(audit_verify_scheduled) is False
    assert len(smtp_server.wait_for(4)) == 4
    assert set(OutboxMessage.objects.filter(kind=ALERT).values_list("status", flat=True)) == {"sent"}


def test_a_failed_backup_alerts_by_email_and_slack(tmp_path, staff, smtp_server, http_server, delivered, settings):
    # given Slack configured and a backup folder that cannot be created
    settings.SLACK_WEBHOOK_URL = http_server.url("/services/T/B/X")
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")

    # when the daily backup runs
    run = delivered(lambda: backup_run(directory=blocker / "sub"))

    # then the run failed and admins, auditors and the ops channel were told
    assert run.status == run.Status.FAILED
    received = smtp_server.wait_for(2)
    assert sorted(mail.rcpt_tos[0] for mail in received) == ["admin@tourbrain.test", "auditor@tourbrain.test"]
    assert received[0].message["Subject"].startswith("[TourBrain alert] backup failed:")
    assert f"run: {run.pk}" in received[0].text()
    assert len(http_server.requests) == 1
    slack_text = http_server.requests[0].json()["text"]
    assert "backup failed" in slack_text
    assert "backup.failed" in slack_text
    rows = OutboxMessage.objects.filter(kind=ALERT)
    assert sorted(rows.values_list("channel", "status")) == [("email", "sent"), ("email", "sent"), ("slack", "sent")]


def test_with_no_admin_or_auditor_the_support_mailbox_is_told(settings):
    settings.SUPPORT_EMAIL = "support@tourbrain.test"
    rows = audit_alert_raise(kind=AlertKind.BACKUP_FAILED, message="backup failed: disk full")
    assert [(row.channel, row.recipient) for row in rows] == [("email", "support@tourbrain.test")]


def test_a_different_message_is_a_different_alert(staff):
    first = audit_alert_raise(kind=AlertKind.BACKUP_FAILED, message="backup failed: disk full")
    again = audit_alert_raise(kind=AlertKind.BACKUP_FAILED, message="backup failed: disk full")
    other = audit_alert_raise(kind=AlertKind.BACKUP_FAILED, message="backup failed: pg_dump not found")
    assert (len(first), len(again), len(other)) == (2, 0, 2)


def test_a_broken_transaction_still_logs_and_reports_the_alert(staff, sentry_events, caplog):
    # given a job whose transaction is broken by a failed write
    with caplog.at_level(logging.WARNING), transaction.atomic():
        try:
            User.objects.create(email=staff["admin"].email)  # duplicate: the transaction is now unusable
        except IntegrityError:
            # when it raises an alert about it
            rows = audit_alert_raise(kind=AlertKind.BACKUP_FAILED, message="backup failed: could not record run")

    # then no notification could be written, and that did not raise
    assert rows == []
    assert not OutboxMessage.objects.exists()
    # but the ERROR line is there, the outbox failure is logged, and Sentry has the alert
    messages = [(r.name, r.getMessage()) for r in caplog.records]
    assert ("audit.alerts", "backup failed: could not record run") in messages
    assert any(name == "audit.alerting" and "notifications not written" in text for name, text in messages)
    [event] = _alert_events(sentry_events)
    assert event["message"] == "backup failed: could not record run"


def test_an_unreachable_database_still_logs_and_reports_the_alert(staff, sentry_events, caplog):
    with database_unreachable(), caplog.at_level(logging.ERROR):
        rows = audit_alert_raise(kind=AlertKind.AUDIT_VERIFY_FAILED, message="Audit trail verification failed: x")
    assert rows == []
    assert any(r.name == "audit.alerts" and r.getMessage().endswith("failed: x") for r in caplog.records)
    assert len(_alert_events(sentry_events)) == 1
    assert not OutboxMessage.objects.exists()


def test_the_first_lockout_of_an_hour_alerts_and_the_others_wait_for_the_summary(staff, settings):
    # given an account locked after 3 failures, at ten past the hour
    settings.LOGIN_LOCKOUT_ACCOUNT_THRESHOLD = 3
    settings.LOGIN_LOCKOUT_IP_THRESHOLD = 1000
    victim = staff["rep"]
    hour = timezone.now().replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
    with time_machine.travel(hour + timedelta(minutes=10), tick=False):
        for _ in range(3):
            login_failure_record(username=victim.email, ip="203.0.113.7")

    # then one alert per admin and auditor names the account, not its email, and says what comes next
    rows = list(OutboxMessage.objects.filter(kind=ALERT).order_by("recipient"))
    assert [row.recipient for row in rows] == ["admin@tourbrain.test", "auditor@tourbrain.test"]
    assert rows[0].subject == f"[TourBrain alert] Login lockout: account #{victim.pk} after repeated failed logins"
    assert victim.email not in rows[0].body
    assert "lockouts in a row: 1" in rows[0].body
    assert f"summarised in one follow-up after {hour + timedelta(hours=1):%H:%M} UTC" in rows[0].body
    assert "/audit/security/" in rows[0].body

    # when the lockout ends and the account is locked again, and an IP is locked, within the same hour
    lockout = LoginLockout.objects.get(scope=LoginLockout.Scope.ACCOUNT)
    with time_machine.travel(lockout.locked_until + timedelta(seconds=1), tick=False):
        for _ in range(3):
            login_failure_record(username=victim.email, ip="203.0.113.7")
        settings.LOGIN_LOCKOUT_IP_THRESHOLD = 2
        for _ in range(2):
            login_failure_record(username=None, ip="198.51.100.23")
    # then nobody is mailed again yet (the hour's summary tells of them)
    assert OutboxMessage.objects.filter(kind=ALERT).count() == 2

    # and a lockout the next hour is the first of its hour: mailed at once, with the masked address
    with time_machine.travel(hour + timedelta(hours=1, minutes=30), tick=False):
        for _ in range(2):
            login_failure_record(username=None, ip="198.51.100.24")
    ip_rows = OutboxMessage.objects.filter(kind=ALERT, subject__contains="IP 198.51.100.*")
    assert ip_rows.count() == 2
