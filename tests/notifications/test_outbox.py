"""The notification outbox against a real SMTP server and a real HTTP server standing in for Slack."""

import json
import logging
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.db import transaction

from tests.celery_utils import broker_down
from tests.servers import Reply
from tourbrain_support.notifications.models import OutboxMessage
from tourbrain_support.notifications.outbox import (
    OutboxItem,
    outbox_deliver,
    outbox_deliver_due,
    outbox_enqueue,
    outbox_enqueue_many,
    retry_delay,
)
from tourbrain_support.notifications.tasks import deliver_outbox_message, deliver_pending_outbox

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def _email(**fields) -> OutboxMessage:
    values = {
        "kind": "ticket.assigned",
        "channel": "email",
        "recipient": "rep@example.test",
        "subject": "TB-000042 assigned to you",
        "body": "Ticket TB-000042 is yours now.",
        "idempotency_key": "ticket.assigned:42:1",
    }
    values.update(fields)
    return outbox_enqueue(**values)


def _slack(**fields) -> OutboxMessage:
    values = {
        "kind": "sla.breach",
        "channel": "slack",
        "recipient": "default",
        "subject": "SLA breached: TB-000042",
        "body": "First response overdue.",
        "idempotency_key": "sla.breach:42:slack",
    }
    values.update(fields)
    return outbox_enqueue(**values)


@pytest.fixture
def slack(settings, http_server):
    settings.SLACK_WEBHOOK_URL = http_server.url("/services/T000/B000/XXXX")
    return http_server


# --- email -------------------------------------------------------------------------------------------


def test_email_is_delivered_once_with_headers_body_and_the_smtp_answer(
    smtp_server, settings, celery_eager, django_capture_on_commit_callbacks
):
    # given a message enqueued in a transaction (tasks run inline when the transaction commits)
    settings.DEFAULT_FROM_EMAIL = "support@tourbrain.test"
    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        message = _email(html_body="<p>Ticket <b>TB-000042</b> is yours now.</p>")

    # then the SMTP server received exactly one email, addressed and labelled as written
    received = smtp_server.wait_for(1)
    assert len(received) == 1
    mail = received[0].message
    assert received[0].rcpt_tos == ["rep@example.test"]
    assert mail["Subject"] == "TB-000042 assigned to you"
    assert mail["From"] == "support@tourbrain.test"
    assert mail["To"] == "rep@example.test"
    assert mail["X-TourBrain-Notification"] == "ticket.assigned"
    assert mail["X-TourBrain-Outbox-Key"] == "ticket.assigned:42:1"
    assert received[0].text().strip() == "Ticket TB-000042 is yours now."
    assert "<b>TB-000042</b>" in received[0].html()

    # and the row is marked sent once, with the server's reply to DATA
    message.refresh_from_db()
    assert message.status == OutboxMessage.Status.SENT
    assert message.attempts == 1
    assert message.sent_at is not None
    assert message.provider_response == "250 2.0.0 Ok: queued as TEST000001"

    # when the delivery task runs again (a duplicate task), then nothing more is sent
    deliver_outbox_message(message.pk)
    deliver_pending_outbox()
    assert len(smtp_server.messages) == 1


def test_smtp_temporary_failure_is_retried_then_sent(smtp_server):
    # given the SMTP server answers the first DATA with a temporary failure
    smtp_server.data_answers.append("451 4.3.0 Try again later")
    with time_machine.travel(T0, tick=False):
        message = _email()

        # when the message is delivered, then it waits for a retry with the server's answer recorded
        outbox_deliver(message.pk)
        message.refresh_from_db()
        assert message.status == OutboxMessage.Status.PENDING
        assert "451" in message.last_error
        assert message.provider_response == "451 4.3.0 Try again later"
        assert T0 + timedelta(seconds=15) <= message.next_attempt_at <= T0 + timedelta(seconds=30)

    # and once the retry is due the periodic task sends it
    with time_machine.travel(T0 + timedelta(seconds=31), tick=False):
        deliver_pending_outbox()
    message.refresh_from_db()
    assert message.status == OutboxMessage.Status.SENT
    assert message.attempts == 2
    assert message.last_error == ""
    assert len(smtp_server.messages) == 1


