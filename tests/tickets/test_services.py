"""Ticket services: creation, conversation, clocks, assignment, status, priority, stale edits, bad input."""

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.core.files.uploadedfile import SimpleUploadedFile

from tests.factories import MembershipFactory, OrganizationFactory, UserFactory
from tests.tickets.factories import TicketFactory
from tickets import services
from tickets.models import Attachment, Ticket, TicketMessage
from tourbrain_support.api import ApplicationError
from tourbrain_support.models import Organization
from tourbrain_support.roles import Role

pytestmark = pytest.mark.django_db

# Monday 2 March 2026, 10:00 in London (GMT, no holiday): business hours 09:00-18:00 Mon-Fri.
MONDAY_10 = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)


def at(days: int = 0, hours: int = 0, minutes: int = 0) -> datetime:
    return MONDAY_10 + timedelta(days=days, hours=hours, minutes=minutes)


@pytest.fixture
def clock():
    with time_machine.travel(MONDAY_10, tick=False) as traveller:
        yield traveller


@pytest.fixture
def enterprise_user():
    organization = OrganizationFactory(plan=Organization.Plan.ENTERPRISE)
    return MembershipFactory(organization=organization).user


@pytest.fixture
def rep(make_user):
    return make_user(Role.SUPPORT_REP)


def snapshot(ticket: Ticket) -> dict:
    fresh = Ticket.objects.get(pk=ticket.pk)
    values = {field.attname: getattr(fresh, field.attname) for field in Ticket._meta.concrete_fields}
    values["messages"] = TicketMessage.objects.filter(ticket=ticket).count()
    values["attachments"] = Attachment.objects.filter(message__ticket=ticket).count()
    values["history"] = fresh.history.count()
    return values


def test_create_resolves_tier_routes_and_stores_due_times(clock, enterprise_user):
    # when an enterprise customer files a medium bug at 10:00 on a Monday
    ticket = services.ticket_create(
        requester=enterprise_user,
        organization=enterprise_user.organizations.first(),
        type="bug",
        priority="medium",
        subject="Export crashes",
        description="The PDF export fails.",
        channel="widget",
    )
    # then it is enterprise tier, routed to engineering, under policy v1, first response due at 11:00
    ticket.refresh_from_db()
    assert ticket.reference == f"TB-{ticket.pk:06d}"
    assert Ticket.objects.by_reference(ticket.reference).get() == ticket
    assert (ticket.tier, ticket.team, ticket.status) == ("enterprise", "engineering", "new")
    assert ticket.sla_policy.version == 1
    assert ticket.first_response_due_at == at(hours=1)
    assert ticket.next_due_at == at(hours=1)
    assert ticket.sla_warning_at == at(minutes=45)
    assert ticket.sla_state == "ok"
    assert not ticket.priority_queue
    assert ticket.history.count() == 1
    assert ticket.history.first().reference == ticket.reference


def test_create_writes_one_creation_history_row_equal_to_the_ticket(clock, enterprise_user):
    # when a ticket is filed (on PostgreSQL one statement inserts the ticket, its reference and this row)
    ticket = services.ticket_create(
        requester=enterprise_user,
        organization=enterprise_user.organizations.first(),
        type="question",
        priority="high",
        subject="Where is the rider?",
        description="The hospitality rider is missing.",
        browser_info="Firefox 133",
        url="https://app.tourbrain.ai/tours/7",
        channel="portal",
    )
    # then the instance returned is saved, and the history row says "created by the requester" with every
    # tracked value of the stored ticket
    assert not ticket._state.adding
    stored = Ticket.objects.get(pk=ticket.pk)
    assert stored.reference == ticket.reference == f"TB-{ticket.pk:06d}"
    (row,) = stored.history.all()
    assert (row.history_type, row.history_user, row.history_change_reason) == ("+", enterprise_user, "")
    assert row.history_date == MONDAY_10
    tracked = [field.attname for field in Ticket.history.model.tracked_fields]
    assert {name: getattr(row, name) for name in tracked} == {name: getattr(stored, name) for name in tracked}


