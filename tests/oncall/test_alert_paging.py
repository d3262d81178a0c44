"""A critical alert pages the rotation's primary (SMS, email, Slack) once per episode, escalates to the secondary
when nobody acknowledges, and its resolve closes the page; through the real outbox and local servers."""

from datetime import timedelta
from urllib.parse import parse_qs

import pytest

from tourbrain_support.alerting.evaluation import alerts_evaluate
from tourbrain_support.alerting.models import AlertRule
from tourbrain_support.alerting.sources import register_source, unregister_source
from tourbrain_support.notifications.models import OutboxMessage
from tourbrain_support.notifications.outbox import outbox_deliver_due
from tourbrain_support.oncall.models import Page
from tourbrain_support.oncall.paging import pages_escalate_due

pytestmark = pytest.mark.django_db


@pytest.fixture
def scripted():
    state = {"value": 0.0}
    register_source("test.oncall_value", lambda window, now: state["value"])
    yield state
    unregister_source("test.oncall_value")


def test_a_critical_alert_pages_the_primary_once_escalates_and_resolves(team, clock, providers, scripted, settings):
    settings.ALERT_ONCALL_EMAILS = []
    AlertRule.objects.update(enabled=False)
    rule = AlertRule.objects.create(
        name="PaymentsDown",
        source="test.oncall_value",
        comparator=">",
        threshold=0,
        window=timedelta(minutes=1),
        severity="critical",
        channels=[],
    )
    _rotation, people = team

    # when the condition holds: the alert fires and a second tick (a restart, a second beat) runs too
    scripted["value"] = 1.0
    alerts_evaluate()
    alerts_evaluate()

    # then one page is open for the alert, and the primary (Ana) got it by SMS and email, the team on Slack
    page = Page.objects.get()
    assert page.key.startswith(f"alert:{rule.pk}:")
    assert page.status == Page.Status.OPEN
    assert [entry["email"] for entry in page.paged] == [people["Ana"].user.email]
    outbox_deliver_due()
    sms = [request for request in providers.requests if request.path.endswith("/Messages.json")]
    assert len(sms) == 1
    form = parse_qs(sms[0].body.decode())
    assert form["To"] == [people["Ana"].phone]
    assert "PaymentsDown" in form["Body"][0]
    assert OutboxMessage.objects.filter(channel="email", recipient=people["Ana"].user.email).count() == 1

    # when nobody acknowledges within the escalation time, the secondary (Ben) is paged
    clock.shift(timedelta(minutes=settings.ONCALL_ESCALATE_MINUTES, seconds=1))
    assert pages_escalate_due() == 1
    page.refresh_from_db()
    assert people["Ben"].user.email in [entry["email"] for entry in page.paged]

    # when the condition clears, the alert resolves and so does its page
    scripted["value"] = 0.0
    alerts_evaluate()
    page.refresh_from_db()
    assert page.status == Page.Status.RESOLVED
    assert Page.objects.count() == 1