def test_smtp_recipient_refused_permanently_fails_at_once(smtp_server):
    # given the server refuses the recipient with a permanent (5xx) reply
    smtp_server.rcpt_answers["gone@example.test"] = "550 5.1.1 No such user"
    message = _email(recipient="gone@example.test")

    # when the message is delivered
    outbox_deliver(message.pk)

    # then it is failed after one attempt with the refusal recorded, and no retry is scheduled
    message.refresh_from_db()
    assert message.status == OutboxMessage.Status.FAILED
    assert message.attempts == 1
    assert "550" in message.last_error
    assert smtp_server.messages == []


def test_unreachable_smtp_server_is_a_transient_failure(settings):
    # given an SMTP host where nothing listens
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", 1
    message = _email()

    # when delivered, then the row waits for a retry
    outbox_deliver(message.pk)
    message.refresh_from_db()
    assert message.status == OutboxMessage.Status.PENDING
    assert "SMTP unavailable" in message.last_error


# --- Slack -------------------------------------------------------------------------------------------


def test_slack_message_is_posted_as_json(slack):
    # given a Slack message
    message = _slack()

    # when it is delivered
    outbox_deliver(message.pk)

    # then the webhook got one JSON POST with the text, and the row records Slack's answer
    assert len(slack.requests) == 1
    request = slack.requests[0]
    assert request.method == "POST"
    assert request.path == "/services/T000/B000/XXXX"
    assert request.headers["Content-Type"].startswith("application/json")
    assert request.json() == {"text": "*SLA breached: TB-000042*\nFirst response overdue."}
    message.refresh_from_db()
    assert message.status == OutboxMessage.Status.SENT
    assert message.provider_response == "200 ok"


def test_slack_500_is_retried_with_backoff_then_sent(slack):
    # given Slack fails with a 500 once, then accepts
    slack.script([Reply(500, body="internal_error")])
    with time_machine.travel(T0, tick=False):
        message = _slack()
        outbox_deliver(message.pk)

    # then the row waits with the error and a backoff of half to all of the base delay
    message.refresh_from_db()
    assert message.status == OutboxMessage.Status.PENDING
    assert message.attempts == 1
    assert "500" in message.last_error
    assert T0 + timedelta(seconds=15) <= message.next_attempt_at <= T0 + timedelta(seconds=30)

    # when the periodic task runs before the retry is due, then nothing is sent
    with time_machine.travel(T0 + timedelta(seconds=10), tick=False):
        deliver_pending_outbox()
    assert len(slack.requests) == 1

    # when it runs after, then the message goes out and is marked sent once
    with time_machine.travel(T0 + timedelta(seconds=31), tick=False):
        deliver_pending_outbox()
        deliver_pending_outbox()
    message.refresh_from_db()
    assert message.status == OutboxMessage.Status.SENT
    assert message.attempts == 2
    assert len(slack.requests) == 2


def test_slack_429_waits_at_least_retry_after(slack):
    # given Slack rate-limits with Retry-After: 120
    slack.script([Reply(429, body="rate_limited", headers={"Retry-After": "120"})])
    with time_machine.travel(T0, tick=False):
        message = _slack()
        outbox_deliver(message.pk)

    # then the retry is scheduled no earlier than Slack asked
    message.refresh_from_db()
    assert message.status == OutboxMessage.Status.PENDING
    assert message.next_attempt_at >= T0 + timedelta(seconds=120)


def test_slack_4xx_is_permanent(slack):
    # given a webhook that Slack no longer knows
    slack.default = Reply(404, body="no_service")
    message = _slack()

    # when delivered, then it fails at once with Slack's answer and is never retried
    outbox_deliver(message.pk)
    message.refresh_from_db()
    assert message.status == OutboxMessage.Status.FAILED
    assert message.attempts == 1
    assert message.provider_response == "404 no_service"
    with time_machine.travel(datetime.now(tz=UTC) + timedelta(days=1), tick=False):
        deliver_pending_outbox()
    assert len(slack.requests) == 1


def test_slack_without_a_webhook_fails_permanently(settings):
    settings.SLACK_WEBHOOK_URL = ""
    message = _slack()
    outbox_deliver(message.pk)
    message.refresh_from_db()
    assert message.status == OutboxMessage.Status.FAILED
    assert "SLACK_WEBHOOK_URL" in message.last_error