def test_general_question_gets_eight_business_hours_and_beta_critical_bug_one_hour(clock):
    general = TicketFactory(type="question", priority="low")
    beta_user = UserFactory(is_beta=True)
    critical = TicketFactory(requester=beta_user, type="bug", priority="critical")
    assert (general.tier, general.team) == ("general", "support")
    assert general.first_response_due_at == at(hours=8)  # 10:00 + 480 business minutes = 18:00
    assert (critical.tier, critical.team, critical.priority_queue) == ("beta", "engineering", True)
    assert critical.first_response_due_at == at(hours=1)


def test_due_time_skips_the_night_and_the_weekend():
    with time_machine.travel(at(days=4, hours=7), tick=False):  # Friday 17:00
        ticket = TicketFactory(type="question", priority="medium")  # general: 480 minutes
    # 60 minutes on Friday, 420 on Monday from 09:00 -> Monday 16:00
    assert ticket.first_response_due_at == at(days=7, hours=6)


@pytest.mark.parametrize(("field", "value"), [("type", "complaint"), ("priority", "urgent"), ("channel", "fax")])
def test_unknown_enum_values_are_refused_with_the_allowed_values(clock, field, value):
    kwargs = {"type": "bug", "priority": "low", "channel": "portal", field: value}
    with pytest.raises(ApplicationError) as error:
        TicketFactory(**kwargs)
    assert error.value.code == "invalid_choice"
    assert value in error.value.message
    assert "Allowed values" in error.value.message
    assert field in error.value.fields
    assert not Ticket.objects.exists()


def test_first_staff_reply_stops_the_first_response_clock(clock, rep):
    ticket = TicketFactory(type="question", priority="medium")
    clock.move_to(at(minutes=30))
    services.ticket_reply(ticket=ticket, author=rep, body="Looking into it.", expected_version=ticket.version)
    ticket.refresh_from_db()
    assert ticket.first_responded_at == at(minutes=30)
    assert ticket.status == "open"
    assert ticket.next_due_at == ticket.resolution_due_at
    assert ticket.version == 1


def test_customer_reply_after_a_staff_reply_starts_the_next_response_clock(clock, rep):
    ticket = TicketFactory(type="question", priority="medium")
    services.ticket_reply(ticket=ticket, author=rep, body="Hi")
    clock.move_to(at(hours=1))
    services.ticket_reply(ticket=ticket, author=ticket.user, body="Still broken")
    ticket.refresh_from_db()
    assert ticket.next_response_due_at == at(days=1, hours=0)
    assert ticket.next_due_at == ticket.next_response_due_at
    services.ticket_reply(ticket=ticket, author=rep, body="Fixed")
    ticket.refresh_from_db()
    assert ticket.next_response_due_at is None


def test_reply_to_a_closed_ticket_is_refused_and_nothing_is_written(clock, rep):
    ticket = TicketFactory()
    services.ticket_set_status(ticket=ticket, status="closed", actor=rep)
    before = snapshot(ticket)
    for author in (ticket.user, rep):
        with pytest.raises(ApplicationError) as error:
            services.ticket_reply(ticket=ticket, author=author, body="Hello?")
        assert error.value.code == "ticket_closed"
    assert snapshot(ticket) == before


def test_stale_version_is_refused_and_nothing_is_written(clock, rep, make_user):
    ticket = TicketFactory()
    seen = ticket.version
    services.ticket_set_priority(ticket=ticket, priority="high", actor=make_user(Role.SUPPORT_LEAD))
    before = snapshot(ticket)
    with pytest.raises(ApplicationError) as error:
        services.ticket_set_status(ticket=ticket, status="pending", actor=rep, expected_version=seen)
    assert error.value.code == "stale"
    with pytest.raises(ApplicationError):
        services.ticket_reply(ticket=ticket, author=rep, body="x", expected_version=seen)
    assert snapshot(ticket) == before


def test_pause_and_resume_remove_the_paused_time(clock, enterprise_user, rep):
    # enterprise medium: first response 60 business minutes, due 11:00
    ticket = TicketFactory(requester=enterprise_user, organization=enterprise_user.organizations.first())
    clock.move_to(at(minutes=20))
    services.ticket_set_status(ticket=ticket, status="pending", actor=rep)
    ticket.refresh_from_db()
    assert (ticket.next_due_at, ticket.sla_warning_at, ticket.first_response_elapsed_minutes) == (None, None, 20)
    # resumed by the customer on Tuesday 17:50: 40 minutes left -> 10 on Tuesday, 30 on Wednesday -> 09:30
    clock.move_to(at(days=1, hours=7, minutes=50))
    services.ticket_reply(ticket=ticket, author=ticket.user, body="Here is the file")
    ticket.refresh_from_db()
    assert ticket.status == "open"
    assert ticket.first_response_due_at == at(days=2, hours=-1, minutes=30)
    assert ticket.next_due_at == ticket.first_response_due_at
    assert ticket.paused_at is None


