"""Alert notifications through the outbox: grouped per tick and channel, keyed by rules and episodes, critical
alerts reach the on-call, delivered to a real SMTP server and Slack webhook; two evaluators at once notify once."""

import threading
from datetime import timedelta

import pytest
import time_machine
from django.db import connection

from tests.alerting.conftest import START
from tourbrain_support.alerting.evaluation import alerts_evaluate
from tourbrain_support.alerting.models import AlertEvent, channels_problem
from tourbrain_support.notifications.models import OutboxMessage
from tourbrain_support.roles import Role

pytestmark = pytest.mark.django_db

M = timedelta(minutes=1)


@pytest.fixture(autouse=True)
def _no_slack(settings):
    settings.SLACK_WEBHOOK_URL = ""
    settings.SLACK_WEBHOOKS = {}
    settings.ALERT_ONCALL_EMAILS = []


def _tick(minute: int = 0):
    with time_machine.travel(START + minute * M, tick=False):
        return alerts_evaluate()


def test_alerts_firing_together_are_one_message_per_channel(make_rule, scripted_source):
    first = make_rule(name="DiskFull", channels=["email:ops@example.com"])
    second = make_rule(name="QueueStuck", channels=["email:ops@example.com", "email:lead@example.com"])
    scripted_source.value = 10
    result = _tick()
    assert result.messages == 2
    ops = OutboxMessage.objects.get(recipient="ops@example.com")
    assert ops.kind == "alert.notification"
    assert ops.subject == "[TourBrain alert] 2 firing: DiskFull, QueueStuck"
    assert "[FIRING] DiskFull (warning)" in ops.body
    assert "[FIRING] QueueStuck (warning)" in ops.body
    assert ops.idempotency_key == f"alert:email:ops@example.com:firing.{first.pk}.1,firing.{second.pk}.1"
    lead = OutboxMessage.objects.get(recipient="lead@example.com")
    assert lead.payload["alerts"] == [{"rule": second.pk, "name": "QueueStuck", "kind": "firing", "instance": 1}]


def test_resolve_and_repeat_are_their_own_messages(make_rule, scripted_source):
    rule = make_rule(name="Hot", repeat_interval=2 * M)
    scripted_source.value = 10
    _tick(0)
    _tick(1)
    _tick(2)  # repeat
    scripted_source.value = 1
    _tick(3)  # resolve
    keys = list(OutboxMessage.objects.order_by("id").values_list("idempotency_key", flat=True))
    assert keys == [
        f"alert:email:ops@example.com:firing.{rule.pk}.1",
        f"alert:email:ops@example.com:repeat.{rule.pk}.1.1",
        f"alert:email:ops@example.com:resolved.{rule.pk}.1",
    ]
    assert OutboxMessage.objects.order_by("id").last().subject == "[TourBrain alert] 1 resolved: Hot"


def test_a_second_episode_is_a_new_notification(make_rule, scripted_source):
    rule = make_rule(name="Flap")
    for minute, value in enumerate([10, 1, 10]):
        scripted_source.value = value
        _tick(minute)
    keys = set(OutboxMessage.objects.values_list("idempotency_key", flat=True))
    assert f"alert:email:ops@example.com:firing.{rule.pk}.2" in keys
    assert len(keys) == 3


def test_critical_alerts_page_the_oncall(settings, make_rule, scripted_source, http_server):
    settings.ALERT_ONCALL_EMAILS = ["oncall@example.com", "backup@example.com"]
    settings.SLACK_WEBHOOKS = {"alerts": http_server.url("/alerts")}
    rule = make_rule(name="DatabaseDown", severity="critical", channels=["slack:alerts"])
    scripted_source.value = 10
    _tick()
    rows = {(row.channel, row.recipient): row for row in OutboxMessage.objects.all()}
    assert set(rows) == {("email", "oncall@example.com"), ("email", "backup@example.com"), ("slack", "alerts")}
    # The rule's own Slack channel and the on-call's are the same post: one row for both.
    assert rows[("email", "oncall@example.com")].idempotency_key == (
        f"alert:oncall>email:oncall@example.com:firing.{rule.pk}.1"
    )
    assert rows[("email", "oncall@example.com")].payload["via"] == "oncall"


def test_slack_channels_without_a_webhook_write_nothing(make_rule, scripted_source):
    make_rule(name="Quiet", channels=["slack:alerts"])
    scripted_source.value = 10
    result = _tick()
    assert len(result.notices) == 1
    assert not OutboxMessage.objects.exists()


