"""Customer portal pages: own tickets (and the organization's for its admins), a new ticket, the conversation,
replies with attachments, rating; another customer's ticket is 404; query counts stay flat as data grows."""

from datetime import timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.utils import timezone
from django.utils.html import escape

from knowledge_base.models import Article
from tests.factories import MembershipFactory, OrganizationFactory, UserFactory
from tests.knowledge_base.factories import ArticleFactory
from tests.tickets.factories import TicketFactory
from tickets import services
from tickets.models import Attachment, Ticket, TicketSatisfaction
from tourbrain_support.models import Membership
from tourbrain_support.roles import Role

pytestmark = pytest.mark.django_db

HOSTILE = '<script>alert("x")</script><img src=x onerror=alert(1)>'


@pytest.fixture
def customer_org():
    return OrganizationFactory(name="Backline Booking")


@pytest.fixture
def customer(customer_org):
    return MembershipFactory(organization=customer_org, user=UserFactory(name="Cass Customer")).user


@pytest.fixture
def customer_client(customer):
    client = Client()
    client.force_login(customer)
    return client


@pytest.fixture
def rep(make_user):
    return make_user(Role.SUPPORT_REP, name="Rita Rep")


def _ticket(customer, organization, **fields):
    return TicketFactory(requester=customer, organization=organization, **fields)


def _solve(ticket, rep):
    services.ticket_reply(ticket=ticket, author=rep, body="Fixed on our side.")
    return services.ticket_set_status(ticket=ticket, status=Ticket.Status.SOLVED, actor=rep)


def test_list_shows_only_own_tickets_with_constant_queries(
    customer, customer_org, customer_client, django_assert_max_num_queries
):
    # given the customer's tickets and other people's tickets (one of the same organization)
    mine = [_ticket(customer, customer_org, subject=f"Mine {index}") for index in range(3)]
    colleague = MembershipFactory(organization=customer_org).user
    _ticket(colleague, customer_org, subject="Colleague's ticket")
    TicketFactory(subject="Stranger's ticket")

    with django_assert_max_num_queries(9) as few:
        response = customer_client.get("/portal/")
    html = response.content.decode()
    assert response.status_code == 200
    assert all(ticket.reference in html for ticket in mine)
    assert "Colleague's ticket" not in html
    assert "Stranger's ticket" not in html

    # when many more tickets exist, then the page runs the same number of queries
    for index in range(25):
        _ticket(customer, customer_org, subject=f"More {index}")
    with django_assert_max_num_queries(len(few.captured_queries)):
        response = customer_client.get("/portal/")
    assert response.content.decode().count('data-reference="TB-') == 28


def test_org_admin_sees_the_organizations_tickets(customer_org, django_assert_max_num_queries):
    # given an owner of the organization and a colleague's ticket
    owner = MembershipFactory(organization=customer_org, role=Membership.Role.OWNER).user
    colleague = MembershipFactory(organization=customer_org).user
    theirs = _ticket(colleague, customer_org, subject="Colleague's export bug")
    client = Client()
    client.force_login(owner)

    # then "mine" leaves it out, the organization scope lists it and the detail opens
    assert theirs.reference not in client.get("/portal/").content.decode()
    with django_assert_max_num_queries(9):
        response = client.get("/portal/?scope=organization")
    assert theirs.reference in response.content.decode()
    assert client.get(f"/portal/tickets/{theirs.reference}/").status_code == 200

    # and a plain member asking for the organization scope sees only their own tickets
    member = Client()
    member.force_login(colleague)
    html = member.get("/portal/?scope=organization").content.decode()
    assert "Your organization's tickets" not in html
    assert theirs.reference in html


