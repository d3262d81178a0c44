"""Sentry: unhandled view errors and failing Celery tasks become events; no PII unless asked for.

Events go to an in-test transport (tests.sentry_utils.MemoryTransport keeps envelopes in memory): no network.
"""

import json

import pytest
import sentry_sdk
from django.http import HttpResponse
from django.test import Client
from django.urls import include, path

from tests.sentry_utils import fresh_sentry_scopes, memory_sentry
from tourbrain_support.celery import app as celery_app
from tourbrain_support.sentry import init_sentry

pytestmark = [pytest.mark.django_db, pytest.mark.urls(__name__)]

CLIENT_IP = "203.0.113.7"


class SentryBoomError(Exception):
    pass


def boom(request):
    raise SentryBoomError("the view broke")


def fine(request):
    return HttpResponse("ok")


urlpatterns = [
    path("test/boom/", boom),
    path("test/fine/", fine),
    path("", include("tourbrain_support.urls")),
]


@celery_app.task(name="tests.sentry.failing_task")
def failing_task(ticket_id: int) -> None:
    raise SentryBoomError(f"task failed for {ticket_id}")


@pytest.fixture
def sentry_events():
    with memory_sentry() as transport:
        yield transport


def _exception_types(event: dict) -> list[str]:
    return [value["type"] for value in event.get("exception", {}).get("values", [])]


def test_init_sentry_is_off_without_a_dsn():
    assert init_sentry(dsn="", environment="x", release="", send_default_pii=False, traces_sample_rate=0) is False


def test_unhandled_view_error_is_captured_without_pii(sentry_events, make_user):
    # given a logged-in user with an email address, calling from a known IP
    user = make_user(email="private.person@example.test")
    client = Client(raise_request_exception=False, REMOTE_ADDR=CLIENT_IP)
    client.force_login(user)

    # when a view raises
    response = client.get("/test/boom/", HTTP_X_REQUEST_ID="req-boom-1")
    sentry_sdk.flush()

    # then the 500 is one Sentry event, with release, environment and the request's URL
    assert response.status_code == 500
    events = [event for event in sentry_events.events() if "SentryBoomError" in _exception_types(event)]
    assert len(events) == 1
    event = events[0]
    assert event["release"] == "tourbrain-support@test"
    assert event["environment"] == "test"
    assert event["transaction"] == "/test/boom/"
    # and it carries the request id that the logs carry, to join the two
    assert event["tags"]["request_id"] == "req-boom-1"
    # and with PII off, neither the user's email nor the client IP leave the process
    raw = sentry_events.raw()
    assert b"private.person@example.test" not in raw
    assert CLIENT_IP.encode() not in raw
    assert "email" not in event.get("user", {})
    assert "ip_address" not in event.get("user", {})


def test_failing_celery_task_is_captured(sentry_events):
    # when a task raises inside Celery's tracer
    result = failing_task.apply(args=[42])
    sentry_sdk.flush()

    # then the task failed and Sentry got an event naming the task
    assert result.failed()
    events = [event for event in sentry_events.events() if "SentryBoomError" in _exception_types(event)]
    assert len(events) == 1
    assert "task failed for 42" in json.dumps(events[0])
    assert events[0]["transaction"] == "tests.sentry.failing_task"


def test_successful_requests_send_nothing(sentry_events, client):
    client.get("/test/fine/")
    sentry_sdk.flush()
    assert sentry_events.events() == []


def test_a_request_does_not_reach_events_captured_in_fresh_scopes(sentry_events, client):
    # given a request served by the test client, still referenced (the test client skips the per-request
    # isolation a real server gives it, so its details stay on the shared scope)
    response = client.get("/test/fine/")
    assert response.wsgi_request is not None
    sentry_sdk.capture_message("inside the same scopes", level="error")

    # when another test (here: a block) captures an event from fresh scopes, as every test does
    with fresh_sentry_scopes():
        sentry_sdk.capture_message("from fresh scopes", level="error")
    sentry_sdk.flush()

    # then only the event captured beside the request carries it
    requests = {event["message"]: "request" in event for event in sentry_events.events()}
    assert requests == {"inside the same scopes": True, "from fresh scopes": False}