def test_a_rerun_after_a_restart_writes_no_second_message(make_rule, scripted_source):
    make_rule(name="Once")
    scripted_source.value = 10
    _tick(0)
    _tick(0)  # the same tick again (beat sent it twice, or the worker restarted and ran it again)
    _tick(1)
    assert OutboxMessage.objects.count() == 1


def test_long_groups_keep_a_unique_bounded_key(make_rule, scripted_source):
    for index in range(30):
        make_rule(name=f"Rule{index:02d}", channels=["email:ops@example.com"])
    scripted_source.value = 10
    _tick()
    message = OutboxMessage.objects.get()
    assert len(message.idempotency_key) <= 200
    assert "~" in message.idempotency_key
    assert message.subject.startswith("[TourBrain alert] 30 firing")


def test_delivered_by_email_and_slack(
    settings, make_rule, scripted_source, smtp_server, http_server, celery_eager, django_capture_on_commit_callbacks
):
    settings.SLACK_WEBHOOKS = {"alerts": http_server.url("/hooks/alerts")}
    make_rule(name="ClerkUnavailable", channels=["email:ops@example.com", "slack:alerts"], runbook="Check Clerk")
    scripted_source.value = 10
    with django_capture_on_commit_callbacks(execute=True):
        _tick()
    [mail] = smtp_server.wait_for(1)
    assert mail.rcpt_tos == ["ops@example.com"]
    assert "[FIRING] ClerkUnavailable" in mail.text()
    assert "Runbook: Check Clerk" in mail.text()
    [post] = [request for request in http_server.requests if request.path == "/hooks/alerts"]
    assert "ClerkUnavailable" in post.json()["text"]
    assert set(OutboxMessage.objects.values_list("status", flat=True)) == {"sent"}


@pytest.mark.django_db(transaction=True)
def test_two_evaluators_at_once_fire_once(make_rule, scripted_source):
    if connection.vendor != "postgresql":
        pytest.skip("concurrent writers need a server database (SQLite serializes whole transactions)")
    for index in range(20):
        make_rule(name=f"Concurrent{index:02d}")
    scripted_source.value = 10
    barrier = threading.Barrier(2)
    results, errors = [], []

    def evaluator():
        from django.db import connections

        try:
            from tourbrain_support.alerting.evaluation import evaluable_rules

            with time_machine.travel(START, tick=False):
                rules = evaluable_rules()
                barrier.wait(timeout=10)  # both have read the same states before either writes
                results.append(alerts_evaluate(rules=rules))
        except Exception as exc:  # surfaced below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=evaluator) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert errors == []
    assert sorted(result.changed for result in results) == [0, 20]
    assert sorted(result.lost for result in results) == [0, 20]
    assert AlertEvent.objects.filter(kind="firing").count() == 20
    assert OutboxMessage.objects.count() == 1


def test_role_channels_email_each_active_holder_of_the_role_once_per_episode(make_rule, scripted_source, make_user):
    admin = make_user(Role.ADMIN, email="admin@tourbrain.test")
    auditor = make_user(Role.AUDITOR, email="auditor@tourbrain.test")
    make_user(Role.SUPPORT_REP, email="rep@tourbrain.test")
    make_user(Role.ADMIN, email="former@tourbrain.test", is_active=False)
    rule = make_rule(name="AuditVerificationFailed", channels=["role:admin", "role:auditor"])
    scripted_source.value = 10
    _tick()
    _tick(1)  # still firing, no repeat interval: nothing more
    rows = OutboxMessage.objects.filter(kind="alert.notification").order_by("recipient")
    assert [(row.channel, row.recipient) for row in rows] == [
        ("email", "admin@tourbrain.test"),
        ("email", "auditor@tourbrain.test"),
    ]
    assert rows[0].idempotency_key == f"alert:role:admin>{admin.pk}:firing.{rule.pk}.1"
    assert rows[1].idempotency_key == f"alert:role:auditor>{auditor.pk}:firing.{rule.pk}.1"
    assert rows[0].subject == "[TourBrain alert] 1 firing: AuditVerificationFailed"


def test_a_role_nobody_holds_tells_the_support_mailbox(make_rule, scripted_source, settings):
    make_rule(name="BackupFailed", channels=["role:auditor"])
    scripted_source.value = 10
    _tick()
    assert list(OutboxMessage.objects.values_list("recipient", flat=True)) == [settings.SUPPORT_EMAIL]


def test_role_channels_name_a_staff_role():
    assert channels_problem(["role:admin", "role:auditor"]) == ""
    assert "is not a channel" in channels_problem(["role:customer"])
