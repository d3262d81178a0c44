"""Delivery channels of the outbox: email through Django's email backend, Slack through incoming webhooks,
SMS through a Twilio-compatible HTTP API.

Email uses `EMAIL_URL` (text attachments such as a calendar invite travel with the message); one SMTP
connection serves a whole batch. Slack messages name a channel: one of `SLACK_WEBHOOKS` ("alerts",
"status", "beta-support", ...), or a target an app resolves itself (`register_slack_target`, e.g. a beta
organization's own webhook for "beta:<profile id>", read at send time so a rotated webhook applies to
messages still waiting). A name with no webhook of its own goes to the "default" one. SMS is a form POST
(`To`, `From`, `Body`) with basic auth to `{SMS_API_URL}/Accounts/{SMS_ACCOUNT_SID}/Messages.json`; like
Slack, 5xx/429 and network errors are retried and other 4xx answers fail the row.
"""

from __future__ import annotations

import base64
import json
import logging
import smtplib
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from django.conf import settings
from django.core.mail import EmailMultiAlternatives, get_connection
from django.core.mail.backends.smtp import EmailBackend as SMTPEmailBackend

from tourbrain_support.notifications.models import OutboxMessage

logger = logging.getLogger(__name__)

PROVIDER_RESPONSE_LIMIT = 2000
SLACK_DEFAULT_CHANNEL = "default"
# Targets resolved by an app: prefix -> function(rest of the name) -> webhook URL or None (nothing to post to).
_slack_targets: dict[str, Callable[[str], str | None]] = {}


class DeliveryError(Exception):
    """A failed send; `permanent` ones are not retried."""

    def __init__(self, message: str, *, permanent: bool = False, retry_after: float | None = None, response: str = ""):
        super().__init__(message)
        self.permanent = permanent
        self.retry_after = retry_after
        self.response = response


class Senders:
    """Per-batch channel state: one email connection opened on first use and closed at the end."""

    def __init__(self) -> None:
        self._email_connection = None

    def __enter__(self) -> Senders:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._close_email()

    def send(self, message: OutboxMessage) -> str:
        if message.channel == OutboxMessage.Channel.EMAIL:
            return self._send_email(message)
        if message.channel == OutboxMessage.Channel.SLACK:
            return _send_slack(message)
        if message.channel == OutboxMessage.Channel.SMS:
            return _send_sms(message)
        raise DeliveryError(f"Unknown channel {message.channel!r}.", permanent=True)

    def _close_email(self) -> None:
        if self._email_connection is not None:
            try:
                self._email_connection.close()
            except Exception:  # closing a broken SMTP session is best effort
                logger.debug("outbox: error closing the email connection", exc_info=True)
            self._email_connection = None

    def _send_email(self, message: OutboxMessage) -> str:
        email = EmailMultiAlternatives(
            subject=message.subject,
            body=message.body,
            from_email=settings.DEFAULT_FROM_EMAIL,
            to=[message.recipient],
            # Customer mail carries its threading headers (Message-ID, In-Reply-To, References, Reply-To).
            headers={
                "X-TourBrain-Notification": message.kind,
                "X-TourBrain-Outbox-Key": message.idempotency_key,
                **(message.payload or {}).get("email_headers", {}),
            },
        )
        if message.html_body:
            email.attach_alternative(message.html_body, "text/html")
        for attachment in message.attachments or []:
            email.attach(attachment["filename"], attachment["content"], attachment["content_type"])
        try:
            if self._email_connection is None:
                options = {} if settings.EMAIL_TIMEOUT else {"timeout": settings.OUTBOX_SEND_TIMEOUT}
                self._email_connection = get_connection(fail_silently=False, **options)
                self._email_connection.open()
            with _smtp_data_reply(self._email_connection) as reply:
                sent = self._email_connection.send_messages([email])
        except smtplib.SMTPRecipientsRefused as error:
            self._close_email()
            codes = [code for code, _text in error.recipients.values()]
            detail = "; ".join(f"{code} {_text(text)}" for code, text in error.recipients.values())
            raise DeliveryError(
                f"Recipient refused: {detail}", permanent=all(code >= 500 for code in codes), response=detail
            ) from error
        except smtplib.SMTPResponseException as error:
            self._close_email()
            detail = f"{error.smtp_code} {_text(error.smtp_error)}"
            raise DeliveryError(f"SMTP error: {detail}", permanent=error.smtp_code >= 500, response=detail) from error
        except (smtplib.SMTPException, OSError) as error:
            self._close_email()
            raise DeliveryError(f"SMTP unavailable: {type(error).__name__}: {error}") from error
        if not sent:
            raise DeliveryError("The email backend accepted no message.")
        if reply:
            return f"{reply[0]} {_text(reply[1])}"
        # Non-SMTP backends (console, locmem, file) give no server answer.
        return "250 accepted"


