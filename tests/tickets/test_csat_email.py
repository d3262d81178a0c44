"""CSAT by email: the solve email (delivered to a real SMTP server) carries signed one-click links; opening one
records the rating under the existing rating rules; a low rating reaches the team lead through the outbox."""

import re
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

import pytest
import time_machine
from django.core import signing

from audit.models import AuditEvent
from tests.factories import MembershipFactory, OrganizationFactory
from tickets import services
from tickets.models import Team, Ticket, TicketSatisfaction
from tickets.surveys import KIND_CSAT_LOW
from tourbrain_support.notifications.models import OutboxMessage
from tourbrain_support.notifications.outbox import outbox_deliver_due
from tourbrain_support.roles import Role

pytestmark = pytest.mark.django_db

MONDAY_10 = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
LINK_RE = re.compile(r"(?P<score>[1-5]) \([A-Za-z ]+\): (?P<url>\S+/survey/csat/\S+/)")


@pytest.fixture(autouse=True)
def clock():
    with time_machine.travel(MONDAY_10, tick=True) as traveller:
        yield traveller


@pytest.fixture
def rep(make_user):
    return make_user(Role.SUPPORT_REP, email="rep@tourbrain.test", name="Robin Rep")


@pytest.fixture
def lead(make_user):
    person = make_user(Role.SUPPORT_LEAD, email="lead@tourbrain.test", name="Lee Lead")
    Team.objects.filter(slug="support").update(lead=person)
    return person


@pytest.fixture
def customer():
    return MembershipFactory(
        organization=OrganizationFactory(), user__email="ana@band.example.com", user__name="Ana"
    ).user


@pytest.fixture
def solved(customer, rep):
    ticket = services.ticket_create(
        requester=customer,
        organization=customer.organizations.first(),
        type="question",
        priority="medium",
        subject="Tour export misses dates",
        description="The export has no dates.",
        channel="portal",
    )
    return services.ticket_set_status(ticket=ticket, status="solved", actor=rep)


def _links(smtp_server, customer) -> dict[int, str]:
    outbox_deliver_due()
    mails = [mail for mail in smtp_server.messages if customer.email in mail.rcpt_tos]
    solve_mail = next(mail for mail in mails if "solved" in mail.text())
    links = {int(found["score"]): found["url"] for found in LINK_RE.finditer(solve_mail.text())}
    # The HTML part has the same five links as buttons.
    for url in links.values():
        assert url in solve_mail.html()
    return links


def _path(url: str) -> str:
    return urlsplit(url).path


def test_one_click_from_the_solve_email_records_the_rating(client, smtp_server, solved, customer, lead):
    links = _links(smtp_server, customer)
    assert sorted(links) == [1, 2, 3, 4, 5]

    response = client.get(_path(links[4]))

    assert response.status_code == 200
    assert b"4/5" in response.content
    rating = TicketSatisfaction.objects.get(ticket=solved)
    assert (rating.score, rating.rated_by, rating.solved_at) == (4, customer, solved.solved_at)
    assert not OutboxMessage.objects.filter(kind=KIND_CSAT_LOW).exists()


def test_a_second_click_changes_nothing_and_another_score_changes_it(client, smtp_server, solved, customer, lead):
    links = _links(smtp_server, customer)
    client.get(_path(links[5]))
    events = AuditEvent.objects.count()

    assert client.get(_path(links[5])).status_code == 200  # the same click again (or a mail scanner)
    assert AuditEvent.objects.count() == events

    assert client.get(_path(links[3])).status_code == 200
    assert TicketSatisfaction.objects.get(ticket=solved).score == 3
    assert TicketSatisfaction.objects.count() == 1


def test_the_comment_form_adds_a_comment(client, smtp_server, solved, customer, lead):
    links = _links(smtp_server, customer)
    client.get(_path(links[4]))

    response = client.post(_path(links[4]), {"score": "4", "comment": "Quick and friendly."})

    assert response.status_code == 200
    assert b"Your answer was saved" in response.content
    rating = TicketSatisfaction.objects.get(ticket=solved)
    assert (rating.score, rating.comment) == (4, "Quick and friendly.")
    # The comment stays when the same link is opened again.
    client.get(_path(links[4]))
    assert TicketSatisfaction.objects.get(ticket=solved).comment == "Quick and friendly."


