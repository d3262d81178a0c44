"""Portal sign-in links: emailed through the outbox (real SMTP), signed, expiring, single-use, revocable,
customers only; the "email me a link" form never says whether an address exists and is rate-limited."""

import re
from datetime import timedelta

import pytest
import time_machine
from django.core.cache import cache
from django.test import Client
from django.utils import timezone

from audit.models import AuditEvent
from tickets.models import PortalLoginLink
from tickets.portal_links import portal_links_revoke, ticket_portal_link
from tourbrain_support.api import ApplicationError
from tourbrain_support.notifications.models import OutboxMessage
from tourbrain_support.roles import Role

pytestmark = pytest.mark.django_db

LINK = re.compile(r"http://[^/\s]+(/portal/login/[^\s]+/)")


@pytest.fixture(autouse=True)
def _fresh_rate_limits():
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def customer(make_user):
    return make_user(None, email="cass@backline.test", name="Cass Customer")


def _link_path(message: OutboxMessage) -> str:
    return LINK.search(message.body).group(1)


def test_link_is_emailed_through_the_outbox_and_signs_in_once(
    customer, smtp_server, celery_eager, django_capture_on_commit_callbacks, django_assert_max_num_queries
):
    # when support (or the customer) sends a link, it goes out as a real email after commit
    with django_capture_on_commit_callbacks(execute=True):
        message = ticket_portal_link(user=customer)
    message.refresh_from_db()
    assert message.status == OutboxMessage.Status.SENT
    received = smtp_server.messages[-1]
    assert received.rcpt_tos == ["cass@backline.test"]
    path = _link_path(message)
    assert path in received.text()
    assert AuditEvent.objects.filter(resource_type="portal_login_link", changes__operation="login_link_sent").exists()

    # opening it only asks to confirm (a mail scanner's GET does not use it up)
    client = Client()
    with django_assert_max_num_queries(3):  # + the maintenance notices when not cached
        page = client.get(path)
    assert page.status_code == 200
    assert 'data-testid="use-link"' in page.content.decode()
    assert PortalLoginLink.objects.get().used_at is None

    # confirming signs the customer in and lands on the portal
    response = client.post(path)
    assert (response.status_code, response.url) == (302, "/portal/")
    assert client.get("/portal/").status_code == 200

    # and the link is spent: a second use (another browser) is refused
    again = Client().post(path)
    assert again.status_code == 410
    assert "already used" in again.content.decode()


def test_expired_revoked_and_tampered_links_are_refused(customer, celery_eager):
    expired = _link_path(ticket_portal_link(user=customer))
    revoked = _link_path(ticket_portal_link(user=customer))
    good = _link_path(ticket_portal_link(user=customer))

    # revoking one link by hand, then all of the customer's remaining links, audited
    link_ids = sorted(PortalLoginLink.objects.values_list("pk", flat=True))
    assert portal_links_revoke(user=customer, links=PortalLoginLink.objects.filter(pk=link_ids[1])) == 1
    with time_machine.travel(timezone.now() + timedelta(minutes=31)):
        response = Client().post(expired)
        assert response.status_code == 410
        assert "expired" in response.content.decode()
    assert "revoked" in Client().post(revoked).content.decode()

    signed = good.rstrip("/").rsplit("/", 1)[1]
    tampered = good.replace(signed, signed[:-2] + ("AA" if not signed.endswith("AA") else "BB"))
    assert "not valid" in Client().post(tampered).content.decode()
    assert Client().get("/portal/login/garbage/").status_code == 410

    assert portal_links_revoke(user=customer) == 2  # the two never used (the clock is back to now)
    assert Client().post(good).status_code == 410
    assert not PortalLoginLink.objects.filter(used_at__isnull=False).exists()


def test_links_are_for_customers_only(make_user):
    rep = make_user(Role.SUPPORT_REP)
    with pytest.raises(ApplicationError) as error:
        ticket_portal_link(user=rep)
    assert error.value.code == "not_a_customer"
    assert not PortalLoginLink.objects.exists()


