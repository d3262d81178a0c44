"""The IMAP poller against a real IMAP server (pymap, started by the `imap_server` fixture): unseen mail
becomes tickets and replies, processed mail is moved (or flagged seen), and a second pass, or the same
message delivered twice, creates nothing new."""

import io
import threading
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from tickets.imap_poller import imap_poll, imap_settings
from tickets.models import QuarantinedEmail, Ticket, TicketEmail

pytestmark = pytest.mark.django_db

MAIL = Path(__file__).resolve().parents[1] / "data" / "mail"


def _mail(name: str) -> bytes:
    return (MAIL / name).read_bytes()


def test_unseen_mail_becomes_tickets_and_is_moved(imap_server, settings):
    settings.IMAP_PROCESSED_FOLDER = "Processed"
    imap_server.append(_mail("new_plain.eml"))
    imap_server.append(_mail("html_only.eml"))

    counts = imap_poll(url=imap_server.url)

    assert counts == {"ticket": 2}
    assert Ticket.objects.filter(channel="email").count() == 2
    # The bytes the server held were ingested as they are (IMAP carries lines ending in CRLF).
    crlf = _mail("new_plain.eml").replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
    assert bytes(TicketEmail.objects.get(message_id="CAF1new0001@mail.gmail.com").raw) == crlf
    assert imap_server.uids("INBOX") == []
    assert len(imap_server.uids("Processed")) == 2
    # Nothing left to read: a second pass does nothing.
    assert imap_poll(url=imap_server.url) == {}


def test_the_same_message_twice_is_one_ticket(imap_server, settings):
    settings.IMAP_PROCESSED_FOLDER = "Processed"
    imap_server.append(_mail("new_plain.eml"))
    imap_server.append(_mail("new_plain.eml"))  # a retried delivery
    assert imap_poll(url=imap_server.url) == {"ticket": 1, "duplicate": 1}
    assert Ticket.objects.count() == 1


def test_without_a_processed_folder_mail_is_flagged_seen(imap_server, settings):
    settings.IMAP_PROCESSED_FOLDER = ""
    imap_server.append(_mail("new_plain.eml"))
    imap_server.append(_mail("out_of_office.eml"))

    assert imap_poll(url=imap_server.url) == {"ticket": 1, "refused": 1}

    assert imap_server.seen("INBOX") == [True, True]
    assert imap_poll(url=imap_server.url) == {}


def test_bad_mail_is_quarantined_and_moved_not_retried_forever(imap_server, settings):
    settings.IMAP_PROCESSED_FOLDER = "Processed"
    imap_server.append(b"From: nobody\r\nSubject: no sender address\r\n\r\nhello\r\n")
    assert imap_poll(url=imap_server.url) == {"quarantined": 1}
    assert QuarantinedEmail.objects.count() == 1
    assert imap_server.uids("INBOX") == []


def test_poll_imap_command_and_the_beat_job_without_a_mailbox(imap_server, settings, capsys):
    settings.IMAP_URL = imap_server.url
    imap_server.append(_mail("new_plain.eml"))
    call_command("poll_imap")
    assert "ticket: 1" in capsys.readouterr().out

    settings.IMAP_URL = ""
    from tickets.tasks import imap_poll as beat_job

    assert beat_job() == {}
    with pytest.raises(CommandError, match="IMAP_URL"):
        call_command("poll_imap")


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (
            "imaps://support%40tourbrain.ai:p%40ss@imap.example.com/Support",
            ("imaps", 993, "support@tourbrain.ai", "p@ss", "Support"),
        ),
        ("imap+starttls://u:p@mail.example.com:1143", ("imap+starttls", 1143, "u", "p", "INBOX")),
    ],
)
def test_imap_url_parts(url, expected):
    config = imap_settings(url)
    assert (config.scheme, config.port, config.user, config.password, config.folder) == expected


def test_a_bad_imap_url_is_a_clear_error():
    with pytest.raises(ValueError, match="imaps://"):
        imap_settings("http://example.com")
    with pytest.raises(CommandError, match="user and a host"):
        call_command("poll_imap", "--url", "imaps://imap.example.com/")


def test_a_pass_while_another_reads_the_mailbox_does_nothing(imap_server, settings, monkeypatch):
    """Two passes at once (a beat tick and a manual `poll_imap`): the second finds the mailbox taken and
    leaves it alone; the first ingests and moves every message once."""
    settings.IMAP_PROCESSED_FOLDER = "Processed"
    imap_server.append(_mail("new_plain.eml"))
    imap_server.append(_mail("html_only.eml"))
    from tickets import imap_poller

    second: dict = {}

    def manual_pass_meanwhile():
        out = io.StringIO()
        try:
            second["counts"] = imap_poll(url=imap_server.url)
            call_command("poll_imap", "--url", imap_server.url, stdout=out)
            second["command"] = out.getvalue()
            second["unseen"] = len(imap_server.uids("INBOX"))
        finally:
            connection.close()  # the thread's own database connection

    real_poll = imap_poller._poll

    def first_pass(*args):
        # The first pass holds the mailbox: another pass starts now and must leave it alone.
        thread = threading.Thread(target=manual_pass_meanwhile)
        thread.start()
        thread.join(timeout=30)
        return real_poll(*args)

    monkeypatch.setattr(imap_poller, "_poll", first_pass)
    assert imap_poll(url=imap_server.url) == {"ticket": 2}

    assert second == {
        "counts": {"busy": 1},
        "command": "Another pass is reading this mailbox (the beat job's?); nothing done.\n",
        "unseen": 2,
    }
    assert Ticket.objects.filter(channel="email").count() == 2
    assert len(imap_server.uids("Processed")) == 2
    # The lock went with the first pass: the next one reads the (now empty) mailbox.
    monkeypatch.setattr(imap_poller, "_poll", real_poll)
    assert imap_poll(url=imap_server.url) == {}


def test_the_mailbox_lock_is_per_mailbox_and_released_after_a_failed_pass(imap_server, settings):
    from tickets.imap_poller import mailbox_pass_lock

    inbox = imap_settings(imap_server.url)
    other = imap_settings(imap_server.url.replace("/INBOX", "/Support"))
    with mailbox_pass_lock(inbox) as held, mailbox_pass_lock(other) as other_held:
        assert (held, other_held) == (True, True)
    with pytest.raises(RuntimeError), mailbox_pass_lock(inbox) as held:
        raise RuntimeError("the IMAP server went away")
    with mailbox_pass_lock(inbox) as held_again:
        assert held_again


def test_the_test_server_is_dovecot_where_it_is_installed(imap_server):
    """CI installs Debian's dovecot (`.ci/run`); pymap stands in where it is missing."""
    import imaplib

    from tests.servers import DovecotIMAPServer

    client = imaplib.IMAP4(imap_server.host, imap_server.port)
    try:
        greeting = client.welcome.decode()
    finally:
        client.logout()
    if DovecotIMAPServer.executable:
        assert "Dovecot" in greeting, greeting
    else:
        assert "Dovecot" not in greeting