def test_org_admin_scope_leaves_other_organizations_out(customer_org, django_assert_max_num_queries):
    # given an admin of the organization, a colleague's tickets and another organization's ticket
    admin = MembershipFactory(organization=customer_org, role=Membership.Role.ADMIN).user
    colleague = MembershipFactory(organization=customer_org).user
    elsewhere = TicketFactory(subject="Another band's ticket")
    client = Client()
    client.force_login(admin)
    _ticket(colleague, customer_org, subject="First colleague ticket")
    with django_assert_max_num_queries(9) as few:
        client.get("/portal/?scope=organization")
    for index in range(6):
        _ticket(colleague, customer_org, subject=f"Colleague ticket {index}")

    # then the organization's page lists every colleague ticket with who filed it, in as many queries
    with django_assert_max_num_queries(len(few.captured_queries)):
        response = client.get("/portal/?scope=organization")
    html = response.content.decode()
    assert "Your organization's tickets" in html
    assert html.count('data-reference="TB-') == 7
    assert escape(str(colleague)) in html
    # and another organization's ticket is neither listed nor opened
    assert elsewhere.reference not in html
    assert client.get(f"/portal/tickets/{elsewhere.reference}/").status_code == 404


def test_another_customers_ticket_is_404_everywhere(customer_client, customer, customer_org, rep):
    # given a stranger's solved ticket with an attachment
    other = TicketFactory(subject="Not yours")
    message = services.ticket_reply(
        ticket=other,
        author=other.user,
        body="See file",
        attachments=[SimpleUploadedFile("a.txt", b"secret", content_type="text/plain")],
    )
    _solve(other, rep)
    attachment = Attachment.objects.get(message=message)
    reference = other.reference

    # then every portal page on it answers 404, as for a reference that does not exist
    assert customer_client.get(f"/portal/tickets/{reference}/").status_code == 404
    assert customer_client.get("/portal/tickets/TB-999999/").status_code == 404
    assert customer_client.get(f"/portal/tickets/{reference}/attachments/{attachment.pk}/").status_code == 404
    assert customer_client.post(f"/portal/tickets/{reference}/reply/", {"body": "hi"}).status_code == 404
    assert customer_client.post(f"/portal/tickets/{reference}/rate/", {"score": "1"}).status_code == 404
    assert other.messages.count() == 2
    assert not TicketSatisfaction.objects.exists()


def test_detail_shows_public_messages_only_inert_and_marks_replies_seen(
    customer, customer_org, customer_client, rep, django_assert_max_num_queries
):
    # given a ticket with hostile text, a public staff reply with a file and an internal note
    ticket = _ticket(customer, customer_org, subject=f"Export {HOSTILE}", description=f"It breaks {HOSTILE}")
    services.ticket_reply(
        ticket=ticket,
        author=rep,
        body=f"Try again {HOSTILE}",
        attachments=[SimpleUploadedFile("steps.txt", b"1. do it", content_type="text/plain")],
    )
    services.ticket_add_note(ticket=ticket, author=rep, body="Internal: customer is grumpy")
    list_html = customer_client.get("/portal/").content.decode()
    assert 'data-testid="unread"' in list_html

    # when the customer opens it
    with django_assert_max_num_queries(12):
        response = customer_client.get(f"/portal/tickets/{ticket.reference}/")

    # then the conversation shows the public reply and its file, never the note; hostile text is inert
    html = response.content.decode()
    assert response.status_code == 200
    assert "Try again" in html
    assert "steps.txt" in html
    assert "Internal: customer is grumpy" not in html
    assert "<script>alert" not in html
    assert "<img src=x" not in html
    assert "&lt;script&gt;alert" in html
    # and the staff reply is no longer unread
    assert 'data-testid="unread"' not in customer_client.get("/portal/").content.decode()
    # and the attachment downloads
    attachment = Attachment.objects.get(filename="steps.txt")
    download = customer_client.get(f"/portal/tickets/{ticket.reference}/attachments/{attachment.pk}/")
    assert download.status_code == 200
    assert b"".join(download.streaming_content) == b"1. do it"


