"""The /oncall/ page, a page's page (acknowledge, resolve) and the incident pages, by role."""

from datetime import date, timedelta

import pytest

from tests.oncall import factories
from tests.oncall.conftest import T0
from tourbrain_support.oncall import paging
from tourbrain_support.oncall.models import Incident, Page
from tourbrain_support.roles import Role

pytestmark = pytest.mark.django_db


def test_oncall_page_shows_each_active_rotation_at_a_constant_query_count(
    client_as, team, clock, providers, django_assert_max_num_queries
):
    client = client_as(Role.SUPPORT_REP)
    paging.page_oncall(key="k1", severity="critical", title="Database down", body="", url="")
    with django_assert_max_num_queries(14) as first:
        response = client.get("/oncall/")
    html = response.content.decode()
    assert response.status_code == 200
    assert 'data-testid="now-primary">Ana<' in html
    assert 'data-testid="now-secondary">Ben<' in html
    assert 'data-testid="next-primary">Ben<' in html
    assert 'data-testid="next-secondary">Cai<' in html
    assert "Database down" in html
    assert "Vercel support" in html

    rotation, people = team
    # A second rotation for platform alerts (Cai then Dee, Cai covered by Ana today) and an inactive one.
    dee = factories.responder("Dee")
    platform = factories.rotation(
        [people["Cai"], dee], name="Platform", match_labels={"team": "platform"}, starts_on=date(2026, 3, 2)
    )
    factories.override(platform, people["Ana"], T0 - timedelta(hours=1), T0 + timedelta(hours=2), reason="swap")
    retired = factories.rotation([people["Ben"]], name="Retired")
    retired.is_active = False
    retired.save()
    for i in range(5):
        paging.page_oncall(key=f"more-{i}", severity="warning", title=f"Alert {i}", body="", url="")
        factories.override(rotation, people["Cai"], T0, T0 + timedelta(days=1))
        factories.contact(f"Contact {i}")
    with django_assert_max_num_queries(len(first.captured_queries)):
        response = client.get("/oncall/")
    html = response.content.decode()
    assert response.status_code == 200
    assert html.count('data-testid="rotation"') == 2
    assert 'data-rotation="Retired"' not in html
    platform_html = html[html.index('data-rotation="Platform"') :]
    assert "<code>team=platform</code>" in platform_html
    assert 'data-testid="now-primary">Ana<' in platform_html  # the override
    assert 'data-testid="now-secondary">Dee<' in platform_html
    assert "Ana as primary" in platform_html
    assert ": swap</li>" in platform_html
    primary_html = html[: html.index('data-rotation="Platform"')]
    assert 'data-testid="now-primary">Cai<' in primary_html  # its own overrides only
    assert "swap" not in primary_html


def test_an_engineer_acknowledges_then_resolves_from_the_page(client_as, team, clock, providers):
    page = paging.page_oncall(key="k1", severity="critical", title="Database down", body="", url="")
    client = client_as(Role.ENGINEER)
    assert b"Acknowledge" in client.get(f"/oncall/pages/{page.pk}/").content
    assert client.post(f"/oncall/pages/{page.pk}/acknowledge/").status_code == 302
    page.refresh_from_db()
    assert page.status == Page.Status.ACKNOWLEDGED
    assert page.acknowledged_by == client.user
    client.post(f"/oncall/pages/{page.pk}/resolve/")
    page.refresh_from_db()
    assert page.status == Page.Status.RESOLVED


@pytest.mark.parametrize(
    ("role", "view", "act"),
    [
        (None, 403, 403),
        (Role.SUPPORT_REP, 200, 403),
        (Role.AUDITOR, 403, 403),
        (Role.ENGINEER, 200, 302),
    ],
)
def test_who_may_see_and_act(client_as, team, clock, providers, role, view, act):
    page = paging.page_oncall(key="k1", severity="critical", title="Database down", body="", url="")
    client = client_as(role)
    assert client.get("/oncall/").status_code == view
    assert client.post(f"/oncall/pages/{page.pk}/acknowledge/").status_code == act


def test_opening_and_updating_an_incident_from_the_pages(client_as, clock, providers):
    from tourbrain_support.oncall.models import Component

    component = Component.objects.create(name="Web app")
    client = client_as(Role.SUPPORT_LEAD)
    bad = client.post("/oncall/incidents/", {"title": "", "severity": "major", "message": ""})
    assert bad.status_code == 400
    response = client.post(
        "/oncall/incidents/",
        {
            "title": "Slow pages",
            "severity": "major",
            "components": [component.pk],
            "message": "Looking",
            "is_public": "on",
        },
    )
    incident = Incident.objects.get()
    assert response.status_code == 302
    assert response["Location"] == f"/oncall/incidents/{incident.pk}/"
    client.post(f"/oncall/incidents/{incident.pk}/", {"status": "resolved", "message": "Fixed", "is_public": "on"})
    detail = client.get(f"/oncall/incidents/{incident.pk}/").content.decode()
    assert "Post-incident summary" in detail
    assert "Duration:" in detail
    assert client.post(f"/oncall/incidents/{incident.pk}/", {"status": "monitoring", "message": "x"}).status_code == 409


def test_an_incident_is_opened_from_a_page_once(client_as, team, clock, providers):
    page = paging.page_oncall(key="k1", severity="critical", title="Database down", body="", url="")
    client = client_as(Role.ENGINEER)
    first = client.post(f"/oncall/pages/{page.pk}/incident/")
    incident = Incident.objects.get()
    assert first["Location"] == f"/oncall/incidents/{incident.pk}/"
    assert client.post(f"/oncall/pages/{page.pk}/incident/")["Location"] == first["Location"]
    assert incident.page_key == "k1"
    assert not incident.is_public
