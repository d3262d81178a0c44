"""Surveys in a real browser, from the links of the emails (no sign-in): the one-click CSAT rating with a
comment, and the NPS form."""

import re
from datetime import timedelta
from urllib.parse import urlsplit

import pytest
from django.utils import timezone

from tests.factories import MembershipFactory, OrganizationFactory
from tests.tickets.factories import TicketFactory
from tickets import services, surveys
from tickets.models import NpsSurvey, Ticket, TicketSatisfaction
from tourbrain_support.notifications.models import OutboxMessage
from tourbrain_support.roles import Role

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def _link(html: str, kind: str, score: int) -> str:
    found = re.search(rf'href="(\S+/survey/{kind}/\S+/)(\?score={score})?" data-score="{score}"', html)
    return urlsplit(found.group(1)).path + (found.group(2) or "")


def test_one_click_rating_from_the_solve_email_then_a_comment(page, make_user):
    # given a solved ticket whose solve email carries the rating links
    customer = make_user(None, email="cass@band.example.com", name="Cass Customer")
    MembershipFactory(user=customer, organization=OrganizationFactory())
    rep = make_user(Role.SUPPORT_REP)
    ticket = TicketFactory(requester=customer, organization=customer.organizations.first(), subject="VAT is wrong")
    services.ticket_set_status(ticket=ticket, status=Ticket.Status.SOLVED, actor=rep)
    solve_mail = OutboxMessage.objects.get(kind=OutboxMessage.Kind.CUSTOMER_STATUS, recipient=customer.email)

    # when the customer clicks "4" in the email (not signed in)
    page.goto(_link(solve_mail.html_body, "csat", 4))

    # then the rating is recorded and shown, with a form for a comment
    assert "You rated our support 4/5" in page.locator("[data-testid=current-rating]").inner_text()
    assert page.is_checked("input[name=score][value='4']")
    assert TicketSatisfaction.objects.get(ticket=ticket).rated_by == customer

    # when they add a comment
    page.fill("#id_comment", "Fixed within the hour.")
    page.click("[data-testid=send-comment]")
    page.wait_for_load_state()

    # then it is saved with the rating
    assert "Your answer was saved" in page.content()
    rating = TicketSatisfaction.objects.get(ticket=ticket)
    assert (rating.score, rating.comment) == (4, "Fixed within the hour.")


def test_nps_form_from_the_survey_email(page, make_user):
    customer = make_user(None, email="nia@band.example.com", date_joined=timezone.now() - timedelta(days=40))
    survey = surveys.nps_survey_send(user=customer)
    mail = OutboxMessage.objects.get(kind=surveys.KIND_NPS_SURVEY)

    # the "8" button of the email opens the form with 8 chosen
    page.goto(_link(mail.html_body, "nps", 8))
    assert page.is_checked("input[name=score][value='8']")
    page.fill("#id_comment", "Routing is great; exports could be faster.")
    page.click("[data-testid=nps-send]")
    page.wait_for_load_state()

    assert "Your answer was saved" in page.locator("[data-testid=nps-thanks]").inner_text()
    survey = NpsSurvey.objects.get(pk=survey.pk)
    assert (survey.score, survey.comment) == (8, "Routing is great; exports could be faster.")
