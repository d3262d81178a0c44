"""Widget tickets accepted at once and filed moments later (`tickets/intake.py`, PostgreSQL): the promised
reference, due time and clock start; idempotent retries before and after filing and across both ways of filing;
reads that file a pending ticket (widget and portal); refusals at the door; failures retried with a delay,
then left for staff; the filing task's scheduling; filers that skip each other's rows and never deadlock;
erasure; the admin's retry and discard; the alert source."""

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
from tests.prepared_statements import prepared_statement_runs
from tests.widget_tokens import bearer, claims, hs256
from tickets import intake
from tickets.models import Ticket, TicketIdempotencyKey, TicketIntake, TicketMessage
from tourbrain_support.alerting.models import AlertRule
from tourbrain_support.alerting.sources import registered_sources
from tourbrain_support.models import ExternalIdentity, Organization
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
def background(widget_settings, monkeypatch):
    widget_settings.WIDGET_BACKGROUND_FILING = True
    cache.delete(intake.FILING_SCHEDULED_KEY)
    monkeypatch.setattr(intake, "_recent_policy", None)  # this test's SLA version, not an earlier test's
    return widget_settings


def token(sub: str = "user_ana", **extra) -> dict:
    return bearer(hs256(claims(sub=sub, email=f"{sub}@customer.test", name=sub.title(), **extra)))


def create(client, auth: dict, data: dict | None = None, **headers):
    return client.post(TICKETS, data or NEW_TICKET, content_type="application/json", **auth, **headers)


def _accepted(client, auth, description: str = "Export to PDF fails", **headers) -> TicketIntake:
    response = create(client, auth, {**NEW_TICKET, "description": description}, **headers)
    assert response.status_code == 201, response.content
    return TicketIntake.objects.get(reference=response.json()["reference"])


def test_accepted_ticket_is_filed_with_the_promised_reference_due_time_and_clock_start(client, background):
    auth = token(org_id="org_band", org_name="The Band")
    with CaptureQueriesContext(connection) as queries:
        response = create(client, auth)
    assert response.status_code == 201, response.content
    body = response.json()
    statements = [query["sql"] or "" for query in queries.captured_queries]
    assert not any('INSERT INTO "tickets_ticket"' in sql or "INSERT INTO tickets_ticket " in sql for sql in statements)
    assert not Ticket.objects.filter(reference=body["reference"]).exists()  # accepted, not filed yet
    accepted = TicketIntake.objects.get(reference=body["reference"])
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
    assert not TicketIntake.objects.exists()  # what the customer wrote lives on the ticket now
    assert intake.intake_file_pending() == 0  # a rerun files nothing twice
    assert Ticket.objects.filter(pk=accepted.ticket_id).count() == 1


def test_filing_a_known_customers_ticket_reads_their_pseudonym_with_the_intake(client, background):
    auth = token(org_id="org_band", org_name="The Band")
    policies = {}  # one filing run: the SLA version is read once
    _accepted(client, auth, "First export fails")
    assert intake.intake_file_next(policies) is True
    _accepted(client, auth, "Second export fails")

    with CaptureQueriesContext(connection) as queries:
        assert intake.intake_file_next(policies) is True

    statements = [query["sql"] or "" for query in queries.captured_queries]
    read_alone = [sql for sql in statements if sql.partition(" FROM ")[2].startswith('"audit_auditsubject"')]
    assert not read_alone  # it came with the claimed intake
    # BEGIN, claim, routing rules, beta profile, team, ticket (one statement with its history and outbox rows),
    # audit event, suggestion outcome, DELETE of the intake, COMMIT.
    assert len(statements) <= 10, "\n".join(statements)
    ticket = Ticket.objects.get(subject="Second export fails")
    event = AuditEvent.objects.get(resource_type="ticket", resource_id=str(ticket.pk), action="create")
    assert event.actor_subject == ticket.user.audit_subject.subject_id


