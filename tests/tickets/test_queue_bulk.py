"""Bulk assign / bulk status from the queue: each row carries its version; stale and closed tickets are skipped."""

import threading
import time

import pytest
from django.db import connection, transaction

from audit.models import AuditEvent
from tests.tickets.factories import TicketFactory
from tickets import services
from tickets.models import Ticket
from tourbrain_support.roles import Role

pytestmark = pytest.mark.django_db


def _rendered_versions(client) -> dict[int, int]:
    """What the queue page put in the form: ticket id -> version."""
    return {row["pk"]: row["version"] for row in client.get("/queue/").context["row_views"]}


def _post(client, versions: dict[int, int], ids: list[int], **data):
    body = {"ticket": ids, **{f"version_{pk}": versions[pk] for pk in ids}, **data}
    return client.post("/queue/bulk/", body, follow=True)


def _messages(response) -> list[str]:
    return [str(message) for message in response.context["messages"]]


def _bulk_audits(ticket: Ticket, operation: str) -> int:
    return AuditEvent.objects.filter(
        resource_type="ticket", resource_id=str(ticket.pk), changes__operation=operation, changes__bulk=True
    ).count()


@pytest.fixture
def lead_client(client_as):
    return client_as(Role.SUPPORT_LEAD)


def test_each_row_carries_the_version_it_was_rendered_with(client_as_rep):
    ticket = TicketFactory()
    services.ticket_set_priority(ticket=ticket, priority="high", actor=client_as_rep.user)
    ticket.refresh_from_db()

    body = client_as_rep.get("/queue/").content.decode()

    assert f'name="version_{ticket.pk}" value="{ticket.version}"' in body
    assert ticket.version >= 1


def test_a_ticket_changed_after_the_page_was_rendered_is_skipped_not_overwritten(lead_client, make_user):
    rep, other = make_user(Role.SUPPORT_REP), make_user(Role.SUPPORT_REP)
    changed, untouched = TicketFactory(), TicketFactory()
    versions = _rendered_versions(lead_client)
    # Someone else assigns one of them between render and submit
    services.ticket_assign(ticket=changed, assignee=other, actor=make_user(Role.SUPPORT_LEAD))

    response = _post(lead_client, versions, [changed.pk, untouched.pk], action="assign", assignee=rep.pk)

    changed.refresh_from_db()
    untouched.refresh_from_db()
    assert changed.assignee == other
    assert untouched.assignee == rep
    assert _messages(response) == [
        f"Assigned 1 of 2 selected ticket(s) to {rep}.",
        f"Skipped 1 (changed by someone else after you loaded the queue; reload to see the change): "
        f"{changed.reference}.",
    ]
    assert (_bulk_audits(untouched, "assign"), _bulk_audits(changed, "assign")) == (1, 0)


def test_bulk_status_skips_stale_and_closed_tickets_and_lists_why(lead_client):
    stale, closed, same, fine = TicketFactory.create_batch(4)
    lead = lead_client.user
    services.ticket_set_status(ticket=closed, status="closed", actor=lead)
    services.ticket_set_status(ticket=same, status="pending", actor=lead)
    versions = _rendered_versions(lead_client) | _versions(closed)
    services.ticket_set_priority(ticket=stale, priority="critical", actor=lead)

    response = _post(lead_client, versions, [stale.pk, closed.pk, same.pk, fine.pk], action="status", status="pending")

    statuses = dict(Ticket.objects.values_list("pk", "status"))
    assert statuses == {stale.pk: "new", closed.pk: "closed", same.pk: "pending", fine.pk: "pending"}
    messages = _messages(response)
    assert messages[0] == "Set 1 of 4 selected ticket(s) to Pending (waiting on customer)."
    assert "Skipped 1 (changed by someone else after you loaded the queue; reload to see the change): " in (messages[1])
    assert stale.reference in messages[1]
    assert messages[2] == f"Skipped 1 (closed tickets cannot be changed): {closed.reference}."
    assert messages[3] == f"Skipped 1 (already Pending (waiting on customer)): {same.reference}."
    assert _bulk_audits(fine, "status") == 1
    assert _bulk_audits(stale, "status") == _bulk_audits(closed, "status") == 0


def _versions(*tickets: Ticket) -> dict[int, int]:
    return dict(Ticket.objects.filter(pk__in=[t.pk for t in tickets]).values_list("pk", "version"))


