"""Provider inbound webhooks: Mailgun (signed) and Postmark (basic auth) post the raw message that
becomes a ticket through the same ingest service as `ingest_email`; anything unsigned, stale or misrouted is
refused with a JSON error and creates nothing."""

import base64
import hashlib
import hmac
import json
import time
from pathlib import Path

import pytest

from tickets.models import Ticket, TicketEmail

pytestmark = pytest.mark.django_db

MAIL = Path(__file__).resolve().parents[1] / "data" / "mail"
MAILGUN = "/api/v1/email/inbound/mailgun/"
POSTMARK = "/api/v1/email/inbound/postmark/"
SIGNING_KEY = "key-mailgun-signing-test"
BASIC = "inbound:s3cret-webhook"


@pytest.fixture(autouse=True)
def providers(settings):
    settings.SUPPORT_EMAIL = settings.DEFAULT_FROM_EMAIL = "support@tourbrain.ai"
    settings.MAILGUN_WEBHOOK_SIGNING_KEY = SIGNING_KEY
    settings.EMAIL_INBOUND_WEBHOOK_SECRET = BASIC


def _raw(name: str = "new_plain.eml") -> str:
    return (MAIL / name).read_text()


def _mailgun_form(raw: str, *, key: str = SIGNING_KEY, timestamp: int | None = None) -> dict:
    timestamp = int(time.time()) if timestamp is None else timestamp
    token = "f" * 50
    signature = hmac.new(key.encode(), f"{timestamp}{token}".encode(), hashlib.sha256).hexdigest()
    return {
        "body-mime": raw,
        "recipient": "support@tourbrain.ai",
        "sender": "new.customer@bandmail.example.com",
        "timestamp": str(timestamp),
        "token": token,
        "signature": signature,
    }


def _basic(credentials: str) -> str:
    return "Basic " + base64.b64encode(credentials.encode()).decode()


def test_a_signed_mailgun_post_becomes_one_ticket_even_when_retried(client):
    # when Mailgun forwards a new customer's message, then retries the same post
    form = _mailgun_form(_raw())
    first = client.post(MAILGUN, form)
    again = client.post(MAILGUN, form)

    # then both are accepted and exactly one ticket exists, from the sender, with the message's text
    assert (first.status_code, again.status_code) == (200, 200)
    ticket = Ticket.objects.get()
    assert ticket.user.email == "new.customer@bandmail.example.com"
    assert ticket.channel == "email"
    assert ticket.subject == "Cannot import our 2027 tour dates"
    assert "unknown venue" in ticket.description
    assert TicketEmail.objects.get(direction="inbound").message_id.strip("<>") == "CAF1new0001@mail.gmail.com"


@pytest.mark.parametrize(
    "tamper",
    [
        pytest.param(lambda form: {**form, "signature": "0" * 64}, id="bad-signature"),
        pytest.param(lambda form: _mailgun_form(form["body-mime"], key="another-key"), id="wrong-key"),
        pytest.param(lambda form: {k: v for k, v in form.items() if k != "signature"}, id="unsigned"),
        pytest.param(lambda form: _mailgun_form(form["body-mime"], timestamp=int(time.time()) - 3600), id="replay"),
        pytest.param(lambda form: {**form, "timestamp": "yesterday"}, id="garbled-timestamp"),
    ],
)
def test_mailgun_posts_that_are_not_signed_now_are_refused(client, tamper):
    response = client.post(MAILGUN, tamper(_mailgun_form(_raw())))
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "not_authenticated"
    assert not Ticket.objects.exists()


def _postmark(client, payload, authorization: str | None = _basic(BASIC)):
    headers = {"HTTP_AUTHORIZATION": authorization} if authorization else {}
    body = payload if isinstance(payload, str) else json.dumps(payload)
    return client.post(POSTMARK, body, content_type="application/json", **headers)


def _postmark_payload(raw: str) -> dict:
    # Postmark's inbound JSON with "Include raw email content in JSON payload" on.
    return {
        "FromFull": {"Email": "new.customer@bandmail.example.com", "Name": "Maya Stone"},
        "ToFull": [{"Email": "support@tourbrain.ai", "Name": ""}],
        "Subject": "Cannot import our 2027 tour dates",
        "MessageID": "4a0b6f4c-0000-0000-0000-000000000000",
        "Headers": [{"Name": "Return-Path", "Value": "<new.customer@bandmail.example.com>"}],
        "RawEmail": raw,
    }


def test_postmark_raw_email_with_basic_auth_becomes_a_ticket(client):
    response = _postmark(client, _postmark_payload(_raw()))
    assert response.status_code == 200
    ticket = Ticket.objects.get()
    assert ticket.subject == "Cannot import our 2027 tour dates"
    assert TicketEmail.objects.get(direction="inbound").message_id.strip("<>") == "CAF1new0001@mail.gmail.com"


@pytest.mark.parametrize("authorization", [None, _basic("inbound:wrong"), "Bearer s3cret-webhook"])
def test_postmark_without_the_right_credentials_is_refused(client, authorization):
    response = _postmark(client, _postmark_payload(_raw()), authorization)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "not_authenticated"
    assert not Ticket.objects.exists()


@pytest.mark.parametrize("body", ["{not json", "[1, 2]", '"RawEmail"', json.dumps({"RawEmail": 42})])
def test_a_malformed_postmark_body_is_a_400_and_files_nothing(client, body):
    response = _postmark(client, body)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "parse_error"
    assert not Ticket.objects.exists()


def test_an_unconfigured_provider_endpoint_does_not_exist(client, settings):
    settings.MAILGUN_WEBHOOK_SIGNING_KEY = ""
    settings.EMAIL_INBOUND_WEBHOOK_SECRET = ""
    assert client.post(MAILGUN, _mailgun_form(_raw())).status_code == 404
    response = _postmark(client, _postmark_payload(_raw()))
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"
    assert not Ticket.objects.exists()


def test_an_out_of_office_reply_is_accepted_from_the_provider_but_files_nothing(client):
    # the provider must not retry it (200), and the loop guard keeps it out of the queue
    response = client.post(MAILGUN, _mailgun_form(_raw("out_of_office.eml")))
    assert response.status_code == 200
    assert not Ticket.objects.exists()


def test_a_misrouted_tracking_event_is_a_clear_400(client):
    form = {**_mailgun_form(_raw()), "event": "delivered"}
    response = client.post(MAILGUN, form)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid"
    assert not Ticket.objects.exists()


def test_get_is_not_allowed(client):
    assert client.get(MAILGUN).status_code == 405
