"""Hostile bodies: JSON nested too deep is a 400 parse_error (refused before CSRF and authentication work),
a body over DATA_UPLOAD_MAX_MEMORY_SIZE is a JSON 413 that a client on a real gunicorn worker receives whole."""

import http.client
import io
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.test import Client
from rest_framework.exceptions import ParseError

from tests.servers import free_port
from tests.tickets.factories import TicketFactory
from tickets.models import TicketMessage
from tourbrain_support.parsers import DepthLimitedJSONParser, json_nesting_exceeds
from tourbrain_support.roles import Role

pytestmark = pytest.mark.django_db

BASE_DIR = Path(django_settings.BASE_DIR)


def _nested(levels: int) -> str:
    return '{"a":' * levels + "1" + "}" * levels


def _parse_error(response) -> dict:
    assert response.status_code == 400, response.content[:300]
    error = response.json()["error"]
    assert error["code"] == "parse_error"
    assert "nested deeper than 32 levels" in error["message"]
    return error


def test_deeply_nested_consent_body_from_a_customer_is_a_400_before_the_csrf_check(make_user):
    # given a signed-in customer whose client skips the CSRF token (the check would answer 403)
    client = Client(enforce_csrf_checks=True)
    client.force_login(make_user(None))

    # when they post JSON nested 950 levels deep
    response = client.post("/api/v1/me/consents/", _nested(950), content_type="application/json")

    # then it is refused as unparsable before CSRF and authentication run
    _parse_error(response)


def test_deeply_nested_ticket_reply_is_a_400_for_a_customer_and_a_rep(client_as, make_user):
    ticket = TicketFactory()
    url = f"/api/v1/tickets/{ticket.reference}/reply/"

    _parse_error(client_as(None).post(url, _nested(950), content_type="application/json"))
    _parse_error(client_as(Role.SUPPORT_REP).post(url, _nested(33), content_type="application/json"))
    assert not TicketMessage.objects.exists()


def test_brackets_inside_strings_do_not_count_and_32_levels_pass(client_as_rep):
    ticket = TicketFactory()
    body = {"body": "[{" * 500 + " see the stack trace", "version": ticket.version}

    response = client_as_rep.post(
        f"/api/v1/tickets/{ticket.reference}/reply/", json.dumps(body), content_type="application/json"
    )

    assert response.status_code == 201, response.content
    assert TicketMessage.objects.get().body.startswith("[{[{")
    assert not json_nesting_exceeds(_nested(32), 32)
    assert json_nesting_exceeds(_nested(33), 32)
    assert not json_nesting_exceeds('{"a": "\\"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[["}', 3)


def test_the_parser_itself_refuses_depth_without_recursion():
    # Views reached without the middleware (or a body it did not see) still go through this parser.
    parser = DepthLimitedJSONParser()
    with pytest.raises(ParseError, match="nested deeper than 32 levels"):
        parser.parse(io.BytesIO(_nested(100_000).encode()))
    assert parser.parse(io.BytesIO(_nested(32).encode()))["a"]["a"]["a"]


def test_json_body_over_the_limit_is_a_json_413(client_as, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 10_000
    client = client_as(None)

    response = client.post(
        "/api/v1/me/consents/", json.dumps({"purpose": "x" * 20_000}), content_type="application/json"
    )

    assert response.status_code == 413
    assert response.json()["error"]["code"] == "request_too_large"
    assert response.json()["error"]["fields"] == {}


def test_form_body_over_the_limit_on_a_page_is_a_413(client_as_rep, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 10_000
    ticket = TicketFactory()

    response = client_as_rep.post(f"/queue/{ticket.reference}/reply/", {"body": "x" * 20_000, "kind": "reply"})

    assert response.status_code == 413
    assert b"too large" in response.content
    assert not TicketMessage.objects.exists()


@pytest.fixture
def gunicorn(tmp_path):
    """The portal on a real gunicorn sync worker, on a free port."""
    port = free_port()
    env = {
        **os.environ,
        "SECRET_KEY": "test-only-secret-key",
        "DATA_DIR": str(tmp_path),
        "DEBUG": "0",
        "PYTHONPATH": str(BASE_DIR),
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
    }
    log = (tmp_path / "gunicorn.log").open("w")
    command = [sys.executable, "-m", "gunicorn", "--workers", "1", "--worker-class", "sync"]
    command += ["--bind", f"127.0.0.1:{port}", "tourbrain_support.wsgi:application"]
    process = subprocess.Popen(  # noqa: S603 - fixed command line
        command, cwd=BASE_DIR, env=env, stdout=log, stderr=subprocess.STDOUT
    )
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.1)
        else:
            pytest.fail("gunicorn did not start: " + (tmp_path / "gunicorn.log").read_text())
        yield port
    finally:
        process.terminate()
        process.wait(timeout=10)
        log.close()


def test_a_client_sending_a_big_body_to_gunicorn_receives_the_413(gunicorn):
    # given a JSON body of 8 MB (the limit is 2.5 MB)
    body = json.dumps({"purpose": "x" * (8 * 1024 * 1024)}).encode()

    # when a client sends all of it, then reads the answer
    connection = http.client.HTTPConnection("127.0.0.1", gunicorn, timeout=20)
    try:
        connection.request("POST", "/api/v1/me/consents/", body=body, headers={"Content-Type": "application/json"})
        response = connection.getresponse()
        payload = response.read()
    finally:
        connection.close()

    # then it gets the whole JSON 413 (not a reset connection)
    assert response.status == 413, payload[:300]
    assert response.getheader("Content-Type") == "application/json"
    assert json.loads(payload)["error"]["code"] == "request_too_large"


def test_multipart_api_fields_over_the_limit_are_a_json_413(client_as_rep, settings):
    # Files may be large, so a multipart body passes the up-front check; its other fields may not be.
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 10_000
    ticket = TicketFactory()

    response = client_as_rep.post(
        f"/api/v1/tickets/{ticket.reference}/reply/", {"body": "x" * 20_000, "version": ticket.version}
    )

    assert response.status_code == 413
    assert response.json()["error"]["code"] == "request_too_large"
    assert not TicketMessage.objects.exists()