def test_detail_query_count_does_not_grow_with_the_conversation(
    customer, customer_org, customer_client, rep, django_assert_max_num_queries
):
    ticket = _ticket(customer, customer_org)
    services.ticket_reply(ticket=ticket, author=rep, body="First")
    with django_assert_max_num_queries(12) as few:
        customer_client.get(f"/portal/tickets/{ticket.reference}/")
    for index in range(15):
        services.ticket_reply(
            ticket=ticket,
            author=rep if index % 2 else customer,
            body=f"Message {index}",
            attachments=[SimpleUploadedFile(f"f{index}.txt", b"x", content_type="text/plain")],
        )
    with django_assert_max_num_queries(len(few.captured_queries)):
        response = customer_client.get(f"/portal/tickets/{ticket.reference}/")
    assert response.content.decode().count('data-testid="public-message"') == 16


def test_new_ticket_is_filed_through_the_shared_service_on_the_portal_channel(
    customer, customer_org, customer_client, django_assert_max_num_queries
):
    with django_assert_max_num_queries(4):
        page = customer_client.get("/portal/new/")
    assert page.status_code == 200
    assert 'data-url="/portal/suggestions/"' in page.content.decode()

    response = customer_client.post(
        "/portal/new/",
        {
            "type": "bug",
            "priority": "high",
            "subject": "",
            "description": "The PDF export of the tour book is blank\nsince this morning",
            "reproduction_steps": "1. Open the tour",
            "url": "https://app.tourbrain.ai/tours/1",
        },
        HTTP_USER_AGENT="Chrome 126",
    )

    ticket = Ticket.objects.get(user=customer)
    assert response.status_code == 302
    assert response.url == f"/portal/tickets/{ticket.reference}/"
    assert (ticket.channel, ticket.organization_id) == ("portal", customer_org.pk)
    assert (ticket.type, ticket.priority) == ("bug", "high")
    assert ticket.subject == "The PDF export of the tour book is blank"
    assert ticket.browser_info == "Chrome 126"
    assert ticket.first_response_due_at is not None
    assert "business hour" in customer_client.get(response.url).content.decode()


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"type": "bug", "priority": "high", "description": ""}, "description"),
        ({"type": "nonsense", "priority": "high", "description": "x"}, "type"),
        ({"type": "bug", "priority": "high", "description": "x" * 50_001}, "description"),
        ({"type": "bug", "priority": "high", "description": "x", "url": "javascript:alert(1)"}, "url"),
    ],
)
def test_bad_new_ticket_is_a_form_error_and_writes_nothing(customer_client, data, field):
    response = customer_client.post("/portal/new/", data)
    assert response.status_code == 400
    assert response.context["form"].errors[field]
    assert not Ticket.objects.exists()


def test_suggestions_twin_answers_the_widget_json(customer_client, django_assert_max_num_queries):
    ArticleFactory(slug="setlist-sync", title="Setlist synchronisation", summary="Keep setlists in sync.")
    ArticleFactory(slug="setlist-runbook", title="Setlist synchronisation runbook", audience=Article.Audience.INTERNAL)
    ArticleFactory.create_batch(20)
    # A process's first search on SQLite also checks once that the FTS5 table exists; counted below is any later one.
    customer_client.get("/portal/suggestions/", {"q": "tour"})
    # session and user (2), the search itself (1 on SQLite, where a second pass may look for near words)
    with django_assert_max_num_queries(4):
        response = customer_client.get("/portal/suggestions/", {"q": "setlist synchronisation"})
    assert response.status_code == 200
    results = response.json()["results"]
    assert [item["slug"] for item in results] == ["setlist-sync"]
    assert results[0]["url"].startswith("/docs/setlist-sync/?src=suggestion&from=portal&who=")
    bad = customer_client.get("/portal/suggestions/", {"q": "x"})
    assert bad.status_code == 400
    assert bad.json()["error"]["fields"]["q"]
    assert Client().get("/portal/suggestions/", {"q": "pdf"}).status_code == 302  # not signed in


