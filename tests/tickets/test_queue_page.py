"""The rep queue at /queue/: scope by role, filters, saved views, order, paging, SLA marks and actions."""

import re
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.utils import timezone

from tests.tickets.factories import TicketFactory
from tickets.models import SavedView, Ticket
from tourbrain_support.roles import Role

pytestmark = pytest.mark.django_db

# A Wednesday inside business hours in London (the default calendar's zone).
WEDNESDAY_10AM = datetime(2026, 3, 4, 10, 0, tzinfo=UTC)


def _rows(response) -> list[str]:
    return [row.ticket.reference for row in response.context["rows"]]


def _selected(*tickets: Ticket) -> dict:
    """The bulk form's checkboxes plus the version each row was rendered with."""
    return {"ticket": [t.pk for t in tickets], **{f"version_{t.pk}": t.version for t in tickets}}


def test_queue_needs_a_queue_role(client, client_as):
    # Given no login, then a customer, an auditor and a product manager
    assert client.get("/queue/").status_code == 302
    for role in (None, Role.AUDITOR, Role.PRODUCT_MANAGER):
        # When they open the queue / Then it is refused
        assert client_as(role).get("/queue/").status_code == 403


def test_reps_see_every_team_engineers_and_billing_admins_their_own(client_as):
    bug = TicketFactory(type=Ticket.Type.BUG)
    billing = TicketFactory(type=Ticket.Type.BILLING)
    question = TicketFactory(type=Ticket.Type.QUESTION)

    assert set(_rows(client_as(Role.SUPPORT_REP).get("/queue/"))) == {
        bug.reference,
        billing.reference,
        question.reference,
    }
    assert _rows(client_as(Role.ENGINEER).get("/queue/")) == [bug.reference]
    assert _rows(client_as(Role.BILLING_ADMIN).get("/queue/")) == [billing.reference]


def test_queue_is_sorted_by_next_due_time_and_hides_solved(client_as_rep):
    now = timezone.now()
    later = TicketFactory(next_due_at=now + timedelta(hours=5))
    sooner = TicketFactory(next_due_at=now + timedelta(minutes=30))
    paused = TicketFactory(status=Ticket.Status.PENDING, next_due_at=None)
    TicketFactory(status=Ticket.Status.SOLVED, next_due_at=None)

    response = client_as_rep.get("/queue/")

    assert _rows(response) == [sooner.reference, later.reference, paused.reference]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("status=pending", "pending"),
        ("team=engineering", "bug"),
        ("tier=enterprise", "enterprise"),
        ("priority=critical", "critical"),
        ("sla_state=breached", "breached"),
        ("sla_state=warning", "warning"),
        ("assignee=me", "mine"),
        ("q=printer", "search"),
        ("type=billing", "billing"),
    ],
)
def test_each_filter_narrows_the_queue(client_as_rep, query, expected):
    rep = client_as_rep.user
    tickets = {
        "pending": TicketFactory(status=Ticket.Status.PENDING),
        "bug": TicketFactory(type=Ticket.Type.BUG),
        "enterprise": TicketFactory(tier="enterprise"),
        "critical": TicketFactory(priority=Ticket.Priority.CRITICAL),
        "breached": TicketFactory(sla_state="breached"),
        "warning": TicketFactory(sla_state="warning"),
        "mine": TicketFactory(assignee=rep),
        "search": TicketFactory(subject="The printer export is blank"),
        "billing": TicketFactory(type=Ticket.Type.BILLING),
    }

    response = client_as_rep.get(f"/queue/?{query}")

    assert response.status_code == 200
    assert _rows(response) == [tickets[expected].reference]


def test_unassigned_filter_and_search_by_reference(client_as_rep):
    taken = TicketFactory(assignee=client_as_rep.user)
    free = TicketFactory()

    assert _rows(client_as_rep.get("/queue/?assignee=unassigned")) == [free.reference]
    assert _rows(client_as_rep.get(f"/queue/?q={taken.reference}")) == [taken.reference]


