"""Structured logging: JSON lines outside DEBUG, a request id on every line, returned and passed to tasks."""

import io
import json
import logging
import os
import subprocess
import sys

import pytest
from django.conf import settings

from tourbrain_support import request_context
from tourbrain_support.celery import app as celery_app
from tourbrain_support.logging import JsonFormatter, RequestContextFilter

pytestmark = pytest.mark.django_db


@pytest.fixture
def json_log():
    """Lines logged through the portal's JSON formatter and request-context filter, as dicts."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(RequestContextFilter())
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.addHandler(handler)
    yield lambda: [json.loads(line) for line in stream.getvalue().splitlines()]
    root.removeHandler(handler)


@celery_app.task(name="tests.logging.log_and_report")
def log_and_report() -> str | None:
    logging.getLogger("tests.logging").info("inside the task")
    return request_context.get_request_id()


def test_valid_request_id_is_accepted_and_returned(client):
    response = client.get("/healthz", HTTP_X_REQUEST_ID="lb-1234:abc.DEF_9")
    assert response["X-Request-ID"] == "lb-1234:abc.DEF_9"


@pytest.mark.parametrize("incoming", [None, "", "has spaces", "x" * 129, "<script>", "semi;colon"])
def test_missing_or_invalid_request_id_is_replaced(client, incoming):
    headers = {} if incoming is None else {"HTTP_X_REQUEST_ID": incoming}
    response = client.get("/healthz", **headers)
    generated = response["X-Request-ID"]
    assert generated != incoming
    assert len(generated) == 32
    assert int(generated, 16) >= 0  # a uuid4 hex


def test_every_log_line_of_a_request_carries_its_id(client, json_log):
    # when a request logs (Django warns about the 404)
    client.get("/definitely-missing/", HTTP_X_REQUEST_ID="req-log-1")

    # then the line is JSON with the request id, level and logger
    lines = [line for line in json_log() if line["logger"] == "django.request"]
    assert lines
    assert lines[0]["request_id"] == "req-log-1"
    assert lines[0]["level"] == "WARNING"
    assert "Not Found" in lines[0]["message"]
    # and outside the request nothing is left behind
    assert request_context.get_request_id() is None


def test_request_id_goes_into_the_task_headers_when_published():
    # given a current request id
    request_context.set_request_id("req-publish-1")
    headers: dict = {}
    try:
        # when Celery publishes a task (the signal Celery sends before the message leaves)
        from celery import signals

        signals.before_task_publish.send(sender="tests.task", headers=headers, body=None)
    finally:
        request_context.set_request_id(None)

    # then the message headers carry it
    assert headers["request_id"] == "req-publish-1"


def test_task_runs_under_the_request_id_from_its_headers(json_log):
    # when a task is executed with the header a published message brings
    result = log_and_report.apply(headers={"request_id": "req-task-1"})

    # then the task sees the id and its log lines carry it; afterwards the id is cleared
    assert result.get() == "req-task-1"
    assert [line["request_id"] for line in json_log() if line["message"] == "inside the task"] == ["req-task-1"]
    assert request_context.get_request_id() is None


def test_eager_task_inside_a_request_keeps_the_request_id():
    # given a request id (an eager task runs inside the web request)
    request_context.set_request_id("req-outer")
    try:
        # when the task runs and finishes, then it used the request's id and the request keeps it
        assert log_and_report.apply().get() == "req-outer"
        assert request_context.get_request_id() == "req-outer"
    finally:
        request_context.set_request_id(None)


def test_task_without_a_request_gets_its_own_id():
    result = log_and_report.apply(task_id="abc123")
    assert result.get() == "task-abc123"


@pytest.mark.parametrize(("debug", "expected"), [("0", "json"), ("1", "plain")])
def test_logs_are_json_outside_debug(debug, expected):
    # given the settings as a fresh process computes them
    env = {**os.environ, "SECRET_KEY": "x", "DEBUG": debug, "DJANGO_SETTINGS_MODULE": "tourbrain_support.settings"}
    env.pop("LOG_JSON", None)
    code = (
        "import django, logging; django.setup(); "
        "from django.conf import settings; "
        "print(settings.LOGGING['handlers']['console']['formatter']); "
        "logging.getLogger('probe').warning('hello')"
    )
    done = subprocess.run(  # noqa: S603 - fixed command line
        [sys.executable, "-c", code], cwd=settings.BASE_DIR, env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == expected
    probe = [line for line in done.stderr.splitlines() if "hello" in line]
    if expected == "json":
        assert json.loads(probe[0])["message"] == "hello"
        assert json.loads(probe[0])["request_id"] == "-"
    else:
        assert probe[0].endswith("probe [-] hello")