def test_the_tickets_creation_is_audited_under_the_request_that_sent_it(client, background):
    auth = token()
    sent = create(client, auth, HTTP_X_REQUEST_ID="req-sent-by-the-widget")
    assert sent.status_code == 201, sent.content
    sent_too = create(client, auth, {**NEW_TICKET, "description": "Another one"})
    # the customer's next read files both; the worker would file them the same way
    read = client.get(TICKETS, **auth, HTTP_X_REQUEST_ID="req-of-the-read")
    assert read.status_code == 200
    for answer in (sent, sent_too):
        ticket = Ticket.objects.get(reference=answer.json()["reference"])
        event = AuditEvent.objects.get(resource_type="ticket", resource_id=str(ticket.pk), action="create")
        assert event.request_id == answer["X-Request-ID"]
    assert sent["X-Request-ID"] == "req-sent-by-the-widget"


def test_the_filed_ticket_keeps_the_promise_when_the_tier_changes_before_filing(client, background):
    auth = token(org_id="org_band", org_name="The Band", plan="starter")
    body = create(client, auth, {**NEW_TICKET, "priority": "low"}).json()
    Organization.objects.filter(name="The Band").update(plan="enterprise")  # enterprise promises far sooner

    intake.intake_file_pending()

    ticket = Ticket.objects.get(reference=body["reference"])
    assert ticket.tier == "general"
    assert ticket.first_response_due_at.isoformat().replace("+00:00", "Z") == body["first_response_due_at"]
    later = create(client, auth, {**NEW_TICKET, "priority": "low"}).json()
    assert (
        later["first_response_due_at"] < body["first_response_due_at"]
        or later["first_response_promise"] != (body["first_response_promise"])
    )  # the change is real: a ticket sent now is promised the enterprise target


def test_the_accept_is_one_write_with_or_without_a_key(client, background, django_assert_max_num_queries):
    auth = token()
    create(client, auth)  # the customer's first call creates them; measure a known customer's request

    def writes(**headers) -> tuple[list[str], int]:
        with CaptureQueriesContext(connection) as queries:
            assert create(client, auth, **headers).status_code == 201
        statements = [query["sql"] or "" for query in queries.captured_queries]
        changed = [sql for sql in statements if sql.lstrip().startswith(("INSERT", "UPDATE", "DELETE", "WITH"))]
        return changed, len(statements)

    without_key, count = writes()
    assert len(without_key) == 1
    assert "tickets_ticketintake" in without_key[0]
    with_key, count_with_key = writes(HTTP_IDEMPOTENCY_KEY="k-0")
    assert len(with_key) == 1  # the key with its answer, and the intake, in one statement
    assert "tickets_ticketidempotencykey" in with_key[0]
    assert "tickets_ticketintake" in with_key[0]
    assert count_with_key == count  # no transaction of its own: one statement either way
    for number in range(1, 4):  # the same for every further ticket
        with django_assert_max_num_queries(count_with_key):
            assert create(client, auth, HTTP_IDEMPOTENCY_KEY=f"k-{number}").status_code == 201
    with django_assert_max_num_queries(count):
        assert create(client, auth).status_code == 201


@pytest.mark.parametrize("enabled", [True, False])
def test_the_identity_lookup_and_the_accept_are_prepared_once_per_connection(client, background, enabled):
    background.DATABASE_PREPARED_STATEMENTS = enabled
    with_org, without_org = token(org_id="org_band", org_name="The Band"), token(sub="user_solo")
    create(client, with_org), create(client, without_org)  # the customers' first calls create them
    before = prepared_statement_runs()

    for number in range(2):
        assert create(client, with_org).status_code == 201
        assert create(client, without_org, HTTP_IDEMPOTENCY_KEY=f"k-{number}").status_code == 201

    runs = {text: count - before.get(text, 0) for text, count in prepared_statement_runs().items()}
    runs = {text: count for text, count in runs.items() if count}
    if not enabled:
        assert runs == {}
        return
    identity = [count for text, count in runs.items() if 'FROM "tourbrain_support_externalidentity"' in text]
    accept = [count for text, count in runs.items() if "INSERT INTO tickets_ticketintake" in text]
    assert identity == [4]  # one statement for every request
    assert sorted(accept) == [2, 2]  # with and without a key
    assert len(runs) == 3
    assert TicketIntake.objects.filter(organization__isnull=True).count() == 3  # no organization binds as NULL


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
    assert not TicketIntake.objects.exists()

    changed = create(client, auth, {**NEW_TICKET, "priority": "low"}, HTTP_IDEMPOTENCY_KEY="submit-1")
    assert changed.status_code == 422
    assert changed.json()["error"]["code"] == "idempotency_key_reused"
    # The same key from another customer is theirs alone.
    other = create(client, token("user_bo"), HTTP_IDEMPOTENCY_KEY="submit-1")
    assert other.status_code == 201
    assert other.json()["reference"] != first.json()["reference"]