def test_unknown_filter_values_are_form_errors(client_as_rep):
    TicketFactory()

    response = client_as_rep.get("/queue/?status=exploded&assignee=bob")

    assert response.status_code == 400
    body = response.content.decode()
    assert "Some filters are not valid" in body
    assert "exploded" in body
    assert "Allowed values: me, unassigned" in body
    assert response.context["rows"] == []


def test_breached_and_warning_rows_are_marked_with_text(client_as_rep):
    with time_machine.travel(WEDNESDAY_10AM, tick=False):
        breached = TicketFactory(created_at=WEDNESDAY_10AM - timedelta(days=2))
        Ticket.objects.filter(pk=breached.pk).update(sla_state="breached")
        warning = TicketFactory(sla_state="warning")

        body = client_as_rep.get("/queue/").content.decode()

    breached_row = body[body.index(f'data-reference="{breached.reference}"') - 40 :]
    assert 'class="sla-breached"' in breached_row[:60]
    assert "Breached" in breached_row[: breached_row.index("</tr>")]
    assert "overdue" in breached_row[: breached_row.index("</tr>")]
    warning_row = body[body.index(f'data-reference="{warning.reference}"') - 40 :]
    assert 'class="sla-warning"' in warning_row[:60]
    assert "Warning" in warning_row[: warning_row.index("</tr>")]


def test_countdown_is_in_business_time(client_as_rep):
    # Given a general-tier medium question created Friday 17:00 London (one business hour left that day)
    friday_5pm = datetime(2026, 3, 6, 17, 0, tzinfo=UTC)
    with time_machine.travel(friday_5pm, tick=False):
        ticket = TicketFactory()
    # When the rep looks on Saturday (closed): the remaining time is business time, not wall-clock time
    with time_machine.travel(friday_5pm + timedelta(days=1), tick=False):
        response = client_as_rep.get("/queue/")
    row = response.context["rows"][0]
    assert row.ticket == ticket
    # 480 business minutes, one hour of which passed on Friday: 7 hours left (wall-clock: 47 hours)
    assert row.remaining_minutes == 420
    assert "7h 00m left" in response.content.decode()
    assert row.due_label == "first response"


def test_pages_without_counting_every_row(client_as_rep, django_assert_max_num_queries):
    TicketFactory.create_batch(53)

    first = client_as_rep.get("/queue/")
    second = client_as_rep.get("/queue/?page=2")

    assert len(first.context["rows"]) == 50
    assert first.context["has_next"] is True
    assert 'rel="next"' in first.content.decode()
    assert len(second.context["rows"]) == 3
    assert second.context["has_next"] is False
    assert 'rel="prev"' in second.content.decode()


def test_builtin_views_my_open_and_breaching_soon(client_as_rep):
    rep = client_as_rep.user
    mine = TicketFactory(assignee=rep)
    soon = TicketFactory(sla_state="warning")
    TicketFactory(next_due_at=timezone.now() + timedelta(days=3))

    assert _rows(client_as_rep.get("/queue/?view=my_open")) == [mine.reference]
    assert soon.reference in _rows(client_as_rep.get("/queue/?view=breaching_soon"))
    assert mine.reference not in _rows(client_as_rep.get("/queue/?view=breaching_soon"))
    body = client_as_rep.get("/queue/").content.decode()
    assert "My open" in body
    assert "Breaching soon" in body


def test_a_rep_saves_and_deletes_a_named_view(client_as_rep, make_user, client):
    # When the rep saves the current filters under a name
    response = client_as_rep.post(
        "/queue/views/", {"name": "Enterprise critical", "query": "tier=enterprise&priority=critical"}
    )
    # Then it is stored for them and the queue opens with those filters
    view = SavedView.objects.get(owner=client_as_rep.user)
    assert view.filters == {"tier": "enterprise", "priority": "critical"}
    assert response.status_code == 302
    assert "tier=enterprise" in response.url
    page = client_as_rep.get("/queue/")
    assert "Enterprise critical" in page.content.decode()
    # And another rep does not see it, nor may delete it
    other = make_user(Role.SUPPORT_REP)
    client.force_login(other)
    assert "Enterprise critical" not in client.get("/queue/").content.decode()
    assert client.post(f"/queue/views/{view.pk}/delete/").status_code == 404
    client.force_login(client_as_rep.user)
    client.post(f"/queue/views/{view.pk}/delete/")
    assert not SavedView.objects.exists()


