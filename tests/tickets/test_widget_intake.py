"""Widget tickets accepted at once and filed moments later (`tickets/intake.py`, PostgreSQL): the promised
reference and clock start, idempotent retries before and after filing, reads that file a pending ticket,
refusals at the door, failures retried then left, the filing task's scheduling, concurrent filers."""

import threading
from datetime import timedelta

import pytest
from django.core.cache import cache
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection, connections
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from audit.gdpr import subject_erase
from audit.models import AuditEvent
from tests.celery_utils import eager_tasks
from tests.factories import UserFactory
from tests.widget_tokens import bearer, claims, hs256
from tickets import intake
from tickets.models import Ticket, TicketIntake, TicketMessage
from tourbrain_support.alerting.models import AlertRule
from tourbrain_support.alerting.sources import registered_sources
from tourbrain_support.models import ExternalIdentity
from tourbrain_support.roles import Role

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif("connection.vendor != 'postgresql'", reason="the id is taken from PostgreSQL's sequence"),
]
TICKETS = "/api/v1/widget/tickets/"
NEW_TICKET = {
    "type": "bug",
    "priority": "high",
    "description": "Export to PDF fails\nwith a blank page.",
    "url": "https://app.tourbrain.test/tours/7",
}


@pytest.fixture
def background(widget_settings):
    widget_settings.WIDGET_BACKGROUND_FILING = True
    cache.delete(intake.FILING_SCHEDULED_KEY)
    return widget_settings


def token(sub: str = "user_ana", **extra) -> dict:
    return bearer(hs256(claims(sub=sub, email=f"{sub}@customer.test", name=sub.title(), **extra)))


def create(client, auth: dict, data: dict | None = None, **headers):
    return client.post(TICKETS, data or NEW_TICKET, content_type="application/json", **auth, **headers)


def test_accepted_ticket_is_filed_with_the_promised_reference_due_time_and_clock_start(client, background):
    auth = token(org_id="org_band", org_name="The Band")
    with CaptureQueriesContext(connection) as queries:
        response = create(client, auth)
    assert response.status_code == 201, response.content
    body = response.json()
    assert not Ticket.objects.filter(reference=body["reference"]).exists()  # accepted, not filed yet
    statements = [query["sql"] or "" for query in queries.captured_queries]
    assert not any("INSERT INTO tickets_ticket " in sql or 'INSERT INTO "tickets_ticket"' in sql for sql in statements)
    accepted = TicketIntake.objects.get(reference=body["reference"])
    assert accepted.filed_at is None
    assert accepted.payload["description"] == NEW_TICKET["description"]

    assert intake.intake_file_pending() == 1

    ticket = Ticket.objects.get(reference=body["reference"])
    assert ticket.pk == accepted.ticket_id
    assert ticket.created_at == accepted.accepted_at  # the clocks start when the customer pressed send
    assert ticket.first_response_due_at.isoformat().replace("+00:00", "Z") == body["first_response_due_at"]
    assert (ticket.channel, ticket.type, ticket.priority) == ("widget", "bug", "high")
    assert ticket.subject == body["subject"] == "Export to PDF fails"
    assert ticket.url == NEW_TICKET["url"]
    assert ticket.user == ExternalIdentity.objects.get(subject="user_ana").user
    assert ticket.organization.name == "The Band"
    event = AuditEvent.objects.get(resource_type="ticket", resource_id=str(ticket.pk), action="create")
    assert event.actor_id == ticket.user_id
    accepted.refresh_from_db()
    assert accepted.filed_at is not None
    assert accepted.payload == {}
    assert intake.intake_file_pending() == 0  # a rerun files nothing twice
    assert Ticket.objects.filter(pk=accepted.ticket_id).count() == 1