def test_named_slack_channels_post_to_their_own_webhook_and_fall_back_to_the_default(settings, http_server):
    # given an "alerts" channel with its own webhook, and the default webhook
    settings.SLACK_WEBHOOKS = {"alerts": http_server.url("/hooks/alerts")}
    settings.SLACK_WEBHOOK_URL = http_server.url("/hooks/default")

    # when a message goes to "alerts", one to "status" (no webhook of its own) and one to "default"
    for number, channel in enumerate(["alerts", "status", "default"]):
        outbox_deliver(_slack(recipient=channel, idempotency_key=f"named:{number}").pk)

    # then each was posted once: alerts to its webhook, the other two to the default one
    assert [request.path for request in http_server.requests] == ["/hooks/alerts", "/hooks/default", "/hooks/default"]
    assert set(OutboxMessage.objects.values_list("status", flat=True)) == {OutboxMessage.Status.SENT}


def test_a_named_channel_without_any_webhook_fails_permanently_and_says_which(settings):
    settings.SLACK_WEBHOOKS = {}
    settings.SLACK_WEBHOOK_URL = ""
    message = _slack(recipient="status")
    outbox_deliver(message.pk)
    message.refresh_from_db()
    assert message.status == OutboxMessage.Status.FAILED
    assert "'status'" in message.last_error


def test_failed_for_good_after_max_attempts(slack, settings):
    # given Slack keeps failing and three attempts are allowed
    settings.OUTBOX_MAX_ATTEMPTS = 3
    slack.default = Reply(503, body="unavailable")
    with time_machine.travel(T0, tick=False):
        message = _slack()
        outbox_deliver(message.pk)

    # when the periodic task runs every hour for a day
    for hour in range(1, 25):
        with time_machine.travel(T0 + timedelta(hours=hour), tick=False):
            deliver_pending_outbox()

    # then exactly three attempts were made and the row is failed with the last answer
    message.refresh_from_db()
    assert len(slack.requests) == 3
    assert message.status == OutboxMessage.Status.FAILED
    assert message.attempts == 3
    assert message.provider_response == "503 unavailable"
    assert "503" in message.last_error


def test_backoff_grows_exponentially_and_is_capped(settings):
    settings.OUTBOX_RETRY_BASE_SECONDS, settings.OUTBOX_RETRY_MAX_SECONDS = 30, 3600
    for attempts, full in [(1, 30), (2, 60), (3, 120), (5, 480), (8, 3600), (20, 3600)]:
        for _ in range(20):
            assert full / 2 <= retry_delay(attempts) <= full


# --- enqueue -----------------------------------------------------------------------------------------


def test_duplicate_idempotency_key_makes_one_message(django_capture_on_commit_callbacks):
    # given a message already enqueued
    with django_capture_on_commit_callbacks() as callbacks:
        first = _email()
        # when the same cause enqueues it again
        second = _email(subject="changed")

    # then there is one row, the second call says so, and one delivery was scheduled
    assert first is not None
    assert second is None
    assert OutboxMessage.objects.count() == 1
    assert len(callbacks) == 1


def test_enqueue_many_skips_existing_and_repeated_keys(django_capture_on_commit_callbacks):
    # given one existing key
    _email(idempotency_key="k1")
    items = [
        OutboxItem(
            kind="sla.warning",
            channel="email",
            recipient=f"r{n}@example.test",
            subject="s",
            body="b",
            idempotency_key=f"k{n}",
        )
        for n in (1, 2, 3, 3)
    ]

    # when a batch with that key and a repeated one is enqueued
    with django_capture_on_commit_callbacks() as callbacks:
        created = outbox_enqueue_many(items)

    # then only the two new keys are inserted, with one on_commit for the batch
    assert sorted(message.idempotency_key for message in created) == ["k2", "k3"]
    assert OutboxMessage.objects.count() == 3
    assert len(callbacks) == 1


def test_enqueue_rolls_back_with_its_cause(django_capture_on_commit_callbacks):
    # given a transaction that enqueues a message then fails
    with django_capture_on_commit_callbacks() as callbacks, pytest.raises(RuntimeError), transaction.atomic():  # noqa: PT012
        _email()
        raise RuntimeError("the change failed")

    # then no row and no delivery remain
    assert OutboxMessage.objects.count() == 0
    assert callbacks == []


