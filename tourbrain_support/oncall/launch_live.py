"""Live launch checks that talk to the services outside: a test email, a test Slack post, a Sentry test event
(the "delivery" checks: they send something real), and the widget's JWKS. Each returns (ok, detail), never
raises, and is bounded by a timeout (OUTBOX_SEND_TIMEOUT, WIDGET_JWKS_TIMEOUT_SECONDS, LAUNCH_CHECK_TIMEOUT)."""

from __future__ import annotations

import contextlib
import json
import smtplib
import threading
import urllib.error
import urllib.request

from django.conf import settings
from django.core.mail import EmailMessage, get_connection
from django.utils import timezone

TEST_SUBJECT = "TourBrain Support launch check"


def _timeout() -> float:
    return float(getattr(settings, "LAUNCH_CHECK_TIMEOUT", 10.0))


def check_test_email() -> tuple[bool, str]:
    """Send a short test message through the configured email backend; ok when the server accepted it."""
    from tourbrain_support.notifications.channels import _smtp_data_reply, _text

    to = getattr(settings, "LAUNCH_CHECK_EMAIL_TO", "") or settings.SUPPORT_EMAIL
    if "console" in settings.EMAIL_BACKEND or "locmem" in settings.EMAIL_BACKEND:
        return False, f"no mail server configured (EMAIL_BACKEND {settings.EMAIL_BACKEND})"
    email = EmailMessage(
        subject=TEST_SUBJECT,
        body=f"A test message sent by the launch check at {timezone.now():%Y-%m-%d %H:%M:%S} UTC. No action needed.",
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[to],
        headers={"X-TourBrain-Notification": "launch_check"},
    )
    try:
        options = {} if settings.EMAIL_TIMEOUT else {"timeout": _timeout()}
        connection = get_connection(fail_silently=False, **options)
        connection.open()
        try:
            with _smtp_data_reply(connection) as reply:
                sent = connection.send_messages([email])
        finally:
            with contextlib.suppress(Exception):  # closing a broken session is best effort
                connection.close()
    except smtplib.SMTPRecipientsRefused as error:
        detail = "; ".join(f"{code} {_text(text)}" for code, text in error.recipients.values())
        return False, f"{to} refused: {detail}"
    except smtplib.SMTPResponseException as error:
        return False, f"mail server answered {error.smtp_code} {_text(error.smtp_error)}"
    except (smtplib.SMTPException, OSError) as error:
        return False, f"mail server unreachable ({settings.EMAIL_HOST}:{settings.EMAIL_PORT}): {error}"
    if not sent:
        return False, "the email backend accepted no message"
    answer = f": {reply[0]} {_text(reply[1])}" if reply else ""
    return True, f"test email to {to} accepted{answer}"


def check_test_slack() -> tuple[bool, str]:
    """POST a test message to the alerts and status webhooks; ok when each answers 200 "ok"."""
    from tourbrain_support.notifications.channels import DeliveryError, _named_webhook, _post

    results, failing = [], False
    for channel in ("alerts", "status"):
        url = _named_webhook(channel)
        if not url:
            results.append(f"{channel}: no webhook")
            failing = True
            continue
        if not url.startswith(("https://", "http://")):
            results.append(f"{channel}: not an http(s) URL")
            failing = True
            continue
        text = f"Launch check: a test post to #{channel} from TourBrain Support. No action needed."
        request = urllib.request.Request(  # noqa: S310 - scheme checked above
            url,
            data=json.dumps({"text": text}).encode(),
            method="POST",
            headers={"Content-Type": "application/json; charset=utf-8"},
        )
        try:
            answer = _post(request, "Slack")
        except DeliveryError as error:
            results.append(f"{channel}: {error}")
            failing = True
            continue
        if answer != "200 ok":
            results.append(f"{channel}: Slack answered {answer[:200]}")
            failing = True
        else:
            results.append(f"{channel}: 200 ok")
    return not failing, "; ".join(results)


def check_test_sentry() -> tuple[bool, str]:
    """Capture a test message with a Sentry client of its own on SENTRY_DSN; ok when the ingest accepted it."""
    import sentry_sdk
    from sentry_sdk.transport import HttpTransport

    from tourbrain_support.sentry import _before_send as sentry_before_send

    dsn = getattr(settings, "SENTRY_DSN", "")
    if not dsn:
        return False, "SENTRY_DSN is not set"
    outcome: dict = {}
    answered = threading.Event()

    class RecordingTransport(HttpTransport):
        def _handle_response(self, response, envelope):
            outcome.setdefault("status", response.status)
            answered.set()
            return super()._handle_response(response=response, envelope=envelope)

        def _handle_request_error(self, envelope, loss_reason="network", record_reason="network_error"):
            outcome.setdefault("error", loss_reason)
            answered.set()
            return super()._handle_request_error(
                envelope=envelope, loss_reason=loss_reason, record_reason=record_reason
            )

    try:
        client = sentry_sdk.Client(
            dsn=dsn,
            transport=RecordingTransport,
            default_integrations=False,
            # Like every event for Sentry, the test event is logged as a cross-border transfer.
            before_send=sentry_before_send,
            environment=getattr(settings, "SENTRY_ENVIRONMENT", None),
            release=getattr(settings, "SENTRY_RELEASE", None) or None,
            shutdown_timeout=0,
        )
    except Exception as error:
        return False, f"SENTRY_DSN not usable: {error}"
    try:
        event_id = client.capture_event(
            {"message": "TourBrain Support launch check: a test event. No action needed.", "level": "info"}
        )
        if not event_id:
            return False, "the Sentry SDK dropped the test event"
        client.flush(timeout=_timeout())
        answered.wait(timeout=0.5 if answered.is_set() else 0)
    finally:
        client.close(timeout=0)
    status = outcome.get("status")
    if status is not None and not 200 <= status < 300:
        return False, f"event {event_id}: Sentry answered {status}"
    if "error" in outcome:
        return False, f"event {event_id} not sent: {outcome['error']}"
    if status is None:
        return False, f"event {event_id}: no answer from Sentry within {_timeout():g} s"
    return True, f"test event {event_id} accepted ({status})"


def check_widget_jwks() -> tuple[bool, str]:
    """When WIDGET_JWKS_URL is set: it answers, within the timeout, a JWKS with at least one usable key."""
    import jwt

    url = getattr(settings, "WIDGET_JWKS_URL", "")
    if not url:
        return True, "not used (WIDGET_JWKS_URL is not set; widget tokens are HS256)"
    if not url.startswith(("https://", "http://")):
        return False, "WIDGET_JWKS_URL is not an http(s) URL"
    request = urllib.request.Request(url, headers={"Accept": "application/json"})  # noqa: S310 - scheme checked
    try:
        with urllib.request.urlopen(request, timeout=settings.WIDGET_JWKS_TIMEOUT_SECONDS) as response:  # noqa: S310
            body = response.read(1_000_000)
    except urllib.error.HTTPError as error:
        return False, f"{url} answered {error.code}"
    except OSError as error:  # refused, DNS, timeouts
        return False, f"{url} unreachable: {error}"
    try:
        keys = jwt.PyJWKSet.from_json(body.decode("utf-8")).keys
    except (ValueError, jwt.PyJWTError) as error:
        return False, f"{url} is not a JWKS: {error}"
    if not keys:
        return False, f"{url} has no usable key"
    kids = ", ".join(str(key.key_id) for key in keys[:5])
    return True, f"{len(keys)} key(s) ({kids})"
