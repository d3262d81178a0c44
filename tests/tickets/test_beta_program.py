"""Beta program: the dedicated rep takes new tickets while available, every beta ticket joins the priority
queue, tickets and public replies reach the organization's own Slack channel (real HTTP server), and the
weekly call is an .ics invite (icalendar) emailed through the outbox (real SMTP) and shown on the portal,
on the rep's ticket page and in the widget's me/."""

from datetime import UTC, datetime, time, timedelta

import pytest
from django.test import Client
from icalendar import Calendar

from tests.factories import MembershipFactory, OrganizationFactory, UserFactory
from tests.tickets.factories import TicketFactory
from tests.widget_tokens import bearer, claims, hs256, widget_settings  # noqa: F401 - fixture
from tickets import beta, services
from tickets.models import BetaSupportProfile, RoutingRule, Team, Ticket
from tourbrain_support.models import Organization
from tourbrain_support.notifications.models import OutboxMessage
from tourbrain_support.roles import Role

pytestmark = pytest.mark.django_db

HOSTILE = "<!channel> <https://evil.test|click me> & <script>x</script>"


@pytest.fixture
def rep(make_user):
    return make_user(Role.SUPPORT_REP, name="Rita Rep", email="rita@tourbrain.test")


@pytest.fixture
def beta_org():
    return OrganizationFactory(name="Roadcase Touring")


@pytest.fixture
def beta_customer(beta_org):
    return MembershipFactory(organization=beta_org, user=UserFactory(name="Bo Beta", is_beta=True)).user


@pytest.fixture
def profile(beta_org, rep):
    return BetaSupportProfile.objects.create(
        organization=beta_org,
        dedicated_rep=rep,
        call_weekday=1,
        call_time=time(16, 0),
        call_timezone="America/New_York",
        screen_share_available=True,
    )


def _file(customer, organization, **fields):
    return TicketFactory(requester=customer, organization=organization, **fields)


def test_new_tickets_go_to_the_dedicated_rep_while_available(profile, beta_customer, beta_org, rep, make_user):
    # given the support team assigns in turn among other members
    other = make_user(Role.SUPPORT_REP)
    team = Team.objects.get(slug="support")
    team.round_robin = True
    team.save()
    team.members.set([other])

    # then the beta organization's ticket goes to its rep, whatever team it is routed to
    assert _file(beta_customer, beta_org, type="question").assignee == rep
    assert _file(beta_customer, beta_org, type="bug").assignee == rep
    # and another organization's ticket is routed as usual
    assert TicketFactory(type="question").assignee == other

    # when the rep is away, the ticket is routed as today
    rep.is_available = False
    rep.save()
    assert _file(beta_customer, beta_org, type="question").assignee == other
    # and a profile switched off changes nothing either
    rep.is_available = True
    rep.save()
    BetaSupportProfile.objects.filter(pk=profile.pk).update(is_active=False)
    assert _file(beta_customer, beta_org, type="question").assignee == other


def test_every_beta_ticket_joins_the_priority_queue_as_the_rule_says(beta_customer, beta_org):
    low = _file(beta_customer, beta_org, priority="low")
    assert (low.tier, low.priority_queue) == ("beta", True)
    assert TicketFactory(priority="low").priority_queue is False
    # a lead narrows the rule back to critical tickets: it applies at once
    RoutingRule.objects.filter(tier="beta", priority_queue=True).update(priority="critical")
    assert _file(beta_customer, beta_org, priority="low").priority_queue is False
    assert _file(beta_customer, beta_org, priority="critical").priority_queue is True


def test_tickets_and_public_replies_are_posted_to_the_organizations_channel(
    profile, beta_customer, beta_org, rep, http_server, celery_eager, django_capture_on_commit_callbacks
):
    # given the organization's own incoming webhook (the default Slack stays unset)
    profile.slack_webhook_url = http_server.url("/services/beta/roadcase")
    profile.save()

    # when a ticket is filed, the rep replies, the customer answers and the rep adds an internal note
    with django_capture_on_commit_callbacks(execute=True):
        ticket = _file(beta_customer, beta_org, subject="Export broken", description=f"It fails {HOSTILE}")
    with django_capture_on_commit_callbacks(execute=True):
        services.ticket_reply(ticket=ticket, author=rep, body="Looking into it now.")
    with django_capture_on_commit_callbacks(execute=True):
        services.ticket_reply(ticket=ticket, author=beta_customer, body=f"Thanks {HOSTILE}")
    with django_capture_on_commit_callbacks(execute=True):
        services.ticket_add_note(ticket=ticket, author=rep, body="Internal: probably the CDN")

    # then three posts reached that webhook, none with the note, customer text shown literally
    posts = [request.json()["text"] for request in http_server.requests]
    assert [request.path for request in http_server.requests] == ["/services/beta/roadcase"] * 3
    assert ticket.reference in posts[0]
    assert "Rita Rep" in posts[0]  # assigned to the dedicated rep
    assert "Looking into it now." in posts[1]
    assert all("CDN" not in post for post in posts)
    assert "&lt;!channel&gt;" in posts[2]
    assert "<!channel>" not in "".join(posts)
    assert "<https://evil.test|" not in "".join(posts)
    rows = OutboxMessage.objects.filter(recipient=f"beta:{profile.pk}")
    assert sorted(rows.values_list("kind", flat=True)) == ["beta.reply", "beta.reply", "beta.ticket"]
    assert set(rows.values_list("status", flat=True)) == {"sent"}