def test_on_hold_then_open_resumes_all_clocks(clock, rep):
    ticket = TicketFactory(type="question", priority="medium")  # general: first 480, resolution 4320
    clock.move_to(at(hours=2))
    services.ticket_set_status(ticket=ticket, status="on_hold", actor=rep)
    clock.move_to(at(days=1, hours=2))  # a full business day later
    services.ticket_set_status(ticket=ticket, status="open", actor=rep)
    ticket.refresh_from_db()
    assert ticket.first_response_due_at == at(days=1, hours=8)  # 360 minutes left from Tue 12:00
    assert ticket.resolution_elapsed_minutes == 0


def test_customer_reply_reopens_a_solved_ticket_only_within_the_window(clock, rep, settings):
    settings.TICKET_REOPEN_WINDOW_DAYS = 3
    settings.TICKET_AUTO_CLOSE_DAYS = 30
    ticket = TicketFactory()
    services.ticket_reply(ticket=ticket, author=rep, body="Done")
    services.ticket_set_status(ticket=ticket, status="solved", actor=rep)
    clock.move_to(at(days=2))
    services.ticket_reply(ticket=ticket, author=ticket.user, body="It broke again")
    ticket.refresh_from_db()
    assert (ticket.status, ticket.solved_at) == ("open", None)
    assert ticket.next_due_at is not None
    services.ticket_set_status(ticket=ticket, status="solved", actor=rep)
    clock.move_to(at(days=6))
    before = snapshot(ticket)
    with pytest.raises(ApplicationError) as error:
        services.ticket_reply(ticket=ticket, author=ticket.user, body="Again")
    assert error.value.code == "reopen_window_passed"
    assert snapshot(ticket) == before


def test_solved_tickets_close_automatically(clock, rep, settings):
    settings.TICKET_AUTO_CLOSE_DAYS = 7
    old, recent = TicketFactory(), TicketFactory()
    services.ticket_set_status(ticket=old, status="solved", actor=rep)
    clock.move_to(at(days=5))
    services.ticket_set_status(ticket=recent, status="solved", actor=rep)
    clock.move_to(at(days=8))
    assert services.tickets_close_solved() == 1
    assert services.tickets_close_solved() == 0
    old.refresh_from_db()
    recent.refresh_from_db()
    assert (old.status, old.closed_at, recent.status) == ("closed", at(days=8), "solved")
    assert (old.history.first().status, old.history.first().history_change_reason) == ("closed", "Closed automatically")
    with pytest.raises(ApplicationError) as error:
        services.ticket_reply(ticket=old, author=old.user, body="Hello")
    assert error.value.code == "ticket_closed"


def test_priority_change_uses_the_tickets_own_policy_version(clock, enterprise_user, rep):
    ticket = TicketFactory(requester=enterprise_user, organization=enterprise_user.organizations.first())
    clock.move_to(at(minutes=10))
    services.ticket_set_priority(ticket=ticket, priority="critical", actor=rep)
    ticket.refresh_from_db()
    # enterprise critical: 30 minutes first response, 10 already used -> due 10:30
    assert ticket.first_response_due_at == at(minutes=30)
    assert ticket.priority == "critical"


def test_priority_change_never_moves_a_breached_clock_into_the_future(clock, rep):
    ticket = TicketFactory(type="question", priority="critical")  # general critical: 240 minutes
    clock.move_to(at(hours=5))
    services.ticket_set_priority(ticket=ticket, priority="low", actor=rep)
    ticket.refresh_from_db()
    assert ticket.first_response_due_at == at(hours=4)
    assert ticket.next_due_at <= at(hours=5)