def test_request_form_answers_the_same_for_known_unknown_and_staff_addresses(customer, make_user, celery_eager):
    make_user(Role.SUPPORT_REP, email="rita@tourbrain.test")
    answers = []
    for email in ("Cass@Backline.test", "nobody@nowhere.test", "rita@tourbrain.test"):
        client = Client()
        response = client.post("/portal/login/link/", {"email": email}, follow=True)
        answers.append((response.status_code, [str(message) for message in response.context["messages"]]))
    assert answers[0] == answers[1] == answers[2]
    assert answers[0][0] == 200
    # only the customer got a link
    assert list(OutboxMessage.objects.filter(kind="portal.login_link").values_list("recipient", flat=True)) == [
        "cass@backline.test"
    ]


def test_request_form_is_rate_limited_per_address_and_per_ip(customer, settings):
    settings.PORTAL_LOGIN_LINK_RATE = 2
    settings.PORTAL_LOGIN_LINK_IP_RATE = 4
    client = Client()
    statuses = [client.post("/portal/login/link/", {"email": "cass@backline.test"}).status_code for _ in range(3)]
    assert statuses == [302, 302, 429]
    refused = client.post("/portal/login/link/", {"email": "cass@backline.test"})
    assert "Too many sign-in links" in refused.content.decode()
    assert PortalLoginLink.objects.count() == 2
    # the IP limit covers other addresses too (a count that says nothing about who exists)
    assert client.post("/portal/login/link/", {"email": "someone@else.test"}).status_code == 429


@pytest.mark.parametrize("email", ["", "not-an-email", "a" * 300 + "@x.test", "x@y.test\x00"])
def test_bad_addresses_are_form_errors(email):
    response = Client().post("/portal/login/link/", {"email": email})
    assert response.status_code == 400
    assert 'class="field-error"' in response.content.decode()
    assert not OutboxMessage.objects.exists()


def test_login_page_offers_the_link_form(client, django_assert_max_num_queries):
    with django_assert_max_num_queries(1):  # the maintenance notices when not cached; none when they are
        html = client.get("/accounts/login/").content.decode()
    assert 'action="/portal/login/link/"' in html


def test_leads_revoke_links_in_the_admin_reps_only_see_them(customer, client_as, celery_eager):
    path = _link_path(ticket_portal_link(user=customer))
    link = PortalLoginLink.objects.get()
    rep = client_as(Role.SUPPORT_REP)
    assert rep.get("/admin/tickets/portalloginlink/").status_code == 200
    rep.post("/admin/tickets/portalloginlink/", {"action": "revoke", "_selected_action": [link.pk]})
    link.refresh_from_db()
    assert link.revoked_at is None  # the action is not offered to reps

    lead = client_as(Role.SUPPORT_LEAD)
    response = lead.post("/admin/tickets/portalloginlink/", {"action": "revoke", "_selected_action": [link.pk]})
    assert response.status_code == 302
    link.refresh_from_db()
    assert link.revoked_at is not None
    assert AuditEvent.objects.filter(changes__operation="login_links_revoked").exists()
    assert "revoked" in Client().post(path).content.decode()


def test_a_rep_emails_the_tickets_customer_a_link_from_the_ticket_page(customer, client_as):
    from tests.tickets.factories import TicketFactory

    ticket = TicketFactory(requester=customer)
    rep = client_as(Role.SUPPORT_REP)
    assert 'data-testid="send-portal-link"' in rep.get(f"/queue/{ticket.reference}/").content.decode()
    response = rep.post(f"/queue/{ticket.reference}/portal-link/")
    assert (response.status_code, response.url) == (302, f"/queue/{ticket.reference}/")
    message = OutboxMessage.objects.get(kind="portal.login_link")
    assert message.recipient == "cass@backline.test"
    link = PortalLoginLink.objects.get()
    assert link.created_by == rep.user
    sent = AuditEvent.objects.get(changes__operation="login_link_sent")
    assert sent.actor_id == rep.user.pk
    # customers cannot use the staff action
    customer_client = Client()
    customer_client.force_login(customer)
    assert customer_client.post(f"/queue/{ticket.reference}/portal-link/").status_code == 403
    assert PortalLoginLink.objects.count() == 1
