"""The pre-installed ClerkUnavailable rule: while it fires, customers see a maintenance banner (widget me/ and the
public widget status/, the portal pages); it clears at the tick that resolves the rule."""

from datetime import timedelta

import pytest
from django.test import Client

from tests.servers import Reply
from tests.widget_tokens import bearer, claims, hs256, widget_settings  # noqa: F401 (widget_settings: a fixture)
from tourbrain_support.alerting.evaluation import alerts_evaluate
from tourbrain_support.alerting.models import AlertRule, HttpProbe
from tourbrain_support.alerting.probes import probe_plan, probes_run
from tourbrain_support.alerting.selectors import customer_notices, customer_notices_refresh

from .conftest import START

pytestmark = pytest.mark.django_db

M = timedelta(minutes=1)


@pytest.fixture
def clerk(http_server):
    """The `clerk` probe against a local server standing in for Clerk; only the seed's Clerk rule evaluates."""
    HttpProbe.objects.create(name="clerk", url=http_server.url("/v1/health"), timeout_seconds=1)
    AlertRule.objects.exclude(name="ClerkUnavailable").update(enabled=False)
    return http_server


def _tick(now, plan):
    probes_run(now=now, plan=plan)
    return alerts_evaluate(now=now)


def _clerk_only():
    return {name: probe for name, probe in probe_plan().items() if name == "clerk"}


def test_the_seeded_clerk_rule_carries_a_customer_notice():
    rule = AlertRule.objects.get(name="ClerkUnavailable")
    assert rule.enabled
    assert "signing in" in rule.customer_notice.lower()


def test_clerk_down_shows_the_maintenance_banner_until_the_rule_resolves(client, client_as, widget_settings, clerk):  # noqa: F811
    plan = _clerk_only()
    me = {"path": "/api/v1/widget/me/", **bearer(hs256(claims(email="ana@example.test")))}

    clerk.default = Reply(status=503)
    _tick(START, plan)  # pending: the rule waits its `for` of one minute
    assert customer_notices() == []
    assert client.get("/api/v1/widget/status/").json()["maintenance"] == []

    _tick(START + M, plan)  # still down a minute later: firing
    notice = AlertRule.objects.get(name="ClerkUnavailable").customer_notice
    assert client.get(**me).json()["maintenance"] == [{"alert": "ClerkUnavailable", "message": notice}]
    status = client.get("/api/v1/widget/status/")  # no token: sign-in is what may be down
    assert status.status_code == 200
    assert status.json()["maintenance"] == [{"alert": "ClerkUnavailable", "message": notice}]
    portal = client_as(None).get("/portal/").content.decode()
    assert 'data-testid="maintenance-banner"' in portal
    assert notice.split(":")[0] in portal
    assert 'data-testid="maintenance-banner"' in Client().get("/accounts/login/").content.decode()

    clerk.default = Reply(status=200)
    _tick(START + 2 * M, plan)  # answers again: resolved, the banner clears
    assert client.get(**me).json()["maintenance"] == []
    assert client.get("/api/v1/widget/status/").json()["maintenance"] == []
    assert 'data-testid="maintenance-banner"' not in client_as(None).get("/portal/").content.decode()


def test_a_disabled_rule_shows_no_banner_even_when_its_state_is_firing(client, clerk):
    plan = _clerk_only()
    clerk.default = Reply(status=503)
    _tick(START, plan)
    _tick(START + M, plan)
    assert len(customer_notices()) == 1
    AlertRule.objects.filter(name="ClerkUnavailable").update(enabled=False)
    customer_notices_refresh()  # an admin's edit shows within the cache's minute; the test does not wait for it
    assert client.get("/api/v1/widget/status/").json()["maintenance"] == []


def test_the_status_endpoint_costs_two_queries_then_one(client, django_assert_max_num_queries):
    with django_assert_max_num_queries(2):  # the notices (read once, then cached) and the open incidents
        assert client.get("/api/v1/widget/status/").status_code == 200
    with django_assert_max_num_queries(1):
        assert client.get("/api/v1/widget/status/").status_code == 200


def test_the_sign_in_page_reads_no_table_once_the_notices_are_cached(client, django_assert_max_num_queries):
    customer_notices()
    with django_assert_max_num_queries(0):
        assert client.get("/accounts/login/").status_code == 200