def test_saving_a_view_with_invalid_filters_saves_nothing(client_as_rep):
    response = client_as_rep.post("/queue/views/", {"name": "Bad", "query": "tier=platinum"}, follow=True)

    assert not SavedView.objects.exists()
    assert "The view was not saved" in response.content.decode()


def test_claim_from_the_queue(client_as_rep):
    ticket = TicketFactory()

    response = client_as_rep.post("/queue/claim/", {"ticket_id": ticket.pk, "next": "/queue/?tier=general"})

    assert response.status_code == 302
    assert response.url == "/queue/?tier=general"
    ticket.refresh_from_db()
    assert ticket.assignee == client_as_rep.user


def test_claiming_a_ticket_someone_owns_is_refused_with_a_message(client_as_rep, make_user):
    owner = make_user(Role.SUPPORT_REP)
    ticket = TicketFactory(assignee=owner)

    response = client_as_rep.post("/queue/claim/", {"ticket_id": ticket.pk}, follow=True)

    assert "already assigned" in response.content.decode()
    ticket.refresh_from_db()
    assert ticket.assignee == owner


def test_lead_bulk_assigns_and_bulk_sets_status(client_as, make_user):
    lead_client = client_as(Role.SUPPORT_LEAD)
    rep = make_user(Role.SUPPORT_REP)
    first, second, untouched = TicketFactory.create_batch(3)

    lead_client.post("/queue/bulk/", {**_selected(first, second), "action": "assign", "assignee": rep.pk})
    first.refresh_from_db()
    second.refresh_from_db()
    response = lead_client.post(
        "/queue/bulk/", {**_selected(first, second), "action": "status", "status": "pending"}, follow=True
    )

    assert "Set 2 of 2 selected ticket(s) to Pending" in response.content.decode()
    assert {t.assignee_id for t in Ticket.objects.filter(pk__in=[first.pk, second.pk])} == {rep.pk}
    assert set(Ticket.objects.filter(pk__in=[first.pk, second.pk]).values_list("status", flat=True)) == {"pending"}
    untouched.refresh_from_db()
    assert untouched.assignee is None


def test_bulk_errors_are_clear_and_change_nothing(client_as):
    engineer_client = client_as(Role.ENGINEER)
    bug = TicketFactory(type=Ticket.Type.BUG)
    billing = TicketFactory(type=Ticket.Type.BILLING)

    nothing = engineer_client.post("/queue/bulk/", {"action": "status", "status": "pending"}, follow=True)
    missing_status = engineer_client.post("/queue/bulk/", {**_selected(bug), "action": "status"}, follow=True)
    outside = engineer_client.post(
        "/queue/bulk/", {**_selected(bug, billing), "action": "status", "status": "pending"}, follow=True
    )

    assert "Select at least one ticket." in nothing.content.decode()
    assert "Choose the new status." in missing_status.content.decode()
    assert "nothing was changed" in outside.content.decode()
    assert set(Ticket.objects.values_list("status", flat=True)) == {"new"}


def test_a_rep_may_not_bulk_assign_to_someone_else(client_as_rep, make_user):
    other = make_user(Role.SUPPORT_REP)
    tickets = TicketFactory.create_batch(2)

    response = client_as_rep.post(
        "/queue/bulk/", {**_selected(*tickets), "action": "assign", "assignee": other.pk}, follow=True
    )

    assert "Nothing was changed" in response.content.decode()
    assert not Ticket.objects.filter(assignee__isnull=False).exists()