def test_a_key_is_one_key_whichever_way_the_request_was_filed(client, background):
    auth = token()
    background.WIDGET_BACKGROUND_FILING = False
    inline = create(client, auth, HTTP_IDEMPOTENCY_KEY="switch-1")
    background.WIDGET_BACKGROUND_FILING = True  # e.g. a deploy between the request and its retry
    retried = create(client, auth, HTTP_IDEMPOTENCY_KEY="switch-1")
    assert (retried.status_code, retried.json()) == (201, inline.json())

    accepted = create(client, auth, HTTP_IDEMPOTENCY_KEY="switch-2")
    background.WIDGET_BACKGROUND_FILING = False
    assert create(client, auth, HTTP_IDEMPOTENCY_KEY="switch-2").json() == accepted.json()
    background.WIDGET_BACKGROUND_FILING = True
    assert Ticket.objects.count() + TicketIntake.objects.count() == 2  # two requests, two tickets, no third

    reference = inline.json()["reference"]
    reply = client.post(
        f"{TICKETS}{reference}/messages/",
        {"body": "More"},
        content_type="application/json",
        **auth,
        HTTP_IDEMPOTENCY_KEY="switch-3",
    )
    assert reply.status_code == 201
    reused = create(client, auth, HTTP_IDEMPOTENCY_KEY="switch-3")  # a reply's key for a new ticket
    assert reused.status_code == 422
    assert TicketIdempotencyKey.objects.filter(key__startswith="switch-").count() == 3


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
    assert not TicketIntake.objects.exists()


def test_the_portal_files_the_customers_pending_ticket_before_showing_it(client, background):
    auth = token()
    first = create(client, auth).json()["reference"]
    second = create(client, auth, {**NEW_TICKET, "description": "Second question"}).json()["reference"]
    portal = Client()
    portal.force_login(ExternalIdentity.objects.get(subject="user_ana").user)

    assert portal.get(f"/portal/tickets/{first}/").status_code == 200
    listed = portal.get("/portal/")
    assert listed.status_code == 200
    assert first in listed.content.decode()
    assert second in listed.content.decode()
    assert not TicketIntake.objects.exists()


def test_another_customers_pending_ticket_stays_a_404(client, background):
    reference = create(client, token("user_ana")).json()["reference"]
    response = client.get(f"{TICKETS}{reference}/", **token("user_bo"))
    assert response.status_code == 404
    assert TicketIntake.objects.filter(reference=reference).exists()  # not filed by a stranger's request


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
    response = create(client, token(), {**NEW_TICKET, **change}, HTTP_IDEMPOTENCY_KEY="bad-1")
    assert response.status_code == 400, response.content
    assert field in response.json()["error"]["fields"]
    assert not TicketIntake.objects.exists()
    assert not TicketIdempotencyKey.objects.exists()  # the key's claim rolled back: a corrected retry may use it


def test_files_are_filed_within_the_request(client, background):
    upload = SimpleUploadedFile("notes.txt", b"steps to reproduce", content_type="text/plain")
    response = client.post(TICKETS, {**NEW_TICKET, "attachments": [upload]}, **token())
    assert response.status_code == 201, response.content
    assert Ticket.objects.filter(reference=response.json()["reference"]).exists()
    assert not TicketIntake.objects.exists()


