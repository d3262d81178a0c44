"""On call in a real browser: who is on call now and next, acknowledging a page (on its page and by the
signed link of its email), and the public status page with an incident."""

from datetime import time, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.conf import settings
from django.utils import timezone

from tests.oncall import factories
from tourbrain_support.oncall import incidents, paging
from tourbrain_support.oncall.models import Component, Incident, Page
from tourbrain_support.roles import Role

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def rotation(transactional_db):
    """Ana, Ben, Cai; week 0 began yesterday at midnight (local), so Ana is primary and Ben secondary now."""
    yesterday = (timezone.now().astimezone(ZoneInfo(settings.BUSINESS_TIMEZONE)) - timedelta(days=1)).date()
    people = [factories.responder(name) for name in ("Ana", "Ben", "Cai")]
    factories.rotation(people, weekday=yesterday.weekday(), at=time(0, 0), starts_on=yesterday)
    factories.contact("Vercel support")
    return people


def test_the_oncall_page_shows_who_is_on_call_now_and_next(page, login_as, rotation):
    login_as(Role.SUPPORT_REP)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="On call").click()
    assert page.get_by_test_id("now-primary").inner_text() == "Ana"
    assert page.get_by_test_id("now-secondary").inner_text() == "Ben"
    assert page.get_by_test_id("next-primary").inner_text() == "Ben"
    assert page.get_by_test_id("next-secondary").inner_text() == "Cai"
    assert "Vercel support" in page.get_by_test_id("contacts").inner_text()


def test_an_engineer_acknowledges_a_page(page, login_as, rotation):
    alert = paging.page_oncall(
        key="rule:db", severity="critical", title="Database health failing", body="Probe failed.", url=""
    )
    engineer = login_as(Role.ENGINEER)
    page.goto("/oncall/")
    page.get_by_role("link", name="Database health failing").click()
    page.get_by_role("button", name="Acknowledge").click()
    assert page.get_by_test_id("page-status").inner_text() == "Acknowledged"
    assert engineer.get_full_name() in page.get_by_test_id("page-acknowledged").inner_text()
    alert.refresh_from_db()
    assert alert.status == Page.Status.ACKNOWLEDGED
    assert alert.escalate_at is None


def test_the_paged_person_acknowledges_by_the_signed_link_without_signing_in(page, rotation):
    alert = paging.page_oncall(key="rule:clerk", severity="critical", title="Clerk unavailable", body="", url="")
    ana = rotation[0]
    link = paging.page_link_url(alert, paging._person(ana)).removeprefix(settings.SITE_URL)
    page.goto(link)
    assert "Paged to Ana" in page.content()
    page.get_by_role("button", name="Acknowledge").click()
    assert page.get_by_test_id("page-status").inner_text() == "Acknowledged"
    alert.refresh_from_db()
    assert alert.acknowledged_by == ana.user


def test_the_public_status_page_shows_an_incident(page, transactional_db):
    web = Component.objects.create(name="Web app", position=0)
    Component.objects.create(name="Sign-in", position=1)
    incident = incidents.incident_open(
        title="Slow page loads", severity=Incident.Severity.MAJOR, message="Pages load slowly.", components=[web]
    )
    incidents.incident_update(
        incident=incident, status=Incident.Status.IDENTIFIED, message="A bad deploy; rolling back."
    )
    incidents.incident_update(incident=incident, status=Incident.Status.MONITORING, message="secret", is_public=False)

    page.goto("/status/")
    card = page.get_by_test_id("incident")
    assert "Slow page loads" in card.inner_text()
    assert "A bad deploy; rolling back." in card.inner_text()
    assert "secret" not in page.content()
    assert page.locator("tr[data-component='Web app'] [data-testid=state]").inner_text() == "Partial outage"
    assert page.locator("tr[data-component='Sign-in'] [data-testid=state]").inner_text() == "Operational"
    assert page.get_by_test_id("overall").inner_text() == "Partial outage"