def test_actions_need_csrf(client_as_rep):
    from django.test import Client

    ticket = TicketFactory()
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(client_as_rep.user)

    assert strict.post("/queue/claim/", {"ticket_id": ticket.pk}).status_code == 403


@pytest.mark.parametrize("rows", [5, 60])
def test_queue_query_count_is_constant(client_as_rep, django_assert_max_num_queries, rows):
    rep = client_as_rep.user
    for index in range(rows):
        TicketFactory(assignee=rep if index % 2 else None, sla_state="warning" if index % 3 else "ok")
    SavedView.objects.create(owner=rep, name="Mine", filters={"assignee": "me"})

    with django_assert_max_num_queries(8):
        response = client_as_rep.get("/queue/")
    with django_assert_max_num_queries(8):
        filtered = client_as_rep.get("/queue/?assignee=me&sla_state=warning&q=subject")

    # then every row was rendered: the queue's first page, and exactly the rep's tickets in warning
    assert response.status_code == 200
    assert filtered.status_code == 200
    active = Ticket.objects.order_by("next_due_at", "id")
    expected_page = [ticket.reference for ticket in active[:50]]
    assert re.findall(r'data-reference="(TB-\d+)"', response.content.decode()) == expected_page
    mine_in_warning = {t.reference for t in active.filter(assignee=rep, sla_state="warning")}
    assert mine_in_warning
    assert set(re.findall(r'data-reference="(TB-\d+)"', filtered.content.decode())) == mine_in_warning


@pytest.mark.parametrize(
    ("page", "message"),
    [
        ("-1", "Pages start at 1."),
        ("0", "Pages start at 1."),
        ("201", "Pages go up to 200; narrow the filters to see older tickets."),
        ("99999999999999999999999", "Pages go up to 200; narrow the filters to see older tickets."),
        ("two", "Enter a whole number."),
    ],
)
def test_a_page_number_out_of_range_is_a_form_error(client_as_rep, django_assert_max_num_queries, page, message):
    TicketFactory.create_batch(3)

    with django_assert_max_num_queries(8):
        response = client_as_rep.get("/queue/", {"page": page, "priority": "high"})

    assert response.status_code == 400
    body = response.content.decode()
    assert f"Page: {message}" in body
    assert response.context["rows"] == []
    # the other filters are kept in the form
    assert '<option value="high" selected>' in body


def test_the_last_allowed_page_is_a_page(client_as_rep):
    TicketFactory.create_batch(2)

    response = client_as_rep.get("/queue/", {"page": "200"})

    assert response.status_code == 200
    assert response.context["rows"] == []
    assert response.context["page_number"] == 200


@pytest.mark.parametrize("rows", [4, 40])
def test_solved_tickets_show_their_csat_rating_at_a_constant_query_count(
    client_as_rep, django_assert_max_num_queries, rows
):
    from tickets.models import TicketSatisfaction

    solved = [TicketFactory(status=Ticket.Status.SOLVED, next_due_at=None) for _ in range(rows)]
    for index, ticket in enumerate(solved[:-1]):  # the last one was not rated
        TicketSatisfaction.objects.create(ticket=ticket, score=index % 5 + 1, solved_at=timezone.now())

    with django_assert_max_num_queries(8):
        response = client_as_rep.get("/queue/?status=solved")

    ratings = {view["reference"]: view["csat"] for view in response.context["row_views"]}
    assert ratings == {
        ticket.reference: (index % 5 + 1 if index < rows - 1 else None) for index, ticket in enumerate(solved)
    }
    html = response.content.decode()
    assert html.count('class="badge csat') == rows - 1
    # A low rating (1-2) stands out.
    assert html.count('class="badge csat csat-low"') == sum(1 for index in range(rows - 1) if index % 5 + 1 <= 2)
    assert f'title="Customer satisfaction rating of the solve">CSAT {solved[0].satisfaction.score}/5</span>' in html
