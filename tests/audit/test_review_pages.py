"""The activity-log review: auditors and admins only, filters, keyset paging, detail, streamed audited export."""

import csv
import io
import json
from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

from audit.models import AuditEvent
from audit.services import audit_record
from tests.factories import OrganizationFactory
from tourbrain_support.roles import Role

pytestmark = pytest.mark.django_db


def _events(n, **fields):
    defaults = {"actor": None, "action": "update", "resource_type": "ticket", "resource_id": "1"}
    return [audit_record(**{**defaults, **fields}) for _ in range(n)]


@pytest.mark.parametrize("role", [Role.AUDITOR, Role.ADMIN])
def test_auditors_and_admins_see_the_log(client_as, role):
    _events(3)
    response = client_as(role).get("/audit/?resource_type=ticket")
    assert response.status_code == 200
    assert response.content.decode().count('href="/audit/events/') == 3


@pytest.mark.parametrize("role", [Role.SUPPORT_REP, Role.SUPPORT_LEAD, Role.PRODUCT_MANAGER, None])
def test_other_roles_are_refused(client_as, role):
    assert client_as(role).get("/audit/").status_code == 403
    assert client_as(role).get("/audit/export.csv").status_code == 403


def test_anonymous_is_sent_to_login(client):
    response = client.get("/audit/")
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


def test_filters_by_actor_org_action_resource_success_and_time(client_as, make_user):
    # given events that differ in one dimension each
    auditor = client_as(Role.AUDITOR)
    alice = make_user(email="alice@example.test")
    org = OrganizationFactory()
    wanted = audit_record(
        actor=alice, action="export", resource_type="ticket", resource_id="42", organization=org, success=False
    )
    audit_record(actor=alice, action="export", resource_type="ticket", resource_id="43", organization=org)
    audit_record(actor=None, action="update", resource_type="ticket", resource_id="42")
    since = (timezone.now() - timedelta(minutes=5)).strftime("%Y-%m-%dT%H:%M")
    # when filtering by everything at once, then only the one event is listed
    query = (
        f"?actor=alice@example.test&organization={org.pk}&action=export&resource_type=ticket"
        f"&resource_id=42&success=no&since={since}"
    )
    body = auditor.get("/audit/" + query).content.decode()
    assert f'href="/audit/events/{wanted.pk}/"' in body
    assert body.count('href="/audit/events/') == 1
    # and by actor id (the link a user page uses) and by resource (the link a ticket page uses)
    assert auditor.get(f"/audit/?actor={alice.pk}&action=export").content.decode().count('href="/audit/events/') == 2
    by_ticket = auditor.get("/audit/?resource_type=ticket&resource_id=42").content.decode()
    assert by_ticket.count('href="/audit/events/') == 2
    # an unknown email matches nothing rather than everything
    assert auditor.get("/audit/?actor=nobody@example.test").content.decode().count('href="/audit/events/') == 0


def test_bad_filter_shows_a_form_error(client_as):
    response = client_as(Role.AUDITOR).get("/audit/?since=yesterday&organization=abc")
    assert response.status_code == 200
    assert "Enter a valid date/time" in response.content.decode()


def test_keyset_pages_walk_the_whole_log_with_a_constant_query_count(client_as, django_assert_max_num_queries):
    # given 120 events (page size 50)
    auditor = client_as(Role.AUDITOR)
    ids = [e.pk for e in _events(120)]
    seen = []
    url = "/audit/?resource_type=ticket"
    # when following "Older" links, then each page costs the same few queries and no row repeats
    for _ in range(3):
        with django_assert_max_num_queries(8):
            response = auditor.get(url)
        page = response.context["page"]
        seen += [e.pk for e in page.events]
        if page.next_before is None:
            break
        url = f"/audit/?resource_type=ticket&before={page.next_before}"
    assert seen == sorted(ids, reverse=True)
    # and "Newer" from the last page returns to the middle page
    back = auditor.get(f"/audit/?resource_type=ticket&after={page.events[0].pk}").context["page"]
    assert [e.pk for e in back.events] == sorted(ids, reverse=True)[50:100]


def test_page_queries_do_not_grow_with_rows(client_as, django_assert_max_num_queries, make_user):
    auditor = client_as(Role.AUDITOR)
    users = [make_user() for _ in range(5)]
    orgs = [OrganizationFactory() for _ in range(5)]
    for user, org in zip(users, orgs, strict=True):
        _events(12, actor=user, organization=org)
    with django_assert_max_num_queries(8):
        response = auditor.get("/audit/")
    assert len(response.context["page"].events) == 50


