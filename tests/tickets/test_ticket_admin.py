"""The ticket admin: the queue's scoping (a ticket outside the user's teams does not exist) and read-only."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from tests.tickets.factories import TicketFactory
from tickets import services
from tickets.models import Ticket
from tourbrain_support.roles import Role

pytestmark = pytest.mark.django_db

CHANGELIST = reverse("admin:tickets_ticket_changelist")


def _change(ticket) -> str:
    return reverse("admin:tickets_ticket_change", args=[ticket.pk])


def _history(ticket) -> str:
    return reverse("admin:tickets_ticket_history", args=[ticket.pk])


@pytest.fixture
def support_ticket(make_user):
    """A support-team ticket with an internal note and a history row beyond its creation."""
    ticket = TicketFactory(subject="Support-only subject", type=Ticket.Type.QUESTION)
    assert ticket.team == Ticket.Team.SUPPORT
    services.ticket_add_note(ticket=ticket, author=make_user(Role.SUPPORT_REP), body="Support internal note")
    return Ticket.objects.get(pk=ticket.pk)


@pytest.fixture
def engineering_ticket():
    ticket = TicketFactory(subject="Engineering subject", type=Ticket.Type.BUG)
    assert ticket.team == Ticket.Team.ENGINEERING
    return ticket


def test_an_engineer_lists_only_engineering_tickets(client_as, support_ticket, engineering_ticket):
    client = client_as(Role.ENGINEER)

    response = client.get(CHANGELIST)

    assert response.status_code == 200
    assert list(response.context["cl"].result_list) == [engineering_ticket]
    html = response.content.decode()
    assert "Engineering subject" in html
    assert "Support-only subject" not in html
    # a search for the other team's ticket by its exact reference finds nothing either
    found = client.get(CHANGELIST, {"q": support_ticket.reference})
    assert list(found.context["cl"].result_list) == []


@pytest.mark.parametrize("role", [Role.ENGINEER, Role.BILLING_ADMIN])
def test_another_teams_ticket_does_not_exist_for_them(client_as, support_ticket, role):
    client = client_as(role)

    # the change page says it does not exist (no subject, no internal note)
    page = client.get(_change(support_ticket), follow=True)
    html = page.content.decode()
    assert "doesn\u2019t exist" in html  # Django's "does not exist" message
    assert "Support-only subject" not in html
    assert "Support internal note" not in html

    # the history and a historical version are 404 (simple_history would fall back to the history rows)
    assert client.get(_history(support_ticket)).status_code == 404
    version = support_ticket.history.latest("history_date").history_id
    form_url = reverse("admin:tickets_ticket_simple_history", args=[support_ticket.pk, version])
    assert client.get(form_url).status_code == 404


def test_an_engineer_cannot_change_another_teams_ticket(client_as, support_ticket):
    # given an engineer and the change form's fields as a browser would post them
    client = client_as(Role.ENGINEER)
    data = {
        "subject": "Changed by engineering",
        "description": "changed",
        "reproduction_steps": "changed",
        "browser_info": "changed",
        "url": "https://example.test/changed",
        "messages-TOTAL_FORMS": "0",
        "messages-INITIAL_FORMS": "0",
    }

    # when they post it, then nothing changed and the version did not move
    response = client.post(_change(support_ticket), data)
    assert response.status_code in (302, 403)
    after = Ticket.objects.get(pk=support_ticket.pk)
    assert (after.subject, after.description, after.version) == (
        "Support-only subject",
        support_ticket.description,
        support_ticket.version,
    )


@pytest.mark.parametrize("role", [Role.ENGINEER, Role.SUPPORT_REP, Role.SUPPORT_LEAD, Role.ADMIN])
def test_tickets_are_read_only_in_the_admin_even_in_scope(client_as, engineering_ticket, role):
    # given a user who may work the ticket
    client = client_as(role)

    # when they open it, then they see it with its fields read-only and no save button
    page = client.get(_change(engineering_ticket))
    assert page.status_code == 200
    html = page.content.decode()
    assert "Engineering subject" in html
    assert 'name="subject"' not in html
    assert 'name="_save"' not in html

    # and a post (subject, a duplicate-of pointer) changes nothing, version included
    response = client.post(_change(engineering_ticket), {"subject": "Edited", "duplicate_of": engineering_ticket.pk})
    assert response.status_code == 403
    after = Ticket.objects.get(pk=engineering_ticket.pk)
    assert (after.subject, after.duplicate_of_id, after.version) == (
        "Engineering subject",
        None,
        engineering_ticket.version,
    )


def test_a_history_revert_is_refused(client_as, engineering_ticket):
    # given an older version of the ticket's history
    client = client_as(Role.ADMIN)
    version = engineering_ticket.history.earliest("history_date").history_id
    services.ticket_set_priority(ticket=engineering_ticket, priority=Ticket.Priority.HIGH, actor=client.user)
    url = reverse("admin:tickets_ticket_simple_history", args=[engineering_ticket.pk, version])

    # when someone posts the revert form, then it is refused and the ticket keeps its state
    assert client.get(url).status_code == 200
    assert client.post(url, {}).status_code == 403
    assert Ticket.objects.get(pk=engineering_ticket.pk).priority == Ticket.Priority.HIGH


def test_internal_notes_inline_only_for_tickets_in_scope(client_as, support_ticket):
    assert "Support internal note" in client_as(Role.SUPPORT_REP).get(_change(support_ticket)).content.decode()


def test_product_managers_see_no_tickets(client_as, support_ticket, engineering_ticket):
    client = client_as(Role.PRODUCT_MANAGER)
    assert list(client.get(CHANGELIST).context["cl"].result_list) == []
    assert client.get(_history(engineering_ticket)).status_code == 404


def test_related_links_only_where_the_viewer_may_follow_them(client_as, engineering_ticket):
    # a rep sees the requester as text (the user admin is the admins' alone); an admin gets the link
    user_url = reverse("admin:tourbrain_support_user_change", args=[engineering_ticket.user_id])
    rep_page = client_as(Role.SUPPORT_REP).get(_change(engineering_ticket)).content.decode()
    assert str(engineering_ticket.user) in rep_page
    assert user_url not in rep_page
    admin_page = client_as(Role.ADMIN).get(_change(engineering_ticket)).content.decode()
    assert user_url in admin_page


def test_attachments_follow_the_ticket_scope(client_as, support_ticket, engineering_ticket):
    # given an attachment on each team's ticket
    for ticket, name in ((support_ticket, "support.txt"), (engineering_ticket, "engineering.txt")):
        upload = SimpleUploadedFile(name, b"text", content_type="text/plain")
        services.ticket_reply(ticket=ticket, author=ticket.user, body="file", attachments=[upload])
    client = client_as(Role.ENGINEER)

    # when an engineer lists attachments, then only their team's is there, with a download link that works
    listing = client.get(reverse("admin:tickets_attachment_changelist"))
    assert [item.filename for item in listing.context["cl"].result_list] == ["engineering.txt"]
    support_file = support_ticket.messages.get(attachments__isnull=False).attachments.get()
    assert client.get(reverse("admin:tickets_attachment_change", args=[support_file.pk]), follow=True).context[
        "messages"
    ]
    engineering_file = engineering_ticket.messages.get(attachments__isnull=False).attachments.get()
    page = client.get(reverse("admin:tickets_attachment_change", args=[engineering_file.pk])).content.decode()
    download = f"/queue/{engineering_ticket.reference}/attachments/{engineering_file.pk}/"
    assert download in page
    assert client.get(download).status_code == 200