def test_a_burst_is_delivered_in_chunks_over_one_connection_each(
    smtp_server, settings, celery_eager, django_capture_on_commit_callbacks
):
    # given chunks of two messages per delivery task
    settings.OUTBOX_TASK_CHUNK = 2
    items = [
        OutboxItem(
            kind="sla.warning",
            channel="email",
            recipient=f"r{n}@example.test",
            subject="s",
            body="b",
            idempotency_key=f"burst:{n}",
        )
        for n in range(5)
    ]

    # when a burst of five is enqueued and committed (tasks run inline)
    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        outbox_enqueue_many(items)

    # then every message is sent once, over three SMTP sessions (2 + 2 + 1)
    assert len(smtp_server.wait_for(5)) == 5
    assert sorted(mail.rcpt_tos[0] for mail in smtp_server.messages) == [f"r{n}@example.test" for n in range(5)]
    assert smtp_server.sessions == 3
    assert set(OutboxMessage.objects.values_list("status", "attempts")) == {(OutboxMessage.Status.SENT, 1)}


def test_a_line_break_in_a_subject_cannot_reach_the_headers(smtp_server):
    message = _email(subject="Hello\r\nBcc: victim@example.test")
    outbox_deliver(message.pk)
    mail = smtp_server.wait_for(1)[0]
    assert mail.message["Subject"] == "Hello Bcc: victim@example.test"
    assert mail.rcpt_tos == ["rep@example.test"]


def test_unknown_channel_is_rejected():
    with pytest.raises(ValueError, match="channel"):
        _email(channel="pigeon")


# --- broker down -------------------------------------------------------------------------------------


def test_broker_down_enqueue_succeeds_and_the_periodic_task_delivers_once_back(
    smtp_server, django_capture_on_commit_callbacks, caplog
):
    # given the broker is down (nothing listens where Celery publishes)
    # when a message is enqueued and its transaction commits
    with (
        broker_down(),
        caplog.at_level(logging.WARNING, logger="tourbrain_support.notifications.outbox"),
        django_capture_on_commit_callbacks(execute=True),
        transaction.atomic(),
    ):
        message = _email()

    # then the commit succeeded, the row stays pending and the failure to publish was logged
    message.refresh_from_db()
    assert message.status == OutboxMessage.Status.PENDING
    assert any("broker unavailable" in record.getMessage() for record in caplog.records)
    assert smtp_server.messages == []

    # when the broker is back and the periodic delivery runs (twice, as beat would)
    deliver_pending_outbox.apply()
    deliver_pending_outbox.apply()

    # then the message went out exactly once
    message.refresh_from_db()
    assert message.status == OutboxMessage.Status.SENT
    assert len(smtp_server.wait_for(1)) == 1


# --- leases ------------------------------------------------------------------------------------------


def test_a_row_left_sending_by_a_dead_worker_is_taken_over_after_the_lease(slack, settings):
    from tourbrain_support.notifications.outbox import outbox_claim

    # given a worker claimed a message and died before sending
    with time_machine.travel(T0, tick=False):
        message = _slack()
        stale = outbox_claim(message.pk)
    assert stale.status == OutboxMessage.Status.SENDING

    # when the periodic task runs within the lease, then it leaves the row alone
    with time_machine.travel(T0 + timedelta(seconds=settings.OUTBOX_LEASE_SECONDS - 1), tick=False):
        deliver_pending_outbox()
    assert slack.requests == []

    # when it runs after the lease expired, then it sends the message once
    with time_machine.travel(T0 + timedelta(seconds=settings.OUTBOX_LEASE_SECONDS + 1), tick=False):
        deliver_pending_outbox()
        deliver_pending_outbox()
    message.refresh_from_db()
    assert message.status == OutboxMessage.Status.SENT
    assert message.attempts == 2
    assert len(slack.requests) == 1
    assert json.loads(slack.requests[0].body)["text"].startswith("*SLA breached")


@pytest.mark.parametrize("late_reply", [Reply(500, body="late"), Reply(200, body="late ok")])
def test_a_late_result_from_an_expired_claim_is_ignored(slack, settings, late_reply):
    from tourbrain_support.notifications.channels import Senders
    from tourbrain_support.notifications.outbox import _attempt, _SentResults, outbox_claim

    # given a claim whose lease expired and whose row was delivered by another worker meanwhile
    with time_machine.travel(T0, tick=False):
        message = _slack()
        stale = outbox_claim(message.pk)
    with time_machine.travel(T0 + timedelta(seconds=settings.OUTBOX_LEASE_SECONDS + 1), tick=False):
        deliver_pending_outbox()
    slack.default = late_reply

    # when the first worker finally records its attempt (a failure, or a success in its group of results)
    with Senders() as senders, _SentResults() as sent:
        assert _attempt(stale, senders, sent) is None

    # then the row keeps the successful delivery of the worker that held the claim
    assert sent.recorded == []
    message.refresh_from_db()
    assert message.status == OutboxMessage.Status.SENT
    assert message.provider_response == "200 ok"


