"""Erasing a person also erases the quarantined mail that names them: the raw bytes, which the generic
erasure cannot search, go through the tickets app's own erasure step."""

import pytest

from audit.gdpr import subject_erase
from tests.factories import UserFactory
from tickets.email_inbound import email_ingest
from tickets.models import QuarantinedEmail

pytestmark = pytest.mark.django_db


def _held(raw: bytes) -> QuarantinedEmail:
    assert email_ingest(raw).outcome == "quarantined"
    return QuarantinedEmail.objects.latest("id")


def test_erasure_drops_the_quarantined_mail_that_names_the_person():
    person = UserFactory(email="Ana.Lopez@band.example.com", name="Ana Lopez")
    # Mail from the person (their account is inactive, so it is quarantined), and mail that only names them.
    person.is_active = False
    person.save(update_fields=["is_active"])
    from_them = _held(b"From: Ana Lopez <ana.lopez@band.example.com>\r\nSubject: Tour dates\r\n\r\nHello\r\n")
    naming_them = _held(b"From: broken\r\nSubject: Fwd\r\n\r\nForwarded from ANA.LOPEZ@band.example.com\r\n")
    unrelated = _held(b"From: broken\r\nSubject: Other\r\n\r\nSomeone else entirely\r\n")

    summary = subject_erase(user=person, actor=UserFactory(is_staff=True, is_superuser=True))

    assert summary["tickets.quarantinedemail"] == 2
    for row in (from_them, naming_them):
        row.refresh_from_db()
        assert (bytes(row.raw), row.sender, row.subject, row.status) == (b"", "", "", "discarded")
        assert "Erased" in row.reason
    unrelated.refresh_from_db()
    assert b"Someone else" in bytes(unrelated.raw)
    assert unrelated.status == "held"
    # Nothing of the person is left in any quarantined row.
    for row in QuarantinedEmail.objects.all():
        assert b"ana.lopez" not in bytes(row.raw).lower()
        assert "ana" not in row.sender.lower()
