"""On-call fixtures: a rotation of three (Ana primary, Ben secondary this week), escalation contacts, SMS and
Slack pointed at a real local HTTP server."""

from datetime import UTC, date, datetime

import pytest
import time_machine

from tests.oncall import factories


@pytest.fixture
def team(db):
    people = {
        name: factories.responder(name, phone=phone)
        for name, phone in (("Ana", "+447700900001"), ("Ben", "+447700900002"), ("Cai", ""))
    }
    # Week 0 starts Monday 2 March 2026 09:00 London; tests run at T0 (Wednesday of that week).
    rotation = factories.rotation([people["Ana"], people["Ben"], people["Cai"]], starts_on=date(2026, 3, 2))
    factories.contact("Vercel support", email="help@vercel.test", support_url="https://vercel.com/help")
    factories.contact("Supabase support", email="help@supabase.test", support_url="https://supabase.com/support")
    return rotation, people


T0 = datetime(2026, 3, 4, 12, 0, tzinfo=UTC)


@pytest.fixture
def clock():
    """The clock stands at T0 (week 0: Ana primary, Ben secondary); `clock.shift(timedelta(...))` moves it."""
    with time_machine.travel(T0, tick=False) as traveller:
        yield traveller


@pytest.fixture
def providers(settings, http_server):
    """SMS (Twilio-compatible) and Slack webhooks answered by one local HTTP server."""
    settings.SMS_API_URL = http_server.url("/2010-04-01").rstrip("/")
    settings.SMS_ACCOUNT_SID = "AC0123"
    settings.SMS_AUTH_TOKEN = "sms-secret"
    settings.SMS_FROM = "+15005550006"
    settings.SLACK_WEBHOOK_URL = http_server.url("/slack/default")
    settings.SLACK_WEBHOOKS = {
        "default": http_server.url("/slack/default"),
        "alerts": http_server.url("/slack/alerts"),
        "status": http_server.url("/slack/status"),
    }
    settings.SITE_URL = "http://testserver"
    return http_server