def test_reply_with_attachment_reopens_a_solved_ticket(customer, customer_org, customer_client, rep):
    ticket = _solve(_ticket(customer, customer_org), rep)

    response = customer_client.post(
        f"/portal/tickets/{ticket.reference}/reply/",
        {
            "body": "Still broken",
            "attachments": [
                SimpleUploadedFile("shot.png", b"\x89PNG\r\n\x1a\n" + b"\x00" * 24, content_type="image/png")
            ],
        },
    )

    assert response.status_code == 302
    ticket.refresh_from_db()
    assert ticket.status == Ticket.Status.OPEN
    message = ticket.messages.order_by("-id").first()
    assert (message.body, message.is_from_staff) == ("Still broken", False)
    assert message.attachments.get().filename == "shot.png"


def test_bad_replies_are_form_errors(customer, customer_org, customer_client, rep):
    ticket = _ticket(customer, customer_org)
    empty = customer_client.post(f"/portal/tickets/{ticket.reference}/reply/", {"body": "  "})
    assert empty.status_code == 400
    wrong_type = customer_client.post(
        f"/portal/tickets/{ticket.reference}/reply/",
        {"body": "here", "attachments": [SimpleUploadedFile("x.exe", b"MZ", content_type="application/x-msdownload")]},
    )
    assert wrong_type.status_code == 400
    assert "file type not allowed" in wrong_type.content.decode()
    # a ticket solved longer ago than the reopen window refuses replies with the reason
    _solve(ticket, rep)
    Ticket.objects.filter(pk=ticket.pk).update(solved_at=timezone.now() - timedelta(days=30))
    late = customer_client.post(f"/portal/tickets/{ticket.reference}/reply/", {"body": "Again"})
    assert late.status_code == 400
    assert "please open a new ticket" in late.content.decode()
    assert ticket.messages.filter(is_from_staff=False).count() == 0


def test_rating_a_solved_ticket_and_changing_it(customer, customer_org, customer_client, rep):
    ticket = _ticket(customer, customer_org)
    # not solved yet: no rating form, and a post is refused
    assert 'data-testid="rating"' not in customer_client.get(f"/portal/tickets/{ticket.reference}/").content.decode()
    assert customer_client.post(f"/portal/tickets/{ticket.reference}/rate/", {"score": "5"}).status_code == 409

    _solve(ticket, rep)
    assert 'name="score"' in customer_client.get(f"/portal/tickets/{ticket.reference}/").content.decode()
    first = customer_client.post(f"/portal/tickets/{ticket.reference}/rate/", {"score": "4", "comment": HOSTILE})
    assert first.status_code == 302
    changed = customer_client.post(f"/portal/tickets/{ticket.reference}/rate/", {"score": "5", "comment": "Great"})
    assert changed.status_code == 302
    rating = TicketSatisfaction.objects.get(ticket=ticket)
    assert (rating.score, rating.comment) == (5, "Great")
    html = customer_client.get(f"/portal/tickets/{ticket.reference}/").content.decode()
    assert "You rated this 5/5" in html
    assert "5/5" in customer_client.get("/portal/").content.decode()


@pytest.mark.parametrize("score", ["0", "6", "x", "", "55"])
def test_bad_scores_are_refused(customer, customer_org, customer_client, rep, score):
    ticket = _solve(_ticket(customer, customer_org), rep)
    response = customer_client.post(f"/portal/tickets/{ticket.reference}/rate/", {"score": score})
    assert response.status_code == 400
    assert not TicketSatisfaction.objects.exists()


def test_staff_are_sent_home_and_anonymous_to_login(client_as_rep):
    response = client_as_rep.get("/portal/")
    assert (response.status_code, response.url) == (302, "/")
    assert "My tickets" not in client_as_rep.get("/").content.decode()
    anonymous = Client().get("/portal/")
    assert anonymous.status_code == 302
    assert anonymous.url.startswith("/accounts/login/")


def test_customer_home_is_the_portal(customer_client):
    response = customer_client.get("/")
    assert (response.status_code, response.url) == (302, "/portal/")
