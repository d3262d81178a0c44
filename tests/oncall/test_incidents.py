"""Incidents: updates to Slack #status, public ones on /status/, the post-incident summary; uptime."""

from datetime import timedelta

import pytest
from django.utils import timezone

from audit.models import AuditEvent
from tourbrain_support.api import ApplicationError
from tourbrain_support.notifications.models import OutboxMessage
from tourbrain_support.oncall import incidents
from tourbrain_support.oncall.models import Component, Incident
from tourbrain_support.oncall.selectors import status_banner, status_page

pytestmark = pytest.mark.django_db


@pytest.fixture
def components(db):
    return {name: Component.objects.create(name=name, position=i) for i, name in enumerate(["Web app", "Sign-in"])}


def test_each_update_posts_to_slack_status_and_resolving_writes_the_summary(components, clock, providers, make_user):
    engineer = make_user(name="Eli Engineer")
    incident = incidents.incident_open(
        title="Sign-in failures",
        severity=Incident.Severity.MAJOR,
        message="Some users cannot sign in.",
        components=[components["Sign-in"]],
        actor=engineer,
    )
    clock.shift(timedelta(minutes=20))
    incidents.incident_update(
        incident=incident, status=Incident.Status.IDENTIFIED, message="Clerk session bug.", is_public=False
    )
    clock.shift(timedelta(minutes=75))
    incidents.incident_update(incident=incident, status=Incident.Status.RESOLVED, message="Fixed.", actor=engineer)

    incident.refresh_from_db()
    slack = OutboxMessage.objects.filter(recipient="status").order_by("pk")
    assert [message.kind for message in slack] == ["incident.update"] * 3
    assert "(internal update)" in slack[1].body
    assert incident.status == Incident.Status.RESOLVED
    assert incident.resolved_at - incident.opened_at == timedelta(minutes=95)
    assert "Duration: 1 h 35 min" in incident.summary
    assert "Components: Sign-in" in incident.summary
    assert "Identified (internal)" not in incident.summary  # the timeline marks it [internal]
    assert "Identified [internal]: Clerk session bug." in incident.summary.replace(" (Eli Engineer)", "")
    assert AuditEvent.objects.filter(resource_type="incident").count() == 3

    with pytest.raises(ApplicationError):
        incidents.incident_update(incident=incident, status=Incident.Status.MONITORING, message="late")


def test_status_page_shows_public_incidents_states_and_uptime(components, clock, providers):
    public = incidents.incident_open(
        title="Slow web app",
        severity=Incident.Severity.MAJOR,
        message="Pages load slowly.",
        components=[components["Web app"]],
    )
    incidents.incident_update(
        incident=public, status=Incident.Status.IDENTIFIED, message="Internal detail", is_public=False
    )
    incidents.incident_open(
        title="Internal only",
        severity=Incident.Severity.CRITICAL,
        message="x",
        components=[components["Sign-in"]],
        is_public=False,
    )
    # A resolved critical outage of 9 h within the 90 days: 99.58% uptime for Sign-in.
    old = incidents.incident_open(
        title="Old outage", severity=Incident.Severity.CRITICAL, message="down", components=[components["Sign-in"]]
    )
    incidents.incident_update(incident=old, status=Incident.Status.RESOLVED, message="up")
    Incident.objects.filter(pk=old.pk).update(
        opened_at=timezone.now() - timedelta(days=10),
        resolved_at=timezone.now() - timedelta(days=10) + timedelta(hours=9),
    )
    # Outside the window: not counted.
    ancient = incidents.incident_open(
        title="Ancient", severity="critical", message="x", components=[components["Sign-in"]]
    )
    incidents.incident_update(incident=ancient, status=Incident.Status.RESOLVED, message="up")
    Incident.objects.filter(pk=ancient.pk).update(
        opened_at=timezone.now() - timedelta(days=200), resolved_at=timezone.now() - timedelta(days=199)
    )
    Incident.objects.filter(title="Internal only").update(opened_at=timezone.now())

    rows, open_incidents = status_page()
    by_name = {row.component.name: row for row in rows}
    assert [incident.title for incident in open_incidents] == ["Slow web app"]
    assert [update.message for update in open_incidents[0].public_updates] == ["Pages load slowly."]
    assert by_name["Web app"].state == "Partial outage"
    assert by_name["Sign-in"].state == "Operational"  # the critical one is internal
    # Sign-in lost 9 h to the old outage and is losing time to the internal critical one opened just now (0 s).
    assert by_name["Sign-in"].uptime_percent == pytest.approx(100 * (1 - 9 / (90 * 24)), abs=0.001)
    assert by_name["Sign-in"].uptime_source == "incident history"
    assert status_banner() == [{"id": public.pk, "title": "Slow web app", "severity": "major", "status": "identified"}]


def test_status_page_is_public_and_keeps_its_query_count(
    client, components, clock, providers, django_assert_max_num_queries
):
    for i in range(3):
        incidents.incident_open(title=f"Incident {i}", severity="minor", message="m", components=components.values())
    with django_assert_max_num_queries(8) as first:
        response = client.get("/status/")
    assert response.status_code == 200
    assert b"Incident 2" in response.content
    assert b"Degraded performance" in response.content
    for i in range(10):
        Component.objects.create(name=f"Extra {i}")
        incidents.incident_open(title=f"More {i}", severity="major", message="m", components=components.values())
    with django_assert_max_num_queries(len(first.captured_queries)):
        assert client.get("/status/").status_code == 200


def test_an_incident_from_a_page_is_opened_once(team, clock, providers):
    from tourbrain_support.oncall import paging

    page = paging.page_oncall(key="rule:clerk", severity="critical", title="Clerk unavailable", body="", url="")
    first = incidents.incident_open_from_page(page=page)
    assert incidents.incident_open_from_page(page=page).pk == first.pk
    assert first.severity == Incident.Severity.CRITICAL
    assert not first.is_public


def test_a_component_shows_its_probes_latest_state_without_an_incident(clock):
    from tourbrain_support.alerting.models import ProbeSample

    sync = Component.objects.create(name="Tour data sync", probe_name="demo-service")
    web = Component.objects.create(name="Web app", probe_name="vercel")
    now = timezone.now()

    # given the sync service's probe went down a minute ago, after being healthy, and the web app's is healthy
    ProbeSample.objects.create(probe="demo-service", status="healthy", sampled_at=now - timedelta(minutes=2))
    ProbeSample.objects.create(probe="demo-service", status="down", sampled_at=now - timedelta(minutes=1))
    ProbeSample.objects.create(probe="vercel", status="degraded", sampled_at=now - timedelta(minutes=30))  # stale
    ProbeSample.objects.create(probe="vercel", status="healthy", sampled_at=now - timedelta(minutes=1))

    # then the page says the sync is out, the web app operational
    by_name = {row.component.name: row for row in status_page()[0]}
    assert by_name[sync.name].state == "Major outage"
    assert by_name[web.name].state == "Operational"

    # when the service answers again, the next sample brings it back
    ProbeSample.objects.create(probe="demo-service", status="healthy", sampled_at=now)
    assert {row.component.name: row.state for row in status_page()[0]}[sync.name] == "Operational"

    # and a probe that fell silent (its last sample is stale) does not keep the outage on the page
    ProbeSample.objects.filter(probe="demo-service").delete()
    ProbeSample.objects.create(probe="demo-service", status="down", sampled_at=now - timedelta(minutes=20))
    assert {row.component.name: row.state for row in status_page()[0]}[sync.name] == "Operational"