@contextmanager
def _smtp_data_reply(email_connection) -> Iterator[list]:
    """Capture the SMTP server's reply to DATA (smtplib's sendmail drops it) for the provider response."""
    reply: list = []
    smtp = getattr(email_connection, "connection", None)
    if not isinstance(email_connection, SMTPEmailBackend) or smtp is None:
        yield reply
        return
    original = smtp.data

    def data(msg):
        answer = original(msg)
        reply[:] = answer
        return answer

    smtp.data = data
    try:
        yield reply
    finally:
        smtp.data = original


def _text(value: bytes | str) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def register_slack_target(prefix: str, resolver: Callable[[str], str | None]) -> None:
    """Let an app resolve its own Slack targets ("<prefix><rest>") to a webhook URL at send time."""
    _slack_targets[prefix] = resolver


def _named_webhook(channel: str) -> str:
    # The channel's own webhook, else the default one (SLACK_WEBHOOK_URL, also reachable as "default").
    return (
        settings.SLACK_WEBHOOKS.get(channel)
        or settings.SLACK_WEBHOOKS.get(SLACK_DEFAULT_CHANNEL)
        or (settings.SLACK_WEBHOOK_URL)
    )


def slack_webhook_configured(channel: str = SLACK_DEFAULT_CHANNEL) -> bool:
    """Whether a message to this named channel would be posted somewhere (its own webhook or the default)."""
    return bool(_named_webhook(channel))


def _slack_webhook_url(target: str) -> str:
    for prefix, resolver in _slack_targets.items():
        if target.startswith(prefix):
            url = resolver(target[len(prefix) :])
            if url:
                return url
            # An app's own target (a customer's shared channel) never falls back to our default channel.
            raise DeliveryError(f"Slack target {target!r} has no Slack webhook (or is off).", permanent=True)
    url = _named_webhook(target)
    if url:
        return url
    raise DeliveryError(
        f"No Slack webhook configured for channel {target!r} (SLACK_WEBHOOKS or SLACK_WEBHOOK_URL).", permanent=True
    )


def _send_slack(message: OutboxMessage) -> str:
    url = _slack_webhook_url(message.recipient)
    if not url.startswith(("https://", "http://")):
        raise DeliveryError("A Slack webhook must be an http(s) URL.", permanent=True)
    text = f"*{message.subject}*\n{message.body}" if message.subject else message.body
    data = json.dumps({"text": text}).encode()
    request = urllib.request.Request(  # noqa: S310 - scheme checked above
        url, data=data, method="POST", headers={"Content-Type": "application/json; charset=utf-8"}
    )
    return _post(request, "Slack")


def _send_sms(message: OutboxMessage) -> str:
    """A Twilio-compatible SMS API: POST form (To, From, Body) to {SMS_API_URL}/Accounts/{sid}/Messages.json."""
    if not (settings.SMS_API_URL and settings.SMS_ACCOUNT_SID and settings.SMS_FROM):
        raise DeliveryError("SMS is not configured (SMS_API_URL, SMS_ACCOUNT_SID, SMS_FROM).", permanent=True)
    if not settings.SMS_API_URL.startswith(("https://", "http://")):
        raise DeliveryError("SMS_API_URL must be an http(s) URL.", permanent=True)
    sid = settings.SMS_ACCOUNT_SID
    url = f"{settings.SMS_API_URL}/Accounts/{urllib.parse.quote(sid, safe='')}/Messages.json"
    data = urllib.parse.urlencode({"To": message.recipient, "From": settings.SMS_FROM, "Body": message.body}).encode()
    credentials = base64.b64encode(f"{sid}:{settings.SMS_AUTH_TOKEN}".encode()).decode()
    request = urllib.request.Request(  # noqa: S310 - scheme checked above
        url,
        data=data,
        method="POST",
        headers={"Content-Type": "application/x-www-form-urlencoded", "Authorization": f"Basic {credentials}"},
    )
    return _post(request, "SMS API")


def _post(request: urllib.request.Request, provider: str) -> str:
    """Send an HTTP request to a provider: its status and body, or a DeliveryError (429 and 5xx retried)."""
    try:
        with urllib.request.urlopen(request, timeout=settings.OUTBOX_SEND_TIMEOUT) as response:  # noqa: S310
            body = response.read(PROVIDER_RESPONSE_LIMIT).decode("utf-8", "replace")
            return f"{response.status} {body}".strip()
    except urllib.error.HTTPError as error:
        body = error.read(PROVIDER_RESPONSE_LIMIT).decode("utf-8", "replace") if error.fp else ""
        answer = f"{error.code} {body}".strip()
        transient = error.code == 429 or error.code >= 500
        retry_after = _retry_after(error.headers.get("Retry-After")) if error.code == 429 else None
        raise DeliveryError(
            f"{provider} answered {answer[:300]}", permanent=not transient, retry_after=retry_after, response=answer
        ) from error
    except OSError as error:  # URLError, timeouts and refused connections are all OSErrors
        raise DeliveryError(f"{provider} unreachable: {error}") from error


def _retry_after(value: str | None) -> float | None:
    try:
        return max(float(value), 0.0) if value else None
    except ValueError:
        return None