def test_event_detail_shows_changes_and_personal_data(client_as, make_user, rf):
    auditor = client_as(Role.AUDITOR)
    actor = make_user(email="bob@example.test")
    request = rf.get("/", REMOTE_ADDR="192.0.2.44", HTTP_USER_AGENT="probe/1.0")
    event = audit_record(
        actor=actor,
        action="update",
        resource_type="ticket",
        resource_id="7",
        changes={"status": ["open", "solved"]},
        request=request,
    )
    response = auditor.get(f"/audit/events/{event.pk}/")
    body = response.content.decode()
    assert response.status_code == 200
    assert "solved" in body
    assert "192.0.2.44" in body
    assert "bob@example.test" in body
    assert auditor.get("/audit/events/999999/").status_code == 404


@pytest.mark.parametrize("fmt", ["csv", "json"])
def test_export_streams_the_filtered_set_and_is_audited(client_as, fmt):
    # given 30 ticket events and 5 others
    auditor = client_as(Role.AUDITOR)
    _events(30, resource_id="9")
    _events(5, resource_type="article")
    # when exporting the ticket events
    response = auditor.get(f"/audit/export.{fmt}?resource_type=ticket&resource_id=9")
    assert response.status_code == 200
    assert response.streaming
    body = b"".join(response.streaming_content).decode()
    rows = list(csv.DictReader(io.StringIO(body))) if fmt == "csv" else json.loads(body)
    # then exactly the filtered rows come out, newest first
    assert len(rows) == 30
    assert {row["resource_type"] for row in rows} == {"ticket"}
    assert int(rows[0]["id"]) > int(rows[-1]["id"])
    # and the export itself is an audit event naming the format and filters
    export = AuditEvent.objects.filter(action="export", resource_type="audit_event").latest("id")
    assert export.actor_id == auditor.user.pk
    assert export.changes["format"] == fmt
    assert export.changes["filters"] == {"resource_type": "ticket", "resource_id": "9"}


def test_export_rejects_bad_filters_and_unknown_formats(client_as):
    auditor = client_as(Role.AUDITOR)
    assert auditor.get("/audit/export.csv?since=nonsense").status_code == 400
    assert auditor.get("/audit/export.xml").status_code == 404
    assert not AuditEvent.objects.filter(action="export").exists()


def test_auditor_cannot_write_anything(client_as, make_user):
    from audit.gdpr import dsr_create

    auditor = client_as(Role.AUDITOR)
    dsr = dsr_create(kind="access", subject_email=make_user().email)
    assert (
        auditor.post("/audit/gdpr/requests/new/", {"kind": "access", "subject_email": "x@example.test"}).status_code
        == 403
    )
    assert auditor.post(f"/audit/gdpr/requests/{dsr.pk}/", {"status": "verifying"}).status_code == 403
    assert auditor.get(f"/audit/gdpr/requests/{dsr.pk}/export.json").status_code == 403
    assert auditor.post("/audit/", {}).status_code in (403, 405)
    dsr.refresh_from_db()
    assert dsr.status == "received"


def test_time_range_pages_follow_the_clock(client_as):
    # given events written in an order that differs from their timestamps (a backfill)
    auditor = client_as(Role.AUDITOR)
    base = timezone.now() - timedelta(days=3)
    stamps = [base + timedelta(minutes=m) for m in (5, 1, 4, 2, 3) * 24]
    events = []
    for n, at in enumerate(stamps):
        with time_machine.travel(at + timedelta(seconds=n), tick=False):
            events.append(audit_record(actor=None, action="update", resource_type="ticket", resource_id="5"))
    since = (base - timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M")
    until = (base + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M")
    url = f"/audit/?since={since}&until={until}"
    # when walking the pages older and then newer again
    first = auditor.get(url).context["page"]
    second = auditor.get(f"{url}&before={first.next_before}").context["page"]
    third = auditor.get(f"{url}&before={second.next_before}").context["page"]
    back = auditor.get(f"{url}&after={third.previous_after}").context["page"]
    # then every event appears once, newest timestamp first, and "Newer" returns the middle page
    walked = first.events + second.events + third.events
    assert third.next_before is None
    assert len(walked) == 120
    assert len({e.pk for e in walked}) == 120
    assert [e.occurred_at for e in walked] == sorted((e.occurred_at for e in events), reverse=True)
    assert [e.pk for e in back.events] == [e.pk for e in second.events]


def test_resource_id_needs_its_type(client_as):
    response = client_as(Role.AUDITOR).get("/audit/?resource_id=42")
    assert "Choose the resource type to look up a resource id." in response.content.decode()


def test_events_of_a_deleted_organization_stay_visible(client_as):
    auditor = client_as(Role.AUDITOR)
    org = OrganizationFactory()
    audit_record(actor=None, action="update", resource_type="ticket", resource_id="1", organization=org)
    org_id = org.pk
    org.delete()
    page = auditor.get(f"/audit/?organization={org_id}").context["page"]
    assert len(page.events) == 1
    assert page.events[0].organization is None
