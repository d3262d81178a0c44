"""A ticket is about a component (set by staff on the ticket page); when a public incident on that component
resolves, each beta user with open tickets about it gets one email (real SMTP server), exactly once."""

import pytest

from tests.factories import UserFactory
from tests.tickets.factories import TicketFactory
from tickets.models import Ticket
from tourbrain_support.notifications.models import OutboxMessage
from tourbrain_support.notifications.outbox import outbox_deliver_due
from tourbrain_support.oncall import incidents
from tourbrain_support.oncall.models import Component, Incident
from tourbrain_support.roles import Role

pytestmark = pytest.mark.django_db

KIND = "incident.resolved_beta"


@pytest.fixture
def components(db):
    return Component.objects.create(name="Sign-in", position=0), Component.objects.create(name="Exports", position=1)


def test_staff_set_the_component_on_the_ticket_page(client_as, components):
    sign_in, _exports = components
    ticket = TicketFactory()
    client = client_as(Role.SUPPORT_REP)
    page = client.get(f"/queue/{ticket.reference}/").content.decode()
    assert 'name="component"' in page
    assert ">Sign-in</option>" in page

    response = client.post(
        f"/queue/{ticket.reference}/component/", {"component": sign_in.pk, "version": ticket.version}
    )
    assert response.status_code == 302
    ticket.refresh_from_db()
    assert ticket.component == sign_in
    # an unknown component is a form error, not a change
    response = client.post(f"/queue/{ticket.reference}/component/", {"component": 999999, "version": ticket.version})
    assert response.status_code == 400 or "Select a valid choice" in response.content.decode()
    ticket.refresh_from_db()
    assert ticket.component == sign_in
    # and back to "not known"
    client.post(f"/queue/{ticket.reference}/component/", {"component": "", "version": ticket.version})
    ticket.refresh_from_db()
    assert ticket.component is None


def test_resolving_an_incident_emails_each_affected_beta_user_once(components, smtp_server, settings):
    settings.SITE_URL = "https://support.tourbrain.test"
    sign_in, exports = components
    ana = UserFactory(name="Ana", email="ana@beta.test", is_beta=True)
    ben = UserFactory(name="Ben", email="ben@beta.test", is_beta=True)
    cal = UserFactory(name="Cal", email="cal@plain.test", is_beta=False)
    first = TicketFactory(requester=ana, component=sign_in, subject="Cannot sign in")
    second = TicketFactory(requester=ana, component=sign_in, subject="Sign-in loops")
    TicketFactory(requester=ben, component=exports, subject="PDF blank")  # another component
    TicketFactory(requester=cal, component=sign_in)  # not a beta user
    solved = TicketFactory(requester=ben, component=sign_in)
    Ticket.objects.filter(pk=solved.pk).update(status=Ticket.Status.SOLVED)  # not open any more

    incident = incidents.incident_open(
        title="Sign-in failures", severity="major", message="Investigating.", components=[sign_in]
    )
    assert not OutboxMessage.objects.filter(kind=KIND).exists()  # nothing while it is open

    incidents.incident_update(incident=incident, status=Incident.Status.RESOLVED, message="Fixed.")
    rows = OutboxMessage.objects.filter(kind=KIND)
    assert list(rows.values_list("recipient", flat=True)) == ["ana@beta.test"]

    outbox_deliver_due()
    [mail] = smtp_server.wait_for(1)
    assert mail.rcpt_tos == ["ana@beta.test"]
    assert mail.message["Subject"] == "Resolved: Sign-in failures"
    text = mail.text()
    assert f"https://support.tourbrain.test/portal/tickets/{first.reference}/" in text
    assert f"{second.reference} Sign-in loops" in text
    assert "Hello Ana," in text

    # exactly once: delivering again and the resolve hook running again send nothing more
    from tickets.incident_notices import incident_resolved_notify

    assert incident_resolved_notify(Incident.objects.get(pk=incident.pk)) == 0
    outbox_deliver_due()
    assert len(smtp_server.wait_for(2, timeout=0.5)) == 1


def test_an_internal_incident_tells_no_customer(components):
    sign_in, _exports = components
    TicketFactory(requester=UserFactory(email="ana@beta.test", is_beta=True), component=sign_in)
    incident = incidents.incident_open(
        title="Internal", severity="minor", message="x", components=[sign_in], is_public=False
    )
    incidents.incident_update(incident=incident, status=Incident.Status.RESOLVED, message="Fixed.")
    assert not OutboxMessage.objects.filter(kind=KIND).exists()


def test_the_email_count_query_cost_does_not_grow_with_tickets(components, django_assert_max_num_queries):
    sign_in, _exports = components
    for index in range(6):
        TicketFactory(requester=UserFactory(email=f"u{index}@beta.test", is_beta=True), component=sign_in)
    incident = incidents.incident_open(title="Down", severity="major", message="x", components=[sign_in])
    from tickets.incident_notices import incident_resolved_notify

    with django_assert_max_num_queries(6):  # components, tickets with users, the outbox insert (and savepoints)
        assert incident_resolved_notify(incident) == 6
