"""Paging: SMS (local Twilio-compatible server), email (local SMTP server) and Slack reach the primary; an
unacknowledged page climbs to the secondary, then the escalation contacts; a signed link acknowledges it."""

import base64
import re
from datetime import timedelta
from urllib.parse import parse_qs

import pytest
from django.db import connection

from audit.models import AuditEvent
from tourbrain_support.notifications.models import OutboxMessage
from tourbrain_support.notifications.outbox import outbox_deliver_due
from tourbrain_support.oncall import paging
from tourbrain_support.oncall.models import Page
from tourbrain_support.oncall.tasks import pages_escalate

pytestmark = pytest.mark.django_db


def _page(**overrides) -> Page:
    fields = {
        "key": "rule:database-health",
        "severity": "critical",
        "title": "Database health failing",
        "body": "The database probe failed for 2 minutes.",
        "url": "http://testserver/alerts/1/",
    }
    return paging.page_oncall(**{**fields, **overrides})


def _link(text: str) -> str:
    return re.search(r"http://testserver(/oncall/link/[^/\s]+/)", text).group(1)


def _sms(server) -> list[dict]:
    return [
        {**{key: values[0] for key, values in parse_qs(request.body.decode()).items()}, "_request": request}
        for request in server.requests
        if request.path.endswith("/Messages.json")
    ]


def test_a_page_reaches_the_primary_by_sms_email_and_slack(team, clock, providers, smtp_server):
    page = _page()
    outbox_deliver_due()

    assert page.level == Page.Level.PRIMARY
    assert page.status == Page.Status.OPEN
    [mail] = smtp_server.wait_for(1)
    assert mail.rcpt_tos == ["ana@oncall.test"]
    assert "Database health failing" in mail.message["Subject"]
    assert "/oncall/link/" in mail.text()
    [sms] = _sms(providers)
    request = sms.pop("_request")
    assert request.method == "POST"
    assert request.path == "/2010-04-01/Accounts/AC0123/Messages.json"
    assert request.headers["Authorization"] == "Basic " + base64.b64encode(b"AC0123:sms-secret").decode()
    assert sms["To"] == "+447700900001"
    assert sms["From"] == "+15005550006"
    assert "Database health failing" in sms["Body"]
    assert "/oncall/link/" in sms["Body"]
    slack = [request for request in providers.requests if request.path == "/slack/alerts"]
    assert len(slack) == 1
    assert "Paging primary: Ana" in slack[0].json()["text"]


def test_paging_the_same_key_again_changes_nothing(team, clock, providers):
    first = _page()
    count = OutboxMessage.objects.count()
    again = _page(title="A different title")
    assert again.pk == first.pk
    assert OutboxMessage.objects.count() == count


def test_an_unacknowledged_page_climbs_to_the_secondary_then_the_contacts(team, clock, providers, smtp_server):
    page = _page()

    clock.shift(timedelta(minutes=4, seconds=59))
    assert pages_escalate() == 0
    clock.shift(timedelta(seconds=1))
    assert pages_escalate() == 1
    assert pages_escalate() == 0  # a second beat in the same minute pages nobody again
    page.refresh_from_db()
    assert page.level == Page.Level.SECONDARY

    clock.shift(timedelta(minutes=5))
    assert pages_escalate() == 1
    page.refresh_from_db()
    assert page.level == Page.Level.ESCALATION
    assert page.escalate_at is None
    clock.shift(timedelta(minutes=30))
    assert pages_escalate() == 0  # the top level is final

    outbox_deliver_due()
    mails = smtp_server.wait_for(4)
    assert [mail.rcpt_tos[0] for mail in mails] == [
        "ana@oncall.test",
        "ben@oncall.test",
        "help@vercel.test",
        "help@supabase.test",
    ]
    assert "https://vercel.com/help" in mails[2].text()
    assert [sms["To"] for sms in _sms(providers)] == ["+447700900001", "+447700900002"]


