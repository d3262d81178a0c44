"""A customer in a real browser: signs in, files a ticket on /portal/, finds it in the list, rates a solved
ticket; and signs in again with an emailed link."""

import re

import pytest

from tests.factories import MembershipFactory, OrganizationFactory
from tests.tickets.factories import TicketFactory
from tickets import services
from tickets.models import Ticket, TicketSatisfaction
from tourbrain_support.notifications.models import OutboxMessage
from tourbrain_support.roles import Role

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_customer_files_a_ticket_sees_it_and_rates_a_solved_one(page, login_as, make_user):
    # given a customer of an organization with an earlier ticket that support solved
    organization = OrganizationFactory(name="Backline Booking")
    customer = make_user(None, name="Cass Customer")
    MembershipFactory(user=customer, organization=organization)
    rep = make_user(Role.SUPPORT_REP, name="Rita Rep")
    solved = TicketFactory(requester=customer, organization=organization, subject="Invoice shows the wrong VAT")
    services.ticket_reply(ticket=solved, author=rep, body="Corrected the VAT number on your invoices.")
    services.ticket_set_status(ticket=solved, status=Ticket.Status.SOLVED, actor=rep)

    # when they sign in, they land on the portal
    login_as(user=customer)
    assert page.url.endswith("/portal/")

    # and file a new ticket
    page.click("[data-testid=new-ticket]")
    page.select_option("#id_type", "bug")
    page.select_option("#id_priority", "high")
    page.fill("#id_description", "The PDF export of the tour book is blank <b>since</b> this morning")
    page.fill("#id_reproduction_steps", "1. Open the tour\n2. Export")
    page.click("[data-testid=new-ticket-form] button[type=submit]")
    page.wait_for_load_state()
    filed = Ticket.objects.exclude(pk=solved.pk).get()
    assert page.url.endswith(f"/portal/tickets/{filed.reference}/")
    assert f"{filed.reference} filed" in page.content()
    assert "<b>since</b>" in page.locator("[data-testid=description]").inner_text()  # shown as text
    assert filed.channel == "portal"

    # then it is in their list
    page.click("text=← My tickets")
    row = page.locator(f'tr[data-reference="{filed.reference}"]')
    assert "The PDF export of the tour book is blank" in row.inner_text()
    # and the solved ticket shows the staff reply as new
    solved_row = page.locator(f'tr[data-reference="{solved.reference}"]')
    assert "1 new reply" in solved_row.inner_text()

    # when they open the solved ticket and rate it
    solved_row.locator("a").click()
    page.wait_for_load_state()
    assert "Corrected the VAT number" in page.locator("[data-testid=conversation]").inner_text()
    page.check("input[name=score][value='5']")
    page.fill("#id_comment", "Quick and clear, thanks!")
    page.click("[data-testid=rating] button[type=submit]")
    page.wait_for_load_state()

    # then the rating is recorded and shown
    assert "You rated this 5/5" in page.locator("[data-testid=current-rating]").inner_text()
    rating = TicketSatisfaction.objects.get(ticket=solved)
    assert (rating.score, rating.comment) == (5, "Quick and clear, thanks!")


def test_customer_signs_in_with_an_emailed_link(page, make_user):
    customer = make_user(None, email="cass@backline.test", name="Cass Customer")

    # when they ask for a link on the login page
    page.goto("/accounts/login/")
    page.fill("#id_link_email", "cass@backline.test")
    page.click("[data-testid=login-link-form] button[type=submit]")
    page.wait_for_load_state()
    assert "a sign-in link is on its way" in page.content()

    # and open the emailed link, then confirm
    body = OutboxMessage.objects.get(kind="portal.login_link", recipient=customer.email).body
    path = re.search(r"http://[^/\s]+(/portal/login/\S+/)", body).group(1)
    page.goto(path)
    page.click("[data-testid=use-link]")
    page.wait_for_load_state()

    # then they are signed in on the portal; the link does not work twice
    assert page.url.endswith("/portal/")
    assert "Cass Customer" in page.locator("[data-testid=current-user]").inner_text()
    page.context.clear_cookies()
    page.goto(path)
    assert "already used" in page.locator("[data-testid=link-problem]").inner_text()