def test_sent_messages_are_marked_in_groups_each_with_its_own_answer(smtp_server, settings):
    # given 12 emails and groups of 5 marked per commit (so the last group is partial)
    settings.OUTBOX_RECORD_GROUP = 5
    for n in range(12):
        _email(recipient=f"rep{n}@example.test", idempotency_key=f"group:{n}")

    # when the periodic delivery sends them over one connection
    counts = outbox_deliver_due(batch_size=50)

    # then every one was sent once and marked sent with the server's answer to its own DATA
    assert counts["sent"] == 12
    assert len(smtp_server.messages) == 12
    rows = list(OutboxMessage.objects.filter(idempotency_key__startswith="group:"))
    assert {row.status for row in rows} == {OutboxMessage.Status.SENT}
    assert all(row.provider_response.startswith("250") and row.sent_at for row in rows)
    assert {row.attempts for row in rows} == {1}


def test_a_batch_whose_lease_runs_out_hands_back_the_unsent_rows(slack, settings):
    from tourbrain_support.notifications.outbox import _deliver, outbox_claim_due

    # given three claimed rows and a provider so slow that the lease is nearly used up after the first send
    with time_machine.travel(T0, tick=False) as clock:
        for n in range(3):
            _slack(idempotency_key=f"slow:{n}")
        batch = outbox_claim_due(limit=10)
        slack.on_request = lambda _request: clock.shift(timedelta(seconds=settings.OUTBOX_LEASE_SECONDS - 15))

        # when the batch is delivered
        counts = _deliver(batch)

    # then one was sent and the other two are pending again with their attempt not counted
    assert counts["sent"] == 1
    assert counts["released"] == 2
    assert len(slack.requests) == 1
    rows = sorted(OutboxMessage.objects.values_list("status", "attempts"))
    assert rows == [("pending", 0), ("pending", 0), ("sent", 1)]


def test_a_lease_expired_on_the_last_attempt_fails_the_row(settings):
    from tourbrain_support.notifications.outbox import outbox_claim

    settings.OUTBOX_MAX_ATTEMPTS = 1
    with time_machine.travel(T0, tick=False):
        message = _email()
        outbox_claim(message.pk)
    with time_machine.travel(T0 + timedelta(hours=1), tick=False):
        deliver_pending_outbox()
    message.refresh_from_db()
    assert message.status == OutboxMessage.Status.FAILED
    assert "lease" in message.last_error


# --- GDPR transfer log ---------------------------------------------------------------------------


def test_delivery_to_a_processor_abroad_is_logged_as_a_cross_border_transfer(slack, smtp_server, settings):
    from audit.models import CrossBorderTransfer

    # given Slack processes data in the US and the email provider is in our region
    settings.CROSS_BORDER_PROCESSORS = {
        "slack": {"recipient": "slack", "country": "US", "legal_basis": "dpf"},
        "email": {"recipient": "email_provider", "country": "", "legal_basis": "scc"},
    }
    slack_message, email_message = _slack(), _email()

    # when both are delivered, and delivery is attempted again
    for message in (slack_message, email_message, slack_message):
        outbox_deliver(message.pk)

    # then exactly the Slack delivery is in the transfer log, once, pointing at the outbox row
    transfers = list(CrossBorderTransfer.objects.values("recipient", "country", "legal_basis", "reference"))
    assert transfers == [
        {"recipient": "slack", "country": "US", "legal_basis": "dpf", "reference": f"outbox:{slack_message.pk}"}
    ]


def test_a_failed_delivery_is_not_logged_as_a_transfer(slack):
    from audit.models import CrossBorderTransfer

    # given Slack answers 404 (the webhook is gone)
    slack.script([404])

    # when the message is attempted
    outbox_deliver(_slack().pk)

    # then nothing left the building, so nothing is logged
    assert not CrossBorderTransfer.objects.exists()
