"""A real Celery worker delivers the outbox: a critical ticket filed while the broker was down is notified
once the broker is back (worker harness of tests/tourbrain_support/test_celery_worker.py; PostgreSQL only)."""

import time

import pytest
from django.db import transaction

from tests.celery_utils import broker_down
from tests.factories import MembershipFactory, OrganizationFactory
from tests.tourbrain_support.test_celery_worker import Worker
from tickets import services
from tickets.models import Team, Ticket
from tourbrain_support.models import Organization
from tourbrain_support.notifications.models import OutboxMessage
from tourbrain_support.roles import Role

pytestmark = [pytest.mark.services, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def worker(tmp_path, transactional_db, smtp_server, http_server, monkeypatch):
    # The worker process reads its configuration from the environment: point it at the local servers.
    monkeypatch.setenv("EMAIL_URL", smtp_server.email_url)
    monkeypatch.setenv("SLACK_WEBHOOK_URL", http_server.url("/services/T/B/X"))
    worker = Worker(tmp_path)
    if worker.database_url is None:
        worker.stop()
        pytest.skip("the in-memory SQLite test database is invisible to a worker process (runs on PostgreSQL)")
    yield worker
    worker.stop()


def _wait(condition, worker, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.25)
    pytest.fail(f"timed out; worker log:\n{worker.log_path.read_text()[-4000:]}")


def test_notifications_written_while_the_broker_was_down_go_out_once_through_a_worker(
    worker, smtp_server, http_server, make_user, settings, django_capture_on_commit_callbacks
):
    # given an engineering lead and an enterprise customer
    settings.SLACK_WEBHOOK_URL = http_server.url("/services/T/B/X")
    lead = make_user(Role.SUPPORT_LEAD, email="lead@tourbrain.test")
    Team.objects.filter(slug=Ticket.Team.ENGINEERING).update(lead=lead)
    customer = MembershipFactory(organization=OrganizationFactory(plan=Organization.Plan.ENTERPRISE)).user

    # when a critical bug is filed while the broker is down
    with broker_down(), django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        ticket = services.ticket_create(
            requester=customer,
            organization=customer.organizations.first(),
            type="bug",
            priority="critical",
            subject="Routing hangs",
            description="AI routing never finishes.",
            channel="widget",
        )
    assert set(OutboxMessage.objects.values_list("status", flat=True)) == {"pending"}

    # and, the broker back, the periodic delivery runs on the worker twice (as beat would)
    worker.send("tourbrain_support.notifications.tasks.deliver_pending_outbox")
    _wait(lambda: OutboxMessage.objects.filter(status="sent").count() == 2, worker)
    worker.send("tourbrain_support.notifications.tasks.deliver_pending_outbox")
    worker.send(
        "tourbrain_support.notifications.tasks.deliver_outbox_message", message_id=OutboxMessage.objects.first().pk
    )
    time.sleep(2)

    # then the lead got one email and Slack one post, marked sent with the providers' answers
    assert [mail.rcpt_tos for mail in smtp_server.messages] == [["lead@tourbrain.test"]]
    assert ticket.reference in smtp_server.messages[0].message["Subject"]
    assert len(http_server.requests) == 1
    responses = dict(OutboxMessage.objects.values_list("channel", "provider_response"))
    assert responses["email"].startswith("250 2.0.0 Ok: queued as")
    assert responses["slack"] == "200 ok"
