"""Lockout alerts grouped by clock hour: a burst of lockouts is one alert at once and one summary after the hour
(email through a real SMTP server, Slack through a real HTTP server), while the log and Sentry see every lockout;
the summary task sends each hour's summary once, however often or late it runs."""

import logging
from datetime import timedelta

import pytest
import sentry_sdk
import time_machine
from django.utils import timezone

from audit.alerts import AlertKind
from audit.models import AuditEvent, LoginLockout
from audit.security import login_failure_record, login_success_record, pseudonym
from audit.tasks import lockout_summaries
from tests.sentry_utils import memory_sentry
from tourbrain_support.notifications.models import OutboxMessage
from tourbrain_support.roles import Role

pytestmark = pytest.mark.django_db

ALERT = OutboxMessage.Kind.AUDIT_ALERT


@pytest.fixture
def staff(make_user):
    return {
        "admin": make_user(Role.ADMIN, email="admin@tourbrain.test"),
        "auditor": make_user(Role.AUDITOR, email="auditor@tourbrain.test"),
    }


@pytest.fixture
def hour():
    """The start of a clock hour tomorrow: every test's lockouts fall in hours of their own."""
    return timezone.now().replace(minute=0, second=0, microsecond=0) + timedelta(days=1)


@pytest.fixture
def delivered(celery_eager, django_capture_on_commit_callbacks):
    """Run a block as a job does (its writes commit; the delivery tasks run inline)."""

    def run(block):
        with django_capture_on_commit_callbacks(execute=True):
            return block()

    return run


@pytest.fixture
def one_failure_locks(settings):
    settings.LOGIN_LOCKOUT_ACCOUNT_THRESHOLD = 1
    settings.LOGIN_LOCKOUT_IP_THRESHOLD = 1


def _lock(*, at, accounts=(), ips=()):
    """One failed login per login name (and per IP) at `at`: with a threshold of 1, each one locks."""
    with time_machine.travel(at, tick=False):
        for name in accounts:
            login_failure_record(username=name, ip=None)
        for ip in ips:
            login_failure_record(username=None, ip=ip)


def _summaries():
    return OutboxMessage.objects.filter(kind=ALERT, idempotency_key__contains=AlertKind.LOGIN_LOCKOUT_SUMMARY)


def test_a_burst_of_lockouts_is_one_alert_at_once_and_one_summary_after_the_hour(
    staff, make_user, hour, one_failure_locks, smtp_server, http_server, delivered, caplog, settings
):
    # given Slack configured, and a credential-stuffing burst: 40 unknown login names, 3 real accounts and
    # 4 addresses (two of them in one /24) locked between 10 and 50 minutes past the hour
    settings.SLACK_WEBHOOK_URL = http_server.url("/services/T/B/X")
    settings.SITE_URL = "https://support.tourbrain.test"
    victims = [make_user(email=f"victim{n}@example.test") for n in range(3)]
    guesses = [f"guess{n}@example.test" for n in range(40)]
    ips = ["203.0.113.7", "203.0.113.8", "198.51.100.1", "192.0.2.200"]
    bursts = [
        (10, {"accounts": [victims[0].email]}),
        (20, {"accounts": guesses[:20]}),
        (35, {"accounts": guesses[20:] + [victim.email for victim in victims[1:]]}),
        (50, {"ips": ips}),
    ]
    with memory_sentry() as sentry, caplog.at_level(logging.ERROR, logger="audit.alerts"):
        for minute, locked in bursts:
            at = hour + timedelta(minutes=minute)
            with time_machine.travel(at, tick=False):  # the outbox delivers at that time too
                delivered(lambda at=at, locked=locked: _lock(at=at, **locked))
        sentry_sdk.flush()
        sentry_events = [e for e in sentry.events() if e.get("tags", {}).get("alert_kind") == AlertKind.LOGIN_LOCKOUT]

    # then the first lockout went out at once, to each admin and auditor and to Slack, and nothing else did
    received = smtp_server.wait_for(2)
    assert len(smtp_server.wait_for(3, timeout=0.5)) == 2
    assert sorted(mail.rcpt_tos[0] for mail in received) == ["admin@tourbrain.test", "auditor@tourbrain.test"]
    assert received[0].message["Subject"] == (
        f"[TourBrain alert] Login lockout: account #{victims[0].pk} after repeated failed logins"
    )
    assert len(http_server.requests) == 1
    # while the log and Sentry saw every one of the 47 lockouts
    assert len([r for r in caplog.records if r.name == "audit.alerts"]) == 47
    assert len(sentry_events) == 47

    # when the summary task runs before the hour is over, then it waits
    with time_machine.travel(hour + timedelta(minutes=59), tick=False):
        assert delivered(lockout_summaries) == []
    assert not _summaries().exists()

    # when it runs after the hour
    with time_machine.travel(hour + timedelta(hours=1, minutes=5), tick=False):
        assert delivered(lockout_summaries) == [hour.isoformat()]

    # then one summary went to each admin and auditor and one to Slack, with the counts and the labels
    received = smtp_server.wait_for(4)
    summary = received[2]
    end = hour + timedelta(hours=1)
    assert summary.message["Subject"] == (
        f"[TourBrain alert] Login lockouts {hour:%Y-%m-%d %H:%M}-{end:%H:%M} UTC: 47 lockouts of 43 accounts and 4 IPs"
    )
    text = summary.text()
    assert "lockouts: 47" in text
    assert f"  - account #{victims[1].pk}" in text
    assert "  - unknown account " in text
    assert "… and 23 more" in text  # 43 accounts, 20 listed
    assert "  - IP 203.0.113.* (2 addresses)" in text
    assert "  - IP 198.51.100.*" in text
    assert (
        "https://support.tourbrain.test/audit/security/?window=custom"
        f"&start={hour:%Y-%m-%dT%H:%M}&end={end:%Y-%m-%dT%H:%M}" in text
    )
    assert "Look at: https://support.tourbrain.test/audit/security/" in text
    # and no login name or address is in it
    assert not any(name in text for name in guesses + [v.email for v in victims])
    assert not any(ip in text for ip in ips)
    assert len(http_server.requests) == 2
    assert "47 lockouts of 43 accounts and 4 IPs" in http_server.requests[1].json()["text"]

    # when the task runs again, and again later in the day, then nothing more is sent
    with time_machine.travel(hour + timedelta(hours=1, minutes=10), tick=False):
        assert delivered(lockout_summaries) == []
    with time_machine.travel(hour + timedelta(hours=9), tick=False):
        assert delivered(lockout_summaries) == []
    assert len(smtp_server.wait_for(5, timeout=0.5)) == 4
    assert len(http_server.requests) == 2
    assert set(OutboxMessage.objects.filter(kind=ALERT).values_list("status", flat=True)) == {"sent"}


