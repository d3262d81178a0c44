"""A rep's day in a real browser: filter the queue, open a breaching ticket, reply, the first-response clock stops.

Run twice: with JavaScript (the default page) and with JavaScript disabled (the pages are plain forms).
"""

import importlib
from datetime import timedelta

import pytest
from django.utils import timezone

from tests.e2e.conftest import E2E_PASSWORD
from tests.tickets.factories import TicketFactory
from tickets.models import Ticket
from tourbrain_support.roles import Role

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def _sla_defaults(transactional_db):
    """Transactional tests flush the tables between tests: reload the default policy, calendars and teams."""
    from django.apps import apps

    importlib.import_module("tickets.migrations.0003_sla_defaults").load_defaults(apps, None)


def _breaching_ticket() -> Ticket:
    """A ticket created three days ago, still unanswered: its first-response clock is overdue (breached)."""
    ticket = TicketFactory(
        subject="Tour PDF export is blank", created_at=timezone.now() - timedelta(days=3), priority="high"
    )
    Ticket.objects.filter(pk=ticket.pk).update(sla_state=Ticket.SLAState.BREACHED)
    TicketFactory(subject="How do I add a venue?")  # on time: filtered out
    return ticket


def _rep_flow(page, ticket: Ticket) -> None:
    # The rep filters the queue to breached tickets
    page.goto("/queue/")
    page.select_option("#id_sla_state", "breached")
    page.click("text=Apply filters")
    page.wait_for_load_state()
    assert "sla_state=breached" in page.url
    rows = page.locator("[data-testid=queue-table] tbody tr")
    assert rows.count() == 1
    row = page.locator(f'tr[data-reference="{ticket.reference}"]')
    assert "Breached" in row.inner_text()
    assert "sla-breached" in (row.get_attribute("class") or "")

    # opens the breaching ticket
    row.locator(f"text={ticket.reference}").click()
    page.wait_for_load_state()
    first_response = page.locator("[data-testid=sla-first-response]")
    assert "Breached" in first_response.inner_text()

    # replies publicly
    page.check("input[name=kind][value=reply]")
    page.fill("#id_body", "Thanks for the report: a fix for the PDF export ships today.")
    page.click("form[action$='/reply/'] button[type=submit]")
    page.wait_for_load_state()

    # and the first-response clock has stopped (late, so marked missed)
    assert "Reply sent to the customer." in page.content()
    text = page.locator("[data-testid=sla-first-response]").inner_text()
    assert "Stopped" in text
    assert "Missed" in text
    assert "a fix for the PDF export ships today" in page.locator("[data-testid=conversation]").inner_text()
    ticket.refresh_from_db()
    assert ticket.first_responded_at is not None


def test_rep_filters_opens_breaching_ticket_and_replies(page, login_as):
    ticket = _breaching_ticket()
    login_as(Role.SUPPORT_REP)

    _rep_flow(page, ticket)


@pytest.mark.usefixtures("_plain_http_cookies")
def test_the_same_flow_works_without_javascript(browser, live_server, make_user):
    ticket = _breaching_ticket()
    rep = make_user(Role.SUPPORT_REP)
    context = browser.new_context(base_url=live_server.url, java_script_enabled=False)
    context.set_default_timeout(10_000)
    page = context.new_page()
    try:
        page.goto("/accounts/login/")
        page.fill("#id_username", rep.email)
        page.fill("#id_password", E2E_PASSWORD)
        page.click("form button[type=submit]")
        page.wait_for_load_state()
        assert "/accounts/login/" not in page.url

        _rep_flow(page, ticket)

        # Bulk status without JavaScript: tick the box, choose, submit
        other = TicketFactory(subject="Billing address change")
        page.goto("/queue/")
        page.check(f'input[name=ticket][value="{other.pk}"]')
        page.check("input[name=action][value=status]")
        page.select_option("#bulk-status", "pending")
        page.click("text=Apply to selected")
        page.wait_for_load_state()
        assert "Set 1 of 1 selected ticket(s) to Pending" in page.content(), page.locator(".messages").all_inner_texts()
    finally:
        context.close()
