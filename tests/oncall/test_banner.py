"""Open public incidents reach customers: a banner on the portal and `status_banner` in the widget's me/."""

import pytest

from tests.widget_tokens import bearer, claims, hs256, widget_settings  # noqa: F401 (widget_settings: a fixture)
from tourbrain_support.oncall import incidents
from tourbrain_support.oncall.models import Incident

pytestmark = pytest.mark.django_db


@pytest.fixture
def outage(db):
    public = incidents.incident_open(title="Slow exports", severity="minor", message="PDF exports are slow.")
    incidents.incident_open(title="Internal thing", severity="major", message="x", is_public=False)
    return public


def test_the_widget_reads_open_public_incidents(client, widget_settings, outage):  # noqa: F811
    body = client.get("/api/v1/widget/me/", **bearer(hs256(claims(email="ana@example.test")))).json()
    assert body["status_banner"] == [
        {"id": outage.pk, "title": "Slow exports", "severity": "minor", "status": "investigating"}
    ]
    incidents.incident_update(incident=outage, status=Incident.Status.RESOLVED, message="Fixed.")
    body = client.get("/api/v1/widget/me/", **bearer(hs256(claims(email="ana@example.test")))).json()
    assert body["status_banner"] == []


def test_the_portal_shows_the_banner(client_as, outage):
    html = client_as(None).get("/portal/").content.decode()
    assert "Known issue: Slow exports." in html
    assert "Internal thing" not in html
