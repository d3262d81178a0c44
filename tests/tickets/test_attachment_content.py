"""Attachment content must match its declared type (signature for images and PDF, UTF-8 text, JSON that parses);
downloads stay attachments with nosniff."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from tests.tickets.factories import TicketFactory
from tickets import services
from tickets.models import Attachment, TicketMessage
from tourbrain_support.api import ApplicationError
from tourbrain_support.roles import Role

pytestmark = pytest.mark.django_db

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + b"\x00" * 20
HTML = b"<html><script>alert(document.cookie)</script></html>"


@pytest.fixture
def rep(make_user):
    return make_user(Role.SUPPORT_REP)


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path


@pytest.mark.parametrize(
    ("name", "content", "content_type"),
    [
        ("x.png", HTML, "image/png"),
        ("photo.jpg", PNG, "image/jpeg"),
        ("anim.gif", b"GIF8", "image/gif"),
        ("invoice.pdf", b"<html>%PDF-1.4", "application/pdf"),
        ("notes.txt", b"MZ\x90\x00\x03\x00\x00\x00", "text/plain"),
        ("latin1.txt", "café".encode("latin-1"), "text/plain"),
        ("data.csv", b"a,b\n\x00\x01", "text/csv"),
        ("data.json", b"{not json", "application/json"),
        ("deep.json", b"[" * 5000 + b"]" * 5000, "application/json"),
    ],
)
def test_content_that_is_not_its_declared_type_is_refused_with_a_field_error(rep, name, content, content_type):
    ticket = TicketFactory()
    upload = SimpleUploadedFile(name, content, content_type=content_type)

    with pytest.raises(ApplicationError) as error:
        services.ticket_reply(ticket=ticket, author=rep, body="See attached", attachments=[upload])

    assert error.value.code == "attachment_content"
    assert error.value.fields == {"attachments": [f"{name}: the content is not a valid {content_type} file."]}
    assert not TicketMessage.objects.exists()
    assert not Attachment.objects.exists()


@pytest.mark.parametrize(
    ("name", "content", "content_type"),
    [
        ("shot.png", PNG, "image/png"),
        ("photo.jpg", b"\xff\xd8\xff\xe0\x00\x10JFIF", "image/jpeg"),
        ("anim.gif", b"GIF89a\x01\x00\x01\x00", "image/gif"),
        ("invoice.pdf", b"%PDF-1.7\n%\xe2\xe3\xcf\xd3", "application/pdf"),
        ("notes.txt", "Café au lait, naïve façade".encode(), "text/plain"),
        ("data.csv", b"a,b\n1,2\n", "text/csv"),
        ("data.json", b'{"tour": [1, 2, {"show": "Paris"}]}', "application/json"),
    ],
)
def test_content_matching_its_type_is_stored_and_read_back_whole(rep, name, content, content_type):
    ticket = TicketFactory()
    upload = SimpleUploadedFile(name, content, content_type=content_type)

    message = services.ticket_reply(ticket=ticket, author=rep, body="See attached", attachments=[upload])

    attachment = message.attachments.get()
    assert attachment.content_type == content_type
    assert attachment.file.read() == content  # the check left the upload at its start


def test_html_named_png_is_a_form_error_on_the_ticket_page(client_as_rep):
    ticket = TicketFactory()
    upload = SimpleUploadedFile("x.png", HTML, content_type="image/png")

    response = client_as_rep.post(
        f"/queue/{ticket.reference}/reply/",
        {"body": "See attached", "kind": "reply", "version": ticket.version, "attachments": [upload]},
    )

    assert response.status_code == 400
    assert "x.png: the content is not a valid image/png file." in response.content.decode()
    assert not Attachment.objects.exists()


def test_html_named_png_is_a_400_with_fields_on_the_api(client_as_rep):
    ticket = TicketFactory()
    upload = SimpleUploadedFile("x.png", HTML, content_type="image/png")

    response = client_as_rep.post(
        f"/api/v1/tickets/{ticket.reference}/reply/",
        {"body": "See attached", "version": ticket.version, "attachments": [upload]},
    )

    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "attachment_content"
    assert error["fields"] == {"attachments": ["x.png: the content is not a valid image/png file."]}


def test_downloads_are_attachments_with_nosniff(client_as_rep, rep):
    ticket = TicketFactory()
    upload = SimpleUploadedFile("shot.png", PNG, content_type="image/png")
    message = services.ticket_reply(ticket=ticket, author=rep, body="See attached", attachments=[upload])

    response = client_as_rep.get(f"/queue/{ticket.reference}/attachments/{message.attachments.get().pk}/")

    assert response.status_code == 200
    assert response["Content-Disposition"].startswith("attachment;")
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Content-Type"] == "image/png"
    assert b"".join(response.streaming_content) == PNG