def test_no_webhook_means_no_slack_rows(profile, beta_customer, beta_org, rep):
    ticket = _file(beta_customer, beta_org)
    services.ticket_reply(ticket=ticket, author=rep, body="Hi")
    assert not OutboxMessage.objects.filter(channel="slack").exists()


def test_a_webhook_removed_before_delivery_fails_the_row_without_posting(
    profile, beta_customer, beta_org, http_server, celery_eager, django_capture_on_commit_callbacks
):
    profile.slack_webhook_url = http_server.url("/hook")
    profile.save()
    _file(beta_customer, beta_org)  # written, not yet delivered (no commit in this test transaction)
    BetaSupportProfile.objects.filter(pk=profile.pk).update(slack_webhook_url="")
    from tourbrain_support.notifications.outbox import outbox_deliver_due

    outbox_deliver_due()
    row = OutboxMessage.objects.get(kind="beta.ticket")
    assert row.status == OutboxMessage.Status.FAILED
    assert "no Slack webhook" in row.last_error
    assert http_server.requests == []


def test_next_call_is_exact_across_a_daylight_saving_change(profile):
    # Friday 6 March 2026; New York moves to summer time on Sunday 8 March
    now = datetime(2026, 3, 6, 12, 0, tzinfo=UTC)
    start = beta.beta_next_call(profile, now=now)
    assert start.isoformat() == "2026-03-10T16:00:00-04:00"
    assert start.astimezone(UTC).hour == 20
    # during the call it is still "the next call"; after it, next week's
    during = datetime(2026, 3, 10, 20, 10, tzinfo=UTC)
    assert beta.beta_next_call(profile, now=during) == start
    assert beta.beta_next_call(profile, now=during + timedelta(minutes=30)).date().isoformat() == "2026-03-17"


def test_ics_is_a_weekly_request_in_the_customers_time_zone(profile, beta_customer):
    ics = beta.beta_call_ics(profile, attendees=[profile.dedicated_rep, beta_customer])
    calendar = Calendar.from_ical(ics)
    assert calendar["method"] == "REQUEST"
    event = next(iter(calendar.walk("VEVENT")))
    assert event["rrule"]["FREQ"] == ["WEEKLY"]
    assert event["rrule"]["BYDAY"] == ["TU"]
    assert event["dtstart"].params["TZID"] == "America/New_York"
    assert event.decoded("dtstart").hour == 16
    assert event.decoded("duration") == timedelta(minutes=30)
    assert {str(attendee) for attendee in event["attendee"]} == {
        "mailto:rita@tourbrain.test",
        f"mailto:{beta_customer.email}",
    }
    assert str(event["organizer"]) == "mailto:rita@tourbrain.test"
    assert [zone["tzid"] for zone in calendar.walk("VTIMEZONE")] == ["America/New_York"]


def test_call_invites_are_emailed_once_per_version_of_the_call(
    profile, beta_customer, beta_org, smtp_server, celery_eager, django_capture_on_commit_callbacks
):
    staff_member = MembershipFactory(organization=beta_org).user  # customers only: no staff in the list
    with django_capture_on_commit_callbacks(execute=True):
        sent = beta.beta_call_invites_send(profile=profile)
    recipients = sorted(message.recipient for message in sent)
    assert recipients == sorted(["rita@tourbrain.test", beta_customer.email, staff_member.email])
    # each email carries the .ics, delivered through real SMTP
    received = {message.rcpt_tos[0]: message.message for message in smtp_server.messages}
    attachment = next(received[beta_customer.email].iter_attachments())
    assert attachment.get_content_type() == "text/calendar"
    assert attachment.get_filename() == "beta-call.ics"
    assert "RRULE:FREQ=WEEKLY;BYDAY=TU" in attachment.get_content()

    # saving again sends nothing; a new time sends the update
    assert beta.beta_call_invites_send(profile=profile) == []
    profile.call_time = time(17, 30)
    profile.save()
    assert len(beta.beta_call_invites_send(profile=profile)) == 3