def test_the_accept_is_one_write_and_a_fixed_number_of_queries(client, background, django_assert_max_num_queries):
    auth = token()
    create(client, auth)  # the customer's first call creates them; measure a known customer's request
    with CaptureQueriesContext(connection) as queries:
        assert create(client, auth).status_code == 201
    statements = [query["sql"] or "" for query in queries.captured_queries]
    writes = [sql for sql in statements if sql.lstrip().startswith(("INSERT", "UPDATE", "DELETE", "WITH"))]
    assert len(writes) == 1
    assert "tickets_ticketintake" in writes[0]
    for number in range(3):  # the same for each further ticket, with or without a key
        with django_assert_max_num_queries(len(statements)):
            assert create(client, auth, {**NEW_TICKET, "description": f"Another one {number}"}).status_code == 201
    with django_assert_max_num_queries(len(statements)):
        assert create(client, auth, HTTP_IDEMPOTENCY_KEY="k-1").status_code == 201


def test_a_retry_gets_the_first_answer_before_and_after_filing(client, background):
    auth = token()
    first = create(client, auth, HTTP_IDEMPOTENCY_KEY="submit-1")
    again = create(client, auth, HTTP_IDEMPOTENCY_KEY="submit-1")
    assert (first.status_code, again.status_code) == (201, 201)
    assert again.json() == first.json()
    assert TicketIntake.objects.count() == 1

    intake.intake_file_pending()
    after = create(client, auth, HTTP_IDEMPOTENCY_KEY="submit-1")
    assert (after.status_code, after.json()) == (201, first.json())
    assert Ticket.objects.count() == 1

    changed = create(client, auth, {**NEW_TICKET, "priority": "low"}, HTTP_IDEMPOTENCY_KEY="submit-1")
    assert changed.status_code == 422
    assert changed.json()["error"]["code"] == "idempotency_key_reused"
    # The same key from another customer is theirs alone.
    other = create(client, token("user_bo"), HTTP_IDEMPOTENCY_KEY="submit-1")
    assert other.status_code == 201
    assert other.json()["reference"] != first.json()["reference"]


def test_reading_or_replying_files_the_customers_pending_ticket_first(client, background):
    auth = token()
    reference = create(client, auth).json()["reference"]

    detail = client.get(f"{TICKETS}{reference}/", **auth)
    assert detail.status_code == 200, detail.content
    assert detail.json()["reference"] == reference
    assert detail.json()["description"].startswith("Export to PDF")

    second = create(client, auth, {**NEW_TICKET, "description": "Second question"}).json()["reference"]
    listed = client.get(TICKETS, **auth)
    assert [row["reference"] for row in listed.json()["results"]] == [second, reference]

    third = create(client, auth, {**NEW_TICKET, "description": "Third"}).json()["reference"]
    reply = client.post(f"{TICKETS}{third}/messages/", {"body": "More detail"}, content_type="application/json", **auth)
    assert reply.status_code == 201, reply.content
    assert TicketMessage.objects.filter(ticket__reference=third, body="More detail").exists()
    assert not TicketIntake.objects.filter(filed_at__isnull=True).exists()


def test_another_customers_pending_ticket_stays_a_404(client, background):
    reference = create(client, token("user_ana")).json()["reference"]
    response = client.get(f"{TICKETS}{reference}/", **token("user_bo"))
    assert response.status_code == 404
    assert TicketIntake.objects.get(reference=reference).filed_at is None  # not filed by a stranger's request