def test_a_late_run_sends_each_missed_hour_once(staff, hour, one_failure_locks):
    # given two hours with several lockouts each, and one between them with a single lockout
    _lock(at=hour + timedelta(minutes=5), accounts=["a@example.test", "b@example.test"])
    _lock(at=hour + timedelta(hours=1, minutes=5), accounts=["c@example.test"])
    _lock(at=hour + timedelta(hours=2, minutes=5), ips=["203.0.113.1", "198.51.100.2", "192.0.2.3"])

    # when the summary task first runs hours later, twice
    with time_machine.travel(hour + timedelta(hours=6), tick=False):
        first = lockout_summaries()
        second = lockout_summaries()

    # then each busy hour got one summary, the single lockout's hour none, and the rerun sent nothing
    assert first == [hour.isoformat(), (hour + timedelta(hours=2)).isoformat()]
    assert second == []
    subjects = sorted(set(_summaries().values_list("subject", flat=True)))
    assert [subject.split(": ", 1)[1] for subject in subjects] == [
        "2 lockouts of 2 accounts and 0 IPs",
        "3 lockouts of 0 accounts and 3 IPs",
    ]
    assert _summaries().count() == 4  # two hours, each to the admin and the auditor


def test_lockouts_lifted_relocked_or_cleared_still_count_in_their_hour(staff, make_user, client_as, hour, settings):
    # given an account locked twice in one hour, another locked then cleared by a successful login,
    # and a third lifted by an admin
    settings.LOGIN_LOCKOUT_ACCOUNT_THRESHOLD = 1
    settings.LOGIN_LOCKOUT_IP_THRESHOLD = 1000
    settings.LOGIN_LOCKOUT_BASE_SECONDS = 60
    names = ["twice@example.test", "cleared@example.test", "lifted@example.test"]
    _lock(at=hour + timedelta(minutes=1), accounts=names)
    _lock(at=hour + timedelta(minutes=3), accounts=["twice@example.test"])
    with time_machine.travel(hour + timedelta(minutes=4), tick=False):
        login_success_record(username="cleared@example.test")
    admin_client = client_as(Role.ADMIN)
    lifted = LoginLockout.objects.get(key=pseudonym("account", "lifted@example.test"))
    admin_client.post(f"/audit/security/lockouts/{lifted.pk}/lift/")
    assert LoginLockout.objects.filter(locked_until__isnull=False).count() == 1  # only "twice" is still on record

    # when the summary is sent
    with time_machine.travel(hour + timedelta(hours=1, minutes=2), tick=False):
        lockout_summaries()

    # then it counts all four lockouts of the three accounts
    [subject] = set(_summaries().values_list("subject", flat=True))
    assert subject.endswith("4 lockouts of 3 accounts and 0 IPs")
    # and each lockout is in the audit trail
    assert AuditEvent.objects.filter(resource_type="login_lockout", changes__locked=True).count() == 4


def test_a_quiet_hour_or_a_single_lockout_sends_no_summary(staff, hour, one_failure_locks):
    # given one hour with a single lockout and the next with none
    _lock(at=hour + timedelta(minutes=30), accounts=["alone@example.test"])
    assert OutboxMessage.objects.filter(kind=ALERT).count() == 2  # the lockout itself, at once

    # when the summary task runs after both hours
    with time_machine.travel(hour + timedelta(hours=2, minutes=5), tick=False):
        assert lockout_summaries() == []

    # then no summary was written
    assert not _summaries().exists()
    assert OutboxMessage.objects.filter(kind=ALERT).count() == 2


@pytest.mark.parametrize("accounts", [3, 60])
def test_the_summary_task_query_count_does_not_grow_with_lockouts(
    staff, hour, one_failure_locks, accounts, django_assert_max_num_queries
):
    # given an hour with a few or many lockouts, of accounts and IPs
    _lock(
        at=hour + timedelta(minutes=15),
        accounts=[f"user{n}@example.test" for n in range(accounts)],
        ips=[f"198.51.100.{n}" for n in range(accounts)],
    )

    # when the summary task runs after the hour, then it stays within the same number of queries
    with time_machine.travel(hour + timedelta(hours=1, minutes=5), tick=False):
        with django_assert_max_num_queries(12):
            assert lockout_summaries() == [hour.isoformat()]
        # and a rerun that has nothing to send stays cheaper still
        with django_assert_max_num_queries(3):
            assert lockout_summaries() == []
    assert _summaries().count() == 2
