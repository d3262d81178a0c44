"""Real browser: an engineer sees a firing alert on /alerts/, silences it from its row, then expires the silence."""

import pytest

from tourbrain_support.alerting.evaluation import alerts_evaluate
from tourbrain_support.alerting.models import AlertRule, Silence
from tourbrain_support.alerting.sources import register_source, unregister_source
from tourbrain_support.roles import Role

pytestmark = pytest.mark.e2e


@pytest.fixture
def hot_source():
    register_source("e2e.hot", lambda window, now: 42.0)
    yield
    unregister_source("e2e.hot")


def test_alerts_list_and_silence(page, login_as, hot_source):
    AlertRule.objects.create(name="HotThing", source="e2e.hot", comparator=">", threshold=5, severity="warning")
    alerts_evaluate()
    login_as(Role.ENGINEER)

    # the firing rule is listed first, with its value
    page.get_by_role("link", name="Alerts").first.click()
    row = page.locator('tr[data-rule="HotThing"]')
    assert row.get_attribute("data-state") == "firing"
    assert "Firing" in row.locator(".alert-state").inner_text()
    assert "42" in row.inner_text()

    # silencing it from its row prefills the matcher
    row.get_by_role("link", name="Silence").click()
    assert page.get_by_label("Matchers").input_value() == "alertname=HotThing"
    page.get_by_label("Reason").fill("Known issue, fix deploying")
    page.get_by_label("For").select_option("240")
    page.get_by_role("button", name="Create silence").click()
    active = page.get_by_test_id("silences-active")
    assert "alertname=HotThing" in active.inner_text()
    assert "Known issue, fix deploying" in active.inner_text()

    page.get_by_role("link", name="Alerts", exact=True).last.click()
    assert "(silenced)" in page.locator('tr[data-rule="HotThing"] .alert-state').inner_text()

    # expiring it ends the silence
    page.get_by_role("link", name="Silences").click()
    page.get_by_test_id("silences-active").get_by_role("button", name="Expire").click()
    assert "No active silences" in page.get_by_test_id("silences-active").inner_text()
    assert Silence.objects.get().reason == "Known issue, fix deploying"