def test_bulk_assign_skips_closed_tickets(lead_client, make_user):
    rep = make_user(Role.SUPPORT_REP)
    closed, open_ticket = TicketFactory(), TicketFactory()
    services.ticket_set_status(ticket=closed, status="closed", actor=lead_client.user)

    response = _post(
        lead_client, _versions(closed, open_ticket), [closed.pk, open_ticket.pk], action="assign", assignee=rep.pk
    )

    assert list(Ticket.objects.filter(assignee=rep).values_list("pk", flat=True)) == [open_ticket.pk]
    assert f"Skipped 1 (closed tickets cannot be changed): {closed.reference}." in _messages(response)


@pytest.mark.parametrize("versions", [{}, {"version_{pk}": "abc"}, {"version_{pk}": "-1"}, {"version_{pk}": "9" * 40}])
def test_a_submit_without_versions_changes_nothing(lead_client, make_user, versions):
    rep = make_user(Role.SUPPORT_REP)
    ticket = TicketFactory()
    body = {key.format(pk=ticket.pk): value for key, value in versions.items()}

    response = lead_client.post(
        "/queue/bulk/", {"ticket": [ticket.pk], "action": "assign", "assignee": rep.pk, **body}, follow=True
    )

    assert any("reload the queue" in message for message in _messages(response))
    ticket.refresh_from_db()
    assert ticket.assignee is None


def test_moving_back_to_new_is_not_offered_and_is_refused(lead_client):
    ticket = TicketFactory()
    services.ticket_set_status(ticket=ticket, status="open", actor=lead_client.user)

    page = lead_client.get("/queue/")
    response = _post(lead_client, _versions(ticket), [ticket.pk], action="status", status="new")

    assert '<option value="new">' not in page.content.decode().split('id="bulk-status"')[1].split("</select>")[0]
    assert "Nothing was changed: A ticket cannot be moved back to New." in _messages(response)
    ticket.refresh_from_db()
    assert ticket.status == "open"


def test_a_long_skip_list_is_shortened(lead_client):
    tickets = TicketFactory.create_batch(23)
    versions = {ticket.pk: ticket.version + 1 for ticket in tickets}  # every one stale

    response = _post(lead_client, versions, [t.pk for t in tickets], action="status", status="pending")

    messages = _messages(response)
    assert messages[0] == "Set 0 of 23 selected ticket(s) to Pending (waiting on customer)."
    assert messages[1].startswith("Skipped 23 (changed by someone else")
    assert messages[1].endswith("and 3 more.")


# --- PostgreSQL: a change committed while the bulk action waits for the row lock ----------------------


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(connection.vendor != "postgresql", reason="concurrent writers need a server database")
def test_a_ticket_changed_while_the_bulk_action_waits_is_not_overwritten(client, make_user):
    """The version check happens under the row lock: a concurrent change that commits first wins."""
    lead, rep = make_user(Role.SUPPORT_LEAD), make_user(Role.SUPPORT_REP)
    contested, free = TicketFactory(), TicketFactory()
    client.force_login(lead)
    versions = _rendered_versions(client)
    holding, release = threading.Event(), threading.Event()
    errors: list[BaseException] = []
    outcome = {}

    def other_rep_sets_pending():
        try:
            with transaction.atomic():
                services.ticket_set_status(
                    ticket=contested, status="pending", actor=rep, expected_version=versions[contested.pk]
                )
                holding.set()
                release.wait(10)
        except BaseException as error:  # surfaced by the test
            errors.append(error)
        finally:
            connection.close()

    def lead_bulk_solves():
        try:
            outcome["response"] = _post(client, versions, [contested.pk, free.pk], action="status", status="solved")
        except BaseException as error:
            errors.append(error)
        finally:
            connection.close()

    other = threading.Thread(target=other_rep_sets_pending)
    other.start()
    assert holding.wait(10)
    bulk = threading.Thread(target=lead_bulk_solves)
    bulk.start()
    _wait_for_lock_wait()
    release.set()
    other.join(10)
    bulk.join(10)

    assert errors == []
    statuses = dict(Ticket.objects.values_list("pk", "status"))
    assert statuses == {contested.pk: "pending", free.pk: "solved"}
    messages = _messages(outcome["response"])
    assert messages[0] == "Set 1 of 2 selected ticket(s) to Solved."
    assert contested.reference in messages[1]
    assert "changed by someone else" in messages[1]


def _wait_for_lock_wait(timeout: float = 10.0) -> None:
    """Until another session of this database waits on a row lock (the bulk action behind the first writer)."""
    deadline = time.monotonic() + timeout
    with connection.cursor() as cursor:
        while time.monotonic() < deadline:
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()"
            )
            if cursor.fetchone()[0]:
                return
            time.sleep(0.02)
    raise AssertionError("the bulk action never waited for the row lock")