def test_a_rep_may_claim_but_only_a_lead_assigns_others(clock, rep, make_user):
    ticket = TicketFactory()
    other = make_user(Role.SUPPORT_REP)
    with pytest.raises(ApplicationError) as error:
        services.ticket_assign(ticket=ticket, assignee=other, actor=rep)
    assert error.value.code == "forbidden"
    services.ticket_claim(ticket=ticket, actor=rep)
    with pytest.raises(ApplicationError) as error:
        services.ticket_claim(ticket=ticket, actor=other)
    assert error.value.code == "already_assigned"
    services.ticket_assign(ticket=ticket, assignee=other, actor=make_user(Role.SUPPORT_LEAD))
    ticket.refresh_from_db()
    assert ticket.assignee == other
    customer = UserFactory()
    with pytest.raises(ApplicationError) as error:
        services.ticket_assign(ticket=ticket, assignee=customer, actor=make_user(Role.SUPPORT_LEAD))
    assert error.value.code == "invalid_assignee"


def test_bulk_status_skips_closed_tickets_and_applies_the_rest(clock, rep):
    first, second, closed = TicketFactory(), TicketFactory(), TicketFactory()
    services.ticket_set_status(ticket=closed, status="closed", actor=rep)
    before = snapshot(closed)

    result = services.ticket_bulk_set_status(tickets=[first, second, closed], status="pending", actor=rep)

    assert [ticket.pk for ticket in result.updated] == [first.pk, second.pk]
    assert [(skip.reference, skip.reason) for skip in result.skipped] == [(closed.reference, "closed")]
    assert snapshot(closed) == before
    assert set(Ticket.objects.filter(pk__in=[first.pk, second.pk]).values_list("status", flat=True)) == {"pending"}


def test_bulk_status_back_to_new_changes_nothing(clock, rep):
    first, second = TicketFactory(), TicketFactory()
    services.ticket_set_status(ticket=second, status="open", actor=rep)
    before = [snapshot(ticket) for ticket in (first, second)]

    with pytest.raises(ApplicationError) as error:
        services.ticket_bulk_set_status(tickets=[first, second], status="new", actor=rep)

    assert error.value.code == "invalid_transition"
    assert [snapshot(ticket) for ticket in (first, second)] == before


def test_bulk_assign_by_a_lead(clock, make_user):
    lead, rep = make_user(Role.SUPPORT_LEAD), make_user(Role.SUPPORT_REP)
    tickets = TicketFactory.create_batch(3)
    assert len(services.ticket_bulk_assign(tickets=tickets, assignee=rep, actor=lead).updated) == 3
    assert Ticket.objects.filter(assignee=rep).count() == 3


