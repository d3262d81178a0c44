"""Inbound email from a provider's webhook: the raw message becomes a ticket or a reply, like `ingest_email`.

Parsing and signature checks are django-anymail's, not ours:
- Mailgun (a receiving route with `forward()` to `/api/v1/email/inbound/mailgun/`, the raw MIME in
  `body-mime` when the route URL ends in `mime`): HMAC-SHA256 of timestamp + token with the webhook signing
  key (`MAILGUN_WEBHOOK_SIGNING_KEY`); a timestamp older than `SIGNATURE_MAX_AGE` is refused as a replay.
- Postmark inbound (JSON; turn on "Include raw email content" so the exact message arrives in `RawEmail`)
  to `/api/v1/email/inbound/postmark/`: Postmark signs nothing, so the URL carries HTTP basic auth
  (`EMAIL_INBOUND_WEBHOOK_SECRET`, `user:password`, in the webhook URL set at Postmark).
An endpoint whose secret is not configured does not exist (404): never an open inbox. Each message goes
through `email_ingest` (threading, loops and bounces refused, quarantine on failure, idempotent on
Message-ID), so a provider's retry of a delivered message creates nothing new.
"""

from __future__ import annotations

import logging
import time

from anymail.exceptions import AnymailConfigurationError, AnymailWebhookValidationFailure
from anymail.webhooks.mailgun import MailgunInboundWebhookView
from anymail.webhooks.postmark import PostmarkInboundWebhookView
from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt

from tickets.email_inbound import email_ingest
from tourbrain_support.api import json_error_response

logger = logging.getLogger(__name__)

# Seconds a Mailgun signature stays acceptable (its timestamp is signed, so an old one is a replay).
SIGNATURE_MAX_AGE = 15 * 60


class _Malformed(Exception):
    pass


class _IngestEvents:
    """Hand each parsed message to the ingest service instead of anymail's signal."""

    def post(self, request: HttpRequest, *args, **kwargs) -> HttpResponse:
        self.run_validators(request)
        try:
            messages = [event.message.as_bytes() for event in self.parse_events(request)]
        except (ValueError, KeyError, TypeError, AttributeError) as error:
            # A body that is not the provider's format (bad JSON, missing fields): nothing to ingest.
            raise _Malformed(f"{type(error).__name__}: {error}") from error
        outcomes = [email_ingest(raw).outcome for raw in messages]
        logger.info("email: provider webhook", extra={"provider": self.esp_name, "outcomes": outcomes})
        return HttpResponse()


class MailgunInbound(_IngestEvents, MailgunInboundWebhookView):
    # The signature is the check here: no basic auth on top (anymail would warn about its absence).
    warn_if_no_basic_auth = False

    def __init__(self, **kwargs):
        super().__init__(webhook_signing_key=settings.MAILGUN_WEBHOOK_SIGNING_KEY, webhook_secret=[], **kwargs)

    def validate_request(self, request: HttpRequest) -> None:
        # Anymail calls every validate_request in the class chain: this one adds the replay window.
        try:
            age = abs(time.time() - float(request.POST.get("timestamp", "")))
        except ValueError:
            raise AnymailWebhookValidationFailure("Mailgun webhook without a valid timestamp") from None
        if age > SIGNATURE_MAX_AGE:
            raise AnymailWebhookValidationFailure("Mailgun webhook signature is too old (a replay?)")


class PostmarkInbound(_IngestEvents, PostmarkInboundWebhookView):
    def __init__(self, **kwargs):
        super().__init__(webhook_secret=[settings.EMAIL_INBOUND_WEBHOOK_SECRET], **kwargs)


def _provider_view(view_class, setting: str):
    @csrf_exempt
    def view(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        if not getattr(settings, setting):
            return json_error_response(
                code="not_found", message=f"This inbound webhook is off ({setting} is not set).", status=404
            )
        if request.method != "POST":
            return json_error_response(code="method_not_allowed", message="POST the message.", status=405)
        try:
            return view_class.as_view()(request, *args, **kwargs)
        except AnymailWebhookValidationFailure as error:
            return json_error_response(code="not_authenticated", message=str(error).split("\n")[0], status=401)
        except _Malformed as error:
            return json_error_response(
                code="parse_error", message=f"Not a provider's inbound post: {error}", status=400
            )
        except AnymailConfigurationError as error:
            # A route set up the wrong way at the provider (a tracking webhook, Mailgun's store()).
            return json_error_response(code="invalid", message=str(error).split("\n")[0], status=400)

    return view


mailgun_inbound = _provider_view(MailgunInbound, "MAILGUN_WEBHOOK_SIGNING_KEY")
postmark_inbound = _provider_view(PostmarkInbound, "EMAIL_INBOUND_WEBHOOK_SECRET")
