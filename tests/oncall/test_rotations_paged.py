"""Every active rotation an alert's labels select is paged, each page escalating on its own; an alert no rotation
selects pages them all; the alert's resolve closes every page."""

from datetime import date, timedelta

import pytest

from tests.oncall import factories
from tourbrain_support.alerting.evaluation import alerts_evaluate
from tourbrain_support.alerting.models import AlertRule
from tourbrain_support.alerting.sources import register_source, unregister_source
from tourbrain_support.notifications.models import OutboxMessage
from tourbrain_support.oncall.models import Page, Rotation
from tourbrain_support.oncall.paging import pages_escalate_due

pytestmark = pytest.mark.django_db


@pytest.fixture
def scripted():
    state = {"value": 0.0}
    register_source("test.rotations_value", lambda window, now: state["value"])
    yield state
    unregister_source("test.rotations_value")


@pytest.fixture
def two_rotations(team):
    """The team's rotation (Ana, Ben, Cai) and a platform rotation (Dee primary, Eve secondary this week)."""
    support, people = team
    dee, eve = factories.responder("Dee", phone="+447700900004"), factories.responder("Eve", phone="+447700900005")
    platform = Rotation.objects.create(name="Platform", starts_on=date(2026, 3, 2), time_zone="Europe/London")
    for position, person in enumerate((dee, eve)):
        platform.members.create(responder=person, position=position)
    return support, platform, {**people, "Dee": dee, "Eve": eve}


def _rule(**labels) -> AlertRule:
    AlertRule.objects.update(enabled=False)
    return AlertRule.objects.create(
        name="PaymentsDown",
        source="test.rotations_value",
        comparator=">",
        threshold=0,
        severity="critical",
        channels=[],
        labels=labels,
    )


def _paged_emails() -> list[str]:
    return sorted(entry["email"] for page in Page.objects.all() for entry in page.paged)


def test_an_alert_no_rotation_selects_pages_every_active_rotation(two_rotations, clock, providers, scripted, settings):
    settings.ALERT_ONCALL_EMAILS = []
    _support, platform, people = two_rotations
    Rotation.objects.create(name="Retired", is_active=False)
    _rule(team="payments")

    scripted["value"] = 1.0
    alerts_evaluate()
    alerts_evaluate()  # a second tick pages nobody twice

    # one page per active rotation, each to its own primary
    assert Page.objects.count() == 2
    assert _paged_emails() == ["ana@oncall.test", "dee@oncall.test"]
    assert {page.alert_key for page in Page.objects.all()} == {Page.objects.first().alert_key}
    for name in ("Ana", "Dee"):
        assert OutboxMessage.objects.filter(channel="sms", recipient=people[name].phone).count() == 1

    # each escalates on its own: acknowledging the platform's page leaves the other climbing
    from tourbrain_support.oncall.paging import page_acknowledge

    page_acknowledge(Page.objects.get(rotation=platform), by=people["Dee"].user)
    clock.shift(timedelta(minutes=settings.ONCALL_ESCALATE_MINUTES + 1))
    assert pages_escalate_due() == 1
    assert _paged_emails() == ["ana@oncall.test", "ben@oncall.test", "dee@oncall.test"]
    assert OutboxMessage.objects.filter(recipient="eve@oncall.test").count() == 0

    # the alert resolves: every page of it closes
    scripted["value"] = 0.0
    alerts_evaluate()
    assert set(Page.objects.values_list("status", flat=True)) == {Page.Status.RESOLVED}


def test_the_alerts_labels_select_the_rotation(two_rotations, clock, providers, scripted, settings):
    settings.ALERT_ONCALL_EMAILS = []
    support, platform, _people = two_rotations
    platform.match_labels = {"team": "platform"}
    platform.save(update_fields=["match_labels"])
    _rule(team="platform", component="database")

    scripted["value"] = 1.0
    alerts_evaluate()

    [page] = Page.objects.all()
    assert page.rotation == platform
    assert _paged_emails() == ["dee@oncall.test"]

    # another team's alert is selected by no rotation: both are paged
    support.match_labels = {"team": "support"}
    support.save(update_fields=["match_labels"])
    AlertRule.objects.filter(name="PaymentsDown").update(labels={"team": "payments"}, name="PaymentsDown2")
    scripted["value"] = 0.0
    alerts_evaluate()
    scripted["value"] = 1.0
    alerts_evaluate()
    assert sorted(p.rotation.name for p in Page.objects.filter(status=Page.Status.OPEN)) == [
        "Platform",
        "Primary rotation",
    ]