def _break(row: TicketIntake) -> None:
    """A payload filing refuses (as if the ticket types had changed since it was accepted)."""
    TicketIntake.objects.filter(pk=row.pk).update(payload={**row.payload, "type": "retired-type"})


def test_a_failing_filing_is_retried_later_then_left_and_the_others_are_filed(client, background):
    auth = token()
    bad = _accepted(client, auth, "Will fail")
    good = _accepted(client, auth, "Fine").reference
    _break(bad)

    assert intake.intake_file_pending() == 1
    assert Ticket.objects.filter(reference=good).exists()
    bad.refresh_from_db()
    assert bad.attempts == 1
    assert "retired-type" in bad.last_error
    assert bad.next_attempt_at > timezone.now()
    assert intake.intake_file_pending() == 0  # not before its next attempt is due
    assert TicketIntake.objects.get(pk=bad.pk).attempts == 1
    listed = client.get(TICKETS, **auth)  # a customer's read does not retry a failing one
    assert listed.status_code == 200
    assert TicketIntake.objects.get(pk=bad.pk).attempts == 1

    for attempt in range(2, intake.MAX_ATTEMPTS + 3):
        # time passes (a few seconds more than due: the claim reads the database's clock)
        TicketIntake.objects.filter(pk=bad.pk).update(next_attempt_at=timezone.now() - timedelta(seconds=5))
        intake.intake_file_pending()
        bad.refresh_from_db()
        assert bad.attempts == min(attempt, intake.MAX_ATTEMPTS)
    assert bad.attempts == intake.MAX_ATTEMPTS  # left for staff, not retried forever


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


def test_filing_goes_on_when_the_cache_is_down(client, background):
    reference = create(client, token()).json()["reference"]
    background.CACHES = {
        "default": {"BACKEND": "tourbrain_support.cache.ReusedClientRedisCache", "LOCATION": "redis://127.0.0.1:9/0"}
    }
    assert intake.intake_file_pending() == 1
    assert Ticket.objects.filter(reference=reference).exists()


def _in_thread(target, timeout: float = 30):
    errors: list[BaseException] = []

    def run():
        try:
            target()
        except BaseException as error:  # reported to the test below
            errors.append(error)
        finally:
            connections.close_all()

    thread = threading.Thread(target=run)
    thread.start()
    return thread, errors


@pytest.mark.django_db(transaction=True)
def test_the_same_key_sent_four_times_at_once_is_accepted_once(background):
    auth = token()
    Client().get(TICKETS, **auth)  # the customer exists before the race
    barrier, answers = threading.Barrier(4), []

    def send():
        barrier.wait()
        response = create(Client(), auth, HTTP_IDEMPOTENCY_KEY="double-click")
        answers.append((response.status_code, response.json()))

    threads = [_in_thread(send) for _ in range(4)]
    for thread, _ in threads:
        thread.join(timeout=30)
    assert not [error for _, errors in threads for error in errors]
    assert [status for status, _ in answers] == [201] * 4
    assert len({answer["reference"] for _, answer in answers}) == 1
    assert TicketIntake.objects.count() == 1
    assert intake.intake_file_pending() == 1
    assert Ticket.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_a_filer_skips_the_intake_another_holds_instead_of_waiting(background):
    client = Client()
    auth = token()
    held, *others = [_accepted(client, auth, f"Ticket {number}") for number in range(4)]
    locked, release = threading.Event(), threading.Event()

    def hold():
        from django.db import transaction

        with transaction.atomic():
            TicketIntake.objects.select_for_update().get(pk=held.pk)
            locked.set()
            release.wait(30)

    holder, holder_errors = _in_thread(hold)
    assert locked.wait(10)
    filed: list[int] = []
    filer, filer_errors = _in_thread(lambda: filed.append(intake.intake_file_pending()))
    filer.join(timeout=20)
    assert not filer.is_alive(), "the filer waited for the held intake"
    assert filed == [len(others)]
    release.set()
    holder.join(timeout=20)
    assert not holder_errors
    assert not filer_errors
    assert intake.intake_file_pending() == 1  # the held one, once free
    assert sorted(Ticket.objects.values_list("pk", flat=True)) == sorted(row.ticket_id for row in [held, *others])