def test_attachments_limits(clock, rep, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    settings.TICKET_ATTACHMENT_MAX_BYTES = 100
    settings.TICKET_ATTACHMENT_MAX_COUNT = 2
    ticket = TicketFactory()
    before = snapshot(ticket)
    cases = [
        ([SimpleUploadedFile("big.txt", b"x" * 101, content_type="text/plain")], "attachment_too_large"),
        ([SimpleUploadedFile("run.exe", b"MZ", content_type="application/octet-stream")], "attachment_type"),
        ([SimpleUploadedFile("fake.txt.exe", b"MZ", content_type="text/plain")], "attachment_type"),
        ([SimpleUploadedFile(f"{n}.txt", b"x", content_type="text/plain") for n in range(3)], "too_many_attachments"),
    ]
    for files, code in cases:
        with pytest.raises(ApplicationError) as error:
            services.ticket_reply(ticket=ticket, author=rep, body="See attached", attachments=files)
        assert error.value.code == code
        assert "attachments" in error.value.fields
    assert snapshot(ticket) == before
    ok = SimpleUploadedFile("log.txt", b"hello", content_type="text/plain")
    message = services.ticket_reply(ticket=ticket, author=rep, body="See attached", attachments=[ok])
    attachment = message.attachments.get()
    assert (attachment.filename, attachment.size, attachment.content_type) == ("log.txt", 5, "text/plain")
    assert attachment.file.read() == b"hello"


def test_internal_note_is_staff_only_and_does_not_touch_the_clocks(clock, rep):
    ticket = TicketFactory()
    services.ticket_add_note(ticket=ticket, author=rep, body="Probably the CDN")
    ticket.refresh_from_db()
    assert ticket.first_responded_at is None
    assert ticket.messages.get().is_internal
    with pytest.raises(ApplicationError) as error:
        services.ticket_add_note(ticket=ticket, author=ticket.user, body="I am not staff")
    assert error.value.code == "forbidden"


def test_a_stranger_cannot_reply(clock):
    ticket = TicketFactory()
    with pytest.raises(ApplicationError) as error:
        services.ticket_reply(ticket=ticket, author=UserFactory(), body="Hi")
    assert error.value.code == "forbidden"


def test_merge_duplicate_feature_requests(clock, make_user):
    pm = make_user(Role.PRODUCT_MANAGER)
    original, duplicate, third = TicketFactory.create_batch(3, type="feature_request")
    services.ticket_merge_duplicate(duplicate=third, original=duplicate, actor=pm)
    services.ticket_merge_duplicate(duplicate=duplicate, original=original, actor=pm)
    assert set(Ticket.objects.filter(duplicate_of=original).values_list("pk", flat=True)) == {duplicate.pk, third.pk}
    assert Ticket.objects.get(pk=duplicate.pk).status == "solved"
    bug = TicketFactory(type="bug")
    with pytest.raises(ApplicationError) as error:
        services.ticket_merge_duplicate(duplicate=bug, original=original, actor=pm)
    assert error.value.code == "not_feature_request"


def test_status_rules(clock, rep):
    ticket = TicketFactory()
    with pytest.raises(ApplicationError) as error:
        services.ticket_set_status(ticket=ticket, status="reopened", actor=rep)
    assert error.value.code == "invalid_choice"
    services.ticket_set_status(ticket=ticket, status="open", actor=rep)
    with pytest.raises(ApplicationError) as error:
        services.ticket_set_status(ticket=ticket, status="new", actor=rep)
    assert error.value.code == "invalid_transition"
    services.ticket_set_status(ticket=ticket, status="solved", actor=rep)
    ticket.refresh_from_db()
    assert (ticket.next_due_at, ticket.solved_at) == (None, at())
    services.ticket_set_status(ticket=ticket, status="closed", actor=rep)
    with pytest.raises(ApplicationError) as error:
        services.ticket_set_status(ticket=ticket, status="open", actor=rep)
    assert error.value.code == "ticket_closed"


def test_an_engineer_cannot_work_a_billing_ticket(clock, make_user):
    engineer = make_user(Role.ENGINEER)
    billing = TicketFactory(type="billing")
    bug = TicketFactory(type="bug")
    before = snapshot(billing)
    for call in (
        lambda: services.ticket_reply(ticket=billing, author=engineer, body="Hi"),
        lambda: services.ticket_add_note(ticket=billing, author=engineer, body="Hi"),
        lambda: services.ticket_claim(ticket=billing, actor=engineer),
        lambda: services.ticket_set_status(ticket=billing, status="pending", actor=engineer),
        lambda: services.ticket_set_priority(ticket=billing, priority="high", actor=engineer),
    ):
        with pytest.raises(ApplicationError) as error:
            call()
        assert error.value.code == "forbidden"
    assert snapshot(billing) == before
    services.ticket_claim(ticket=bug, actor=engineer)


def test_a_bad_url_is_refused(clock):
    with pytest.raises(ApplicationError) as error:
        TicketFactory(url="javascript:alert(1)")
    assert "url" in error.value.fields
    assert not Ticket.objects.exists()


def test_changes_are_audited_and_refused_changes_are_not(clock, rep):
    from audit.models import AuditEvent

    ticket = TicketFactory()
    created = AuditEvent.objects.get(resource_type="ticket", resource_id=str(ticket.pk))
    assert (created.action, created.changes["operation"]) == ("create", "create")
    services.ticket_reply(ticket=ticket, author=rep, body="Hello")
    services.ticket_set_status(ticket=ticket, status="pending", actor=rep)
    operations = list(
        AuditEvent.objects.filter(resource_type="ticket", resource_id=str(ticket.pk), action="update")
        .order_by("id")
        .values_list("changes__operation", flat=True)
    )
    assert operations == ["reply", "status"]
    count = AuditEvent.objects.count()
    with pytest.raises(ApplicationError):
        services.ticket_set_status(ticket=ticket, status="open", actor=rep, expected_version=0)
    assert AuditEvent.objects.count() == count