def test_the_list_keeps_its_query_count_with_background_filing(client, background, django_assert_max_num_queries):
    auth = token()
    create(client, auth)
    client.get(TICKETS, **auth)  # files it
    with CaptureQueriesContext(connection) as queries:
        assert client.get(TICKETS, **auth).status_code == 200
    one_ticket = len(queries.captured_queries)  # read now: every request clears the connection's query log
    for number in range(5):
        create(client, auth, {**NEW_TICKET, "description": f"Question {number}"})
    intake.intake_file_pending()
    with django_assert_max_num_queries(one_ticket):
        response = client.get(TICKETS, **auth)
    assert len(response.json()["results"]) == 6


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"description": "   "}, "description"),
        ({"subject": "x" * 201}, "subject"),
        ({"url": "javascript:alert(1)"}, "url"),
        ({"url": "ftp://files.example.test/notes"}, "url"),  # the serializer allows it, the ticket checks do not
        ({"type": "complaint"}, "type"),
        ({"browser_info": "b" * 501}, "browser_info"),
    ],
)
def test_bad_input_is_refused_at_the_door_and_nothing_is_stored(client, background, change, field):
    response = create(client, token(), {**NEW_TICKET, **change})
    assert response.status_code == 400, response.content
    assert field in response.json()["error"]["fields"]
    assert not TicketIntake.objects.exists()


def test_files_are_filed_within_the_request(client, background):
    upload = SimpleUploadedFile("notes.txt", b"steps to reproduce", content_type="text/plain")
    response = client.post(TICKETS, {**NEW_TICKET, "attachments": [upload]}, **token())
    assert response.status_code == 201, response.content
    assert Ticket.objects.filter(reference=response.json()["reference"]).exists()
    assert not TicketIntake.objects.exists()


def test_a_filing_that_fails_is_retried_then_left_and_the_others_are_filed(client, background):
    auth = token()
    bad = TicketIntake.objects.get(reference=create(client, auth).json()["reference"])
    good = create(client, auth, {**NEW_TICKET, "description": "Fine"}).json()["reference"]
    # A payload filing refuses (as if the ticket types had changed since it was accepted).
    TicketIntake.objects.filter(pk=bad.pk).update(payload={**bad.payload, "type": "retired-type"})

    assert intake.intake_file_pending() == 1
    assert Ticket.objects.filter(reference=good).exists()
    bad.refresh_from_db()
    assert (bad.filed_at, bad.attempts) == (None, 1)
    assert "retired-type" in bad.last_error

    for _ in range(intake.MAX_ATTEMPTS + 2):
        intake.intake_file_pending()
    bad.refresh_from_db()
    assert bad.attempts == intake.MAX_ATTEMPTS
    assert bad.filed_at is None
    assert client.get(TICKETS, **auth).status_code == 200  # the customer's reads are not blocked by it


def test_accepting_schedules_the_filing_task_once_per_window(client, background, django_capture_on_commit_callbacks):
    auth = token()
    with eager_tasks(), django_capture_on_commit_callbacks(execute=True):
        reference = create(client, auth).json()["reference"]
    assert Ticket.objects.filter(reference=reference).exists()  # the task ran (inline) and filed it

    cache.add(intake.FILING_SCHEDULED_KEY, 1, timeout=60)  # a task was published moments ago
    with eager_tasks(), django_capture_on_commit_callbacks(execute=True):
        waiting = create(client, auth, {**NEW_TICKET, "description": "Later"}).json()["reference"]
    assert not Ticket.objects.filter(reference=waiting).exists()  # left to the task already on its way
    assert intake.intake_file_pending() == 1
    assert cache.get(intake.FILING_SCHEDULED_KEY) is None  # the next acceptance schedules again


@pytest.mark.django_db(transaction=True)
def test_two_filers_at_once_file_each_ticket_once(background):
    client = Client()
    auth = token()
    references = [
        create(client, auth, {**NEW_TICKET, "description": f"Ticket {number}"}).json()["reference"]
        for number in range(30)
    ]
    barrier, results, errors = threading.Barrier(2), [], []

    def filer():
        try:
            barrier.wait()
            results.append(intake.intake_file_batch(limit=20))
        except Exception as error:
            errors.append(error)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=filer) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors, errors
    # Each filer skips the rows the other holds: together they file all 30, none twice.
    assert sum(results) == 30, results
    assert max(results) <= 20, results
    assert sorted(Ticket.objects.values_list("reference", flat=True)) == sorted(references)