def test_the_comment_form_refuses_a_missing_score(client, smtp_server, solved, customer, lead):
    links = _links(smtp_server, customer)
    response = client.post(_path(links[4]), {"score": "9", "comment": "x"})
    assert response.status_code == 400
    assert b"Choose a score from 1 to 5" in response.content


def test_a_low_rating_notifies_the_team_lead_once_per_solve(client, smtp_server, solved, customer, lead):
    links = _links(smtp_server, customer)
    client.get(_path(links[2]))
    client.get(_path(links[1]))  # lower still: the lead already knows
    client.post(_path(links[1]), {"score": "1", "comment": "Nobody read my question."})

    rows = OutboxMessage.objects.filter(kind=KIND_CSAT_LOW)
    assert [(row.recipient, row.payload["reference"]) for row in rows] == [(lead.email, solved.reference)]
    outbox_deliver_due()
    to_lead = [mail for mail in smtp_server.messages if lead.email in mail.rcpt_tos]
    assert len(to_lead) == 1
    assert "2/5" in to_lead[0].message["Subject"]
    assert f"/queue/{solved.reference}/" in to_lead[0].text()


def test_the_rating_cannot_be_changed_after_seven_days(client, clock, smtp_server, solved, customer, lead):
    links = _links(smtp_server, customer)
    client.get(_path(links[5]))
    clock.shift(timedelta(days=8))

    response = client.get(_path(links[2]))

    assert response.status_code == 409
    assert b"within 7 days" in response.content
    assert TicketSatisfaction.objects.get(ticket=solved).score == 5
    assert not OutboxMessage.objects.filter(kind=KIND_CSAT_LOW).exists()


def test_a_tampered_link_is_a_clear_400(client, smtp_server, solved, customer):
    links = _links(smtp_server, customer)
    token = _path(links[5]).rstrip("/").rpartition("/")[2]
    forged = signing.dumps([solved.pk, 1, 0], salt="another-salt")
    for bad in (token[:-2] + "xx", forged, "nonsense", token.replace(":", "", 1)):
        response = client.get(f"/survey/csat/{bad}/")
        assert response.status_code == 400
        assert b"This link is not valid" in response.content
    assert not TicketSatisfaction.objects.exists()


def test_an_expired_link_is_410(client, clock, smtp_server, solved, customer, settings):
    links = _links(smtp_server, customer)
    clock.shift(timedelta(days=settings.CSAT_LINK_DAYS + 1))
    response = client.get(_path(links[5]))
    assert response.status_code == 410
    assert b"expired" in response.content
    assert not TicketSatisfaction.objects.exists()


def test_a_link_from_an_earlier_solve_is_410(client, clock, smtp_server, solved, customer, rep):
    links = _links(smtp_server, customer)
    services.ticket_set_status(ticket=solved, status="open", actor=rep)
    clock.shift(timedelta(minutes=5))
    services.ticket_set_status(ticket=Ticket.objects.get(pk=solved.pk), status="solved", actor=rep)

    response = client.get(_path(links[5]))

    assert response.status_code == 410
    assert b"earlier email" in response.content


def test_a_link_for_a_reopened_ticket_is_refused(client, smtp_server, solved, customer, rep):
    links = _links(smtp_server, customer)
    services.ticket_set_status(ticket=solved, status="open", actor=rep)
    # Reopening clears the solve: the link no longer names the ticket's solve.
    assert client.get(_path(links[5])).status_code in (409, 410)
    assert not TicketSatisfaction.objects.exists()


def test_the_link_page_reads_a_fixed_number_of_queries(
    client, smtp_server, solved, customer, lead, django_assert_max_num_queries
):
    links = _links(smtp_server, customer)
    client.get(_path(links[4]))
    with django_assert_max_num_queries(8):
        response = client.get(_path(links[4]))
    assert response.status_code == 200


def test_the_rating_is_shown_on_the_staff_ticket_page(client, smtp_server, solved, customer, lead):
    links = _links(smtp_server, customer)
    client.post(_path(links[2]), {"score": "2", "comment": "Slow <b>answer</b>."})
    client.force_login(lead)
    response = client.get(f"/queue/{solved.reference}/")
    assert response.status_code == 200
    assert "2/5: “Slow &lt;b&gt;answer&lt;/b&gt;.”" in response.content.decode()