def test_invites_are_sent_from_the_admin_when_a_lead_saves_the_profile(client_as, beta_org, rep, beta_customer):
    client = client_as(Role.SUPPORT_LEAD)
    response = client.post(
        "/admin/tickets/betasupportprofile/add/",
        {
            "organization": beta_org.pk,
            "is_active": "on",
            "dedicated_rep": rep.pk,
            "screen_share_available": "on",
            "slack_channel": "#tourbrain-beta-users",
            "slack_webhook_url": "https://hooks.slack.test/services/T/B/X",
            "call_weekday": "3",
            "call_time": "15:00",
            "call_timezone": "Europe/Berlin",
            "call_duration_minutes": "45",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    assert OutboxMessage.objects.filter(kind="beta.call_invite").count() == 2


@pytest.mark.parametrize(
    ("field", "value"),
    [("call_timezone", "Mars/Olympus"), ("slack_webhook_url", "javascript:alert(1)"), ("call_time", "")],
)
def test_admin_refuses_a_bad_profile(client_as, beta_org, field, value):
    data = {
        "organization": beta_org.pk,
        "is_active": "on",
        "slack_channel": "#beta",
        "call_weekday": "3",
        "call_time": "15:00",
        "call_timezone": "Europe/Berlin",
        "call_duration_minutes": "30",
        field: value,
    }
    response = client_as(Role.SUPPORT_LEAD).post("/admin/tickets/betasupportprofile/add/", data)
    assert response.status_code == 200  # the form again, with the error
    assert not BetaSupportProfile.objects.exists()


def test_portal_shows_the_next_call_and_serves_the_ics(
    profile, beta_customer, make_user, django_assert_max_num_queries
):
    client = Client()
    client.force_login(beta_customer)
    html = client.get("/portal/").content.decode()
    assert 'data-testid="beta-block"' in html
    assert "Every Tuesday at 16:00 (America/New_York)" in html
    assert "Rita Rep" in html
    with django_assert_max_num_queries(4):
        response = client.get("/portal/beta/call.ics")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/calendar")
    assert "BEGIN:VEVENT" in response.content.decode()
    # a customer of no beta organization has no block and no calendar
    other = Client()
    other.force_login(make_user(None))
    assert 'data-testid="beta-block"' not in other.get("/portal/").content.decode()
    assert other.get("/portal/beta/call.ics").status_code == 404


def test_rep_sees_screen_sharing_on_the_ticket_page(
    profile, beta_customer, beta_org, client_as, django_assert_max_num_queries
):
    ticket = _file(beta_customer, beta_org)
    client = client_as(Role.SUPPORT_REP)
    with django_assert_max_num_queries(14):  # the ticket page's own bound (test_ticket_page)
        response = client.get(f"/queue/{ticket.reference}/")
    html = response.content.decode()
    assert 'data-testid="screen-share">Available' in html
    assert "Rita Rep" in html
    plain = TicketFactory()
    assert 'data-testid="beta-support"' not in client.get(f"/queue/{plain.reference}/").content.decode()


def test_widget_me_carries_the_beta_block(client, widget_settings):  # noqa: F811 - fixture
    token = hs256(claims(sub="user_beta", email="bo@roadcase.test", org_id="org_rc", org_name="Roadcase", beta=True))
    first = client.get("/api/v1/widget/me/", **bearer(token))
    assert first.status_code == 200
    assert first.json()["beta"] is None
    organization = Organization.objects.get(name="Roadcase")
    BetaSupportProfile.objects.create(
        organization=organization, call_weekday=0, call_time=time(10, 0), call_timezone="Europe/London"
    )
    block = client.get("/api/v1/widget/me/", **bearer(token)).json()["beta"]
    assert block["priority_queue"] is True
    assert block["slack_channel"] == "#tourbrain-beta-users"
    assert block["weekly_call"]["weekday"] == "Monday"
    assert block["weekly_call"]["ics_url"] == "/portal/beta/call.ics"
    assert "slack_webhook_url" not in block
    assert Ticket.objects.count() == 0


def test_profile_admin_page_links_the_organization_and_rep_only_for_those_who_may_open_them(profile, client_as):
    # given a beta profile (its organization and dedicated rep: admin pages only admins may open)
    linked = (
        f"/admin/tourbrain_support/organization/{profile.organization.pk}/change/",
        f"/admin/tourbrain_support/user/{profile.dedicated_rep.pk}/change/",
    )

    # when a rep (view only: every field is read-only) opens the profile's admin page
    page = client_as(Role.SUPPORT_REP).get(f"/admin/tickets/betasupportprofile/{profile.pk}/change/")

    # then the organization and the rep are shown as text, not as links to pages that would answer 403
    assert page.status_code == 200
    assert "Roadcase Touring" in page.content.decode()
    assert "Rita Rep" in page.content.decode()
    assert [url for url in linked if url in page.content.decode()] == []