@pytest.mark.django_db(transaction=True)
def test_two_filers_with_round_robin_teams_file_everything_once_without_deadlocks(background):
    client = Client()
    auth = token()
    for number in range(30):  # bugs and questions: different teams, each assigned round-robin
        kind = "bug" if number % 2 else "question"
        assert create(client, auth, {**NEW_TICKET, "type": kind, "description": f"T{number}"}).status_code == 201
    barrier, counts = threading.Barrier(2), []

    def filer():
        barrier.wait()
        counts.append(intake.intake_file_pending())

    threads = [_in_thread(filer) for _ in range(2)]
    for thread, _ in threads:
        thread.join(timeout=60)
    assert not [error for _, errors in threads for error in errors]
    assert sum(counts) == 30, counts
    assert not TicketIntake.objects.exists()  # none failed (a deadlock would leave one with an attempt)
    assert Ticket.objects.count() == 30


def test_erasing_the_customer_drops_their_unfiled_ticket(client, background):
    auth = token()
    filed = create(client, auth, {**NEW_TICKET, "description": "Filed one"}).json()["reference"]
    intake.intake_file_pending()
    pending = create(client, auth, {**NEW_TICKET, "description": "Sent just before the erasure"}).json()["reference"]
    other = create(client, token("user_bo")).json()["reference"]
    person = ExternalIdentity.objects.get(subject="user_ana").user

    summary = subject_erase(user=person, actor=UserFactory(is_staff=True, is_superuser=True))

    assert summary["tickets.ticketintake"] == 1
    assert not TicketIntake.objects.filter(requester=person).exists()
    intake.intake_file_pending()
    assert not Ticket.objects.filter(reference=pending).exists()  # never filed after the erasure
    assert "user_ana@customer.test" not in Ticket.objects.get(reference=filed).description
    assert Ticket.objects.filter(reference=other).exists()  # someone else's is filed as usual


def _exhausted(client, auth, description: str) -> TicketIntake:
    row = _accepted(client, auth, description)
    TicketIntake.objects.filter(pk=row.pk).update(
        payload={**row.payload, "type": "retired-type"}, attempts=TicketIntake.MAX_ATTEMPTS, last_error="InvalidType"
    )
    return row


def test_staff_see_unfiled_tickets_in_the_admin_and_retry_or_discard_them(client, background, make_user):
    auth = token()
    failed = _exhausted(client, auth, "Left after five failures")
    TicketIntake.objects.filter(pk=failed.pk).update(payload={**failed.payload, "type": "bug"})  # cause fixed
    hopeless = _exhausted(client, auth, "Cannot be filed")
    pending = _accepted(client, auth, "Waiting").reference
    admin_user = make_user(Role.ADMIN)
    staff = Client()
    staff.force_login(admin_user)
    page = "/admin/tickets/ticketintake/"

    listed = staff.get(page, {"state": "failed"})
    assert listed.status_code == 200
    assert failed.reference in listed.content.decode()
    assert pending not in listed.content.decode()

    assert staff.post(page, {"action": "retry", "_selected_action": [failed.pk]}).status_code == 302
    assert Ticket.objects.filter(reference=failed.reference).exists()
    assert not TicketIntake.objects.filter(pk=failed.pk).exists()
    event = AuditEvent.objects.get(resource_type="ticket_intake", resource_id=str(failed.pk))
    assert event.actor_id == admin_user.pk
    assert event.changes["operation"] == "retry_filing"

    assert staff.post(page, {"action": "discard", "_selected_action": [hopeless.pk]}).status_code == 302
    assert not TicketIntake.objects.filter(pk=hopeless.pk).exists()
    assert not Ticket.objects.filter(reference=hopeless.reference).exists()
    discard = AuditEvent.objects.get(resource_type="ticket_intake", resource_id=str(hopeless.pk))
    assert (discard.action, discard.changes["operation"]) == ("delete", "discard_intake")
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
