"""Every event sent to Sentry is a cross-border transfer in the GDPR log, and recording it never costs the report.

Events go to tests.sentry_utils.MemoryTransport: no network.
"""

import logging

import pytest
import sentry_sdk
from django.db import DatabaseError, connection, transaction
from django.http import HttpResponse
from django.test import Client
from django.urls import include, path

from audit.models import CrossBorderTransfer
from tests.sentry_utils import database_unreachable, memory_sentry
from tourbrain_support.celery import app as celery_app
from tourbrain_support.sentry import event_data_categories, transfer_log_drain

pytestmark = [pytest.mark.django_db, pytest.mark.urls(__name__)]

logger = logging.getLogger("tests.sentry_transfers")


class ReportedError(Exception):
    pass


def _bad_query() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT * FROM table_that_does_not_exist")


def raise_after_db_error(request):
    with transaction.atomic():
        try:
            _bad_query()  # on PostgreSQL the transaction now refuses every statement
        except DatabaseError as error:
            raise ReportedError("lookup failed") from error


def log_inside_broken_transaction(request):
    with transaction.atomic():
        try:
            _bad_query()
        except DatabaseError:
            # Reported from inside the aborted transaction: the event is built before it has ended.
            logger.exception("lookup failed")
            transaction.set_rollback(True)
    return HttpResponse("shown without the lookup")


def boom(request):
    raise ReportedError("the view broke")


urlpatterns = [
    path("test/raise-after-db-error/", raise_after_db_error),
    path("test/log-inside-broken-transaction/", log_inside_broken_transaction),
    path("test/boom/", boom),
    path("", include("tourbrain_support.urls")),
]


@celery_app.task(name="tests.sentry_transfers.failing_task")
def failing_task() -> None:
    raise ReportedError("the task broke")


@pytest.fixture
def sentry_events():
    with memory_sentry() as transport:
        yield transport


def _errors(transport) -> list[dict]:
    sentry_sdk.flush()
    return [event for event in transport.events() if event.get("level") == "error"]


@pytest.mark.parametrize("url", ["/test/raise-after-db-error/", "/test/log-inside-broken-transaction/"])
def test_an_error_in_a_broken_transaction_is_one_event_and_one_transfer(sentry_events, url):
    # when a view hits a database error inside transaction.atomic and the error is reported
    response = Client(raise_request_exception=False).get(url)

    # then Sentry got exactly one event
    assert response.status_code in (200, 500)
    events = _errors(sentry_events)
    assert len(events) == 1
    # and the transfer log holds one row for it: Sentry, US, the data it carries, the event as reference
    transfer = CrossBorderTransfer.objects.get()
    assert (transfer.recipient, transfer.country, transfer.legal_basis) == ("sentry", "US", "dpf")
    assert transfer.data_categories == event_data_categories(events[0])
    assert "technical" in transfer.data_categories
    assert transfer.reference == f"sentry:{events[0]['event_id']}"
    assert transfer.purpose == "error report (error)"


@pytest.mark.parametrize(
    ("event", "categories"),
    [
        ({"message": "x"}, ["technical"]),
        ({"request": {}}, ["technical"]),
        ({"request": {"url": "https://support.test/queue/"}}, ["request_metadata", "technical"]),
        ({"user": {"id": "7"}}, ["technical", "user_identifier"]),
        ({"user": {"id": "7", "email": "a@b.test", "ip_address": "203.0.113.9"}}, None),
    ],
)
def test_data_categories_follow_what_the_event_carries(event, categories):
    expected = categories or ["contact", "ip_address", "technical", "user_identifier"]
    assert event_data_categories(event) == expected


def test_a_user_attached_to_the_event_is_listed_as_such(make_user):
    # given PII reporting on and a logged-in user
    client = Client(raise_request_exception=False, REMOTE_ADDR="203.0.113.9")
    client.force_login(make_user(email="someone@example.test"))
    with memory_sentry(send_default_pii=True) as transport:
        # when their request fails
        client.get("/test/boom/")
        events = _errors(transport)

    # then the event carried the user, and the transfer says so
    assert len(events) == 1
    assert events[0]["user"]["email"] == "someone@example.test"
    transfer = CrossBorderTransfer.objects.get()
    assert {"contact", "technical", "user_identifier"} <= set(transfer.data_categories)
    assert transfer.data_categories == event_data_categories(events[0])


def test_a_failing_task_is_recorded_when_the_task_ends(sentry_events):
    result = failing_task.apply()
    assert result.failed()
    assert len(_errors(sentry_events)) == 1
    assert CrossBorderTransfer.objects.get().data_categories == ["technical"]


def test_an_unreachable_database_still_sends_the_event(sentry_events, caplog):
    # given the database is down
    with database_unreachable(), caplog.at_level(logging.WARNING, logger="tourbrain_support.sentry"):
        # when a request fails
        response = Client(raise_request_exception=False).get("/test/boom/")
        events = _errors(sentry_events)

    # then the event went out all the same, and the log entry that could not be written is a warning
    assert response.status_code == 500
    assert len(events) == 1
    assert "ReportedError" in str(events[0]["exception"])
    assert any("not recorded" in record.getMessage() for record in caplog.records)
    assert not CrossBorderTransfer.objects.exists()

    # and once the database is back, the next drain records it from the spool
    assert transfer_log_drain() == 1
    assert CrossBorderTransfer.objects.get().reference == f"sentry:{events[0]['event_id']}"


def test_a_processor_in_our_region_is_not_a_cross_border_transfer(sentry_events, settings):
    settings.CROSS_BORDER_PROCESSORS = {**settings.CROSS_BORDER_PROCESSORS, "sentry": {"country": ""}}
    Client(raise_request_exception=False).get("/test/boom/")
    assert len(_errors(sentry_events)) == 1
    assert not CrossBorderTransfer.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_outside_a_transaction_the_transfer_is_written_at_once(sentry_events):
    # a management command or a script: no request or task ends to flush the log
    event_id = sentry_sdk.capture_message("nightly job gave up", level="error")
    transfer = CrossBorderTransfer.objects.get()
    assert transfer.reference == f"sentry:{event_id}"
    [event] = _errors(sentry_events)
    assert "technical" in transfer.data_categories
    assert transfer.data_categories == event_data_categories(event)
