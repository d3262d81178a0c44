"""Sentry error reporting, switched on by SENTRY_DSN."""

import sentry_sdk
from sentry_sdk.integrations.celery import CeleryIntegration
from sentry_sdk.integrations.django import DjangoIntegration
from sentry_sdk.integrations.logging import LoggingIntegration

from tourbrain_support import request_context


def _tag_request_id(event, hint):
    # The same id is on every log line of the request or task: it joins a Sentry event to its logs.
    request_id = request_context.get_request_id()
    if request_id:
        event.setdefault("tags", {})["request_id"] = request_id
    return event


def init_sentry(
    *, dsn: str, environment: str, release: str, send_default_pii: bool, traces_sample_rate: float, transport=None
) -> bool:
    """Initialise Sentry when a DSN is configured; returns whether it did."""
    if not dsn:
        return False
    options = {
        "dsn": dsn,
        "environment": environment,
        "release": release or None,
        "send_default_pii": send_default_pii,
        "traces_sample_rate": traces_sample_rate,
        "integrations": [DjangoIntegration(), CeleryIntegration(), LoggingIntegration()],
        "before_send": _tag_request_id,
    }
    if transport is not None:
        options["transport"] = transport
    sentry_sdk.init(**options)
    return True
