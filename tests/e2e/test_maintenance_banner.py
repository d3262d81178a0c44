"""While the ClerkUnavailable alert fires, the widget and the portal's sign-in page show the maintenance banner; it
clears once the alert resolves."""

from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from tests.e2e.widget_helpers import demo_widget_fixture, open_widget, widget  # noqa: F401 (a fixture)
from tourbrain_support.alerting.models import AlertRule, AlertState
from tourbrain_support.alerting.selectors import customer_notices_refresh

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

NOTICE = "Maintenance: signing in may be slow or fail for a while."


@pytest.fixture
def clerk_rule(transactional_db):
    # The seeded rule is gone after an earlier transactional test's flush: state it again.
    rule, _ = AlertRule.objects.update_or_create(
        name="ClerkUnavailable",
        defaults={
            "source": "probe:clerk:down",
            "comparator": ">=",
            "threshold": 1,
            "window": timedelta(minutes=1),
            "severity": "critical",
            "customer_notice": NOTICE,
        },
    )
    yield rule
    AlertState.objects.filter(rule=rule).delete()
    customer_notices_refresh()


def _set_state(rule, state):
    AlertState.objects.update_or_create(rule=rule, defaults={"state": state, "active_since": timezone.now()})
    customer_notices_refresh()  # what the evaluation tick does after a change


def test_the_widget_and_the_sign_in_page_show_the_maintenance_banner(page, demo_widget, clerk_rule):
    _set_state(clerk_rule, AlertState.State.FIRING)
    demo_widget()
    open_widget(page)
    expect(widget(page, "[data-testid=maintenance-banner]")).to_have_text(NOTICE)

    page.goto("/accounts/login/")
    expect(page.get_by_test_id("maintenance-banner")).to_have_text(NOTICE)

    _set_state(clerk_rule, AlertState.State.RESOLVED)
    page.reload()
    expect(page.get_by_test_id("maintenance-banner")).to_have_count(0)
    demo_widget()
    open_widget(page)
    expect(widget(page, "[data-testid=status-banner]")).to_be_hidden()  # me/ answered: the panel is filled
    expect(widget(page, "[data-testid=maintenance-banner]")).to_be_hidden()