def test_erasing_the_customer_drops_their_unfiled_ticket(client, background):
    auth = token()
    create(client, auth)
    filed = create(client, auth, {**NEW_TICKET, "description": "Filed one"}).json()["reference"]
    client.get(f"{TICKETS}{filed}/", **auth)  # files both
    pending = create(client, auth, {**NEW_TICKET, "description": "Sent just before the erasure"}).json()["reference"]
    other = create(client, token("user_bo")).json()["reference"]
    person = ExternalIdentity.objects.get(subject="user_ana").user

    summary = subject_erase(user=person, actor=UserFactory(is_staff=True, is_superuser=True))

    assert summary["tickets.ticketintake"] == 3
    assert not TicketIntake.objects.filter(requester=person).exists()
    intake.intake_file_pending()
    assert not Ticket.objects.filter(reference=pending).exists()  # never filed after the erasure
    assert Ticket.objects.filter(reference=other).exists()  # someone else's is filed as usual


def _exhausted(client, auth, description: str) -> TicketIntake:
    reference = create(client, auth, {**NEW_TICKET, "description": description}).json()["reference"]
    row = TicketIntake.objects.get(reference=reference)
    TicketIntake.objects.filter(pk=row.pk).update(
        payload={**row.payload, "type": "retired-type"}, attempts=TicketIntake.MAX_ATTEMPTS, last_error="InvalidType"
    )
    return row


def test_staff_see_unfiled_tickets_in_the_admin_and_retry_them(client, background, make_user):
    auth = token()
    failed = _exhausted(client, auth, "Left after five failures")
    TicketIntake.objects.filter(pk=failed.pk).update(payload={**failed.payload, "type": "bug"})  # cause fixed
    pending = create(client, auth, {**NEW_TICKET, "description": "Waiting"}).json()["reference"]
    admin_user = make_user(Role.ADMIN)
    staff = Client()
    staff.force_login(admin_user)
    page = "/admin/tickets/ticketintake/"

    listed = staff.get(page, {"state": "failed"})
    assert listed.status_code == 200
    assert failed.reference in listed.content.decode()
    assert pending not in listed.content.decode()

    response = staff.post(page, {"action": "retry", "_selected_action": [failed.pk]})
    assert response.status_code == 302
    assert Ticket.objects.filter(reference=failed.reference).exists()
    failed.refresh_from_db()
    assert failed.filed_at is not None
    assert failed.attempts == 0
    event = AuditEvent.objects.get(resource_type="ticket_intake", resource_id=str(failed.pk))
    assert event.actor_id == admin_user.pk
    assert event.changes["operation"] == "retry_filing"
    # A support lead may not see what customers wrote before it is a ticket.
    lead = Client()
    lead.force_login(make_user(Role.SUPPORT_LEAD))
    assert lead.get(page).status_code == 403


def test_the_alert_source_counts_tickets_left_unfiled(client, background):
    source = registered_sources()["tickets.widget_tickets_unfiled"].function
    window = timedelta(minutes=5)
    assert source(window, timezone.now()).value == 0
    auth = token()
    create(client, auth)
    assert source(window, timezone.now()).value == 0  # just accepted: the worker has 5 minutes
    later = timezone.now() + timedelta(minutes=6)
    value = source(window, later)
    assert value.value == 1
    assert value.annotations["pending"] == "1"
    assert value.annotations["url"].endswith("/admin/tickets/ticketintake/")
    _exhausted(client, auth, "Failed one")
    assert source(window, timezone.now()).value == 1  # a failed one counts at once
    intake.intake_file_pending()
    assert source(window, later).value == 1  # the pending one is filed; the failed one stays until retried
    rule = AlertRule.objects.get(name="WidgetTicketsNotFiled")
    assert (rule.source, rule.window, rule.enabled) == ("tickets.widget_tickets_unfiled", window, True)