def test_the_signed_link_acknowledges_and_stops_the_escalation(team, clock, providers, smtp_server, client):
    page = _page()
    outbox_deliver_due()
    [mail] = smtp_server.wait_for(1)
    link = _link(mail.text())

    shown = client.get(link)  # a mail scanner's GET changes nothing
    assert shown.status_code == 200
    assert b"Acknowledge" in shown.content
    page.refresh_from_db()
    assert page.status == Page.Status.OPEN

    response = client.post(link, {"action": "acknowledge"})
    assert response.status_code == 302
    page.refresh_from_db()
    assert page.status == Page.Status.ACKNOWLEDGED
    assert page.acknowledged_by.email == "ana@oncall.test"
    event = AuditEvent.objects.get(resource_type="oncall_page", action="update")
    assert event.actor_id == page.acknowledged_by.pk
    assert event.changes["via"] == "signed link"

    clock.shift(timedelta(minutes=10))
    assert pages_escalate() == 0

    response = client.post(link, {"action": "resolve"})
    page.refresh_from_db()
    assert page.status == Page.Status.RESOLVED
    assert page.resolved_by.email == "ana@oncall.test"


def test_the_sms_link_works_too_and_expires(team, clock, providers, client, settings):
    page = _page()
    outbox_deliver_due()
    [sms] = _sms(providers)
    link = _link(sms["Body"])

    clock.shift(timedelta(hours=settings.ONCALL_LINK_HOURS, seconds=1))
    expired = client.post(link, {"action": "acknowledge"})
    assert expired.status_code == 410
    assert b"expired" in expired.content
    page.refresh_from_db()
    assert page.status == Page.Status.OPEN


def test_a_forged_link_is_not_found(team, clock, client):
    _page()
    assert client.get("/oncall/link/not-a-signed-value/").status_code == 404


def test_resolving_by_key_closes_the_page_once(team, clock, providers):
    page = _page()
    assert paging.page_resolve(page.key).status == Page.Status.RESOLVED
    assert paging.page_resolve(page.key).status == Page.Status.RESOLVED  # no-op
    assert paging.page_resolve("unknown-key") is None
    states = OutboxMessage.objects.filter(kind=paging.KIND_PAGE_STATE)
    assert [message.recipient for message in states] == ["alerts"]
    clock.shift(timedelta(minutes=10))
    assert pages_escalate() == 0


def test_without_a_secondary_the_page_goes_straight_to_the_contacts(db, clock, providers):
    from tests.oncall import factories

    factories.rotation([factories.responder("Solo")])
    factories.contact("Clerk support")
    page = _page()
    clock.shift(timedelta(minutes=5))
    pages_escalate()
    page.refresh_from_db()
    assert page.level == Page.Level.ESCALATION
    assert [row["name"] for row in page.paged] == ["Solo", "Clerk support"]


@pytest.mark.skipif(connection.vendor != "postgresql", reason="concurrent writers need a server database")
@pytest.mark.django_db(transaction=True)
def test_two_escalation_runs_at_once_page_each_level_once(team, providers):
    """Two beats (or a beat and a rerun) at the same moment: the secondary is paged once."""
    import threading

    import time_machine

    from tests.oncall.conftest import T0

    with time_machine.travel(T0, tick=False) as clock:
        page = _page()
        clock.shift(timedelta(minutes=5))
        barrier = threading.Barrier(2)
        results = []

        def run():
            try:
                barrier.wait()
                results.append(paging.pages_escalate_due())
            finally:
                connection.close()

        threads = [threading.Thread(target=run) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert sorted(results) == [0, 1]
    page.refresh_from_db()
    assert page.level == Page.Level.SECONDARY
    assert OutboxMessage.objects.filter(kind=paging.KIND_PAGE, recipient="ben@oncall.test").count() == 1


def test_an_sms_provider_error_is_retried_and_a_refusal_fails_the_message(team, clock, providers, settings):
    from tests.servers import Reply

    settings.SLACK_WEBHOOKS, settings.SLACK_WEBHOOK_URL = {}, ""  # only the SMS API answers from the script
    providers.script([Reply(503, body="busy")])
    _page()
    outbox_deliver_due()
    sms = OutboxMessage.objects.get(channel=OutboxMessage.Channel.SMS)
    assert sms.status == OutboxMessage.Status.PENDING
    assert sms.attempts == 1

    providers.script([Reply(400, body='{"code": 21211, "message": "invalid To"}')])
    clock.shift(timedelta(hours=2))
    outbox_deliver_due()
    sms.refresh_from_db()
    assert sms.status == OutboxMessage.Status.FAILED
    assert "21211" in sms.last_error
