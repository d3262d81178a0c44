"""GDPR erasure never reports a file erased that is still stored: a file that cannot be deleted leaves the
request open, names the file, and changes nothing else; once the storage works, completing it again erases.

The storages are Django's FileSystemStorage on a temporary MEDIA_ROOT; the failing ones are subclasses whose
delete raises (as on a read-only folder, which root, running the tests, would ignore) or keeps the file.
"""

from pathlib import Path

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import FileSystemStorage

from audit.gdpr import ErasureIncompleteError, dsr_create, dsr_transition
from audit.models import DataSubjectRequest
from tickets.models import Attachment, Ticket, TicketMessage
from tourbrain_support.roles import Role

pytestmark = pytest.mark.django_db

EMAIL = "fiona.files@example.com"
LOCKED = "locked"


class DeleteRefusedStorage(FileSystemStorage):
    """Deleting a file whose name contains "locked" fails as on a read-only folder."""

    def delete(self, name):
        if LOCKED in name:
            raise PermissionError(13, "Permission denied", str(Path(self.location) / name))
        super().delete(name)


class DeleteIgnoredStorage(FileSystemStorage):
    """Deleting a file whose name contains "locked" returns without error, and the file stays."""

    def delete(self, name):
        if LOCKED not in name:
            super().delete(name)


def _storages(settings, backend: str) -> None:
    settings.STORAGES = {**settings.STORAGES, "default": {"BACKEND": backend}}


@pytest.fixture
def media(settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path / "media")
    _storages(settings, "django.core.files.storage.FileSystemStorage")
    return Path(settings.MEDIA_ROOT)


@pytest.fixture
def erasure(make_user, media):
    """A person with a ticket, a message and two attachments, and their erasure request in progress."""
    person = make_user(email=EMAIL, name="Fiona Files")
    admin = make_user(Role.ADMIN)
    ticket = Ticket.objects.create(user=person, type="question", subject="Invoices", description="See attached.")
    message = TicketMessage.objects.create(ticket=ticket, author=person, body="Two files attached.")
    files = []
    for filename in ("invoice.pdf", f"{LOCKED}-passport.png"):
        attachment = Attachment(message=message, filename=filename, size=5, content_type="application/pdf")
        attachment.file.save(filename, ContentFile(b"bytes"), save=True)
        files.append(attachment.file.name)
    dsr = dsr_create(kind="erasure", subject=person, actor=admin)
    for status in ("verifying", "in_progress"):
        dsr = dsr_transition(dsr=dsr, status=status, actor=admin)
    return {"person": person, "admin": admin, "dsr": dsr, "files": files, "media": media}


@pytest.mark.parametrize(
    "failing_storage",
    [f"{__name__}.DeleteRefusedStorage", f"{__name__}.DeleteIgnoredStorage"],
    ids=["delete-raises", "file-stays"],
)
def test_a_file_that_cannot_be_deleted_leaves_the_request_open_and_is_named(settings, erasure, failing_storage):
    kept, locked = erasure["files"]
    media, person = erasure["media"], erasure["person"]
    # given a storage that cannot delete one of the person's files
    _storages(settings, failing_storage)

    # when the erasure request is completed
    with pytest.raises(ErasureIncompleteError) as raised:
        dsr_transition(dsr=erasure["dsr"], status="completed", actor=erasure["admin"])

    # then the error names the file that is still stored, and only that one
    assert raised.value.code == "erasure_incomplete"
    assert raised.value.undeleted == [locked]
    assert locked in str(raised.value)
    assert kept not in str(raised.value)
    assert (media / locked).exists()
    # and nothing claims an erasure: the request is still in progress, the account and rows untouched
    dsr = DataSubjectRequest.objects.get(pk=erasure["dsr"].pk)
    assert (dsr.status, dsr.completed_at) == ("in_progress", None)
    person.refresh_from_db()
    assert (person.email, person.is_active) == (EMAIL, True)
    assert sorted(Attachment.objects.values_list("file", flat=True)) == sorted([kept, locked])

    # when the storage works again and the request is completed once more
    _storages(settings, "django.core.files.storage.FileSystemStorage")
    dsr = dsr_transition(dsr=dsr, status="completed", actor=erasure["admin"])

    # then every file is gone (the one deleted by the first attempt counts as deleted) and the request is done
    assert dsr.status == "completed"
    assert not (media / kept).exists()
    assert not (media / locked).exists()
    assert set(Attachment.objects.values_list("file", flat=True)) == {""}
    person.refresh_from_db()
    assert not person.is_active


def test_the_request_page_shows_which_file_was_not_deleted(settings, client, erasure):
    _storages(settings, f"{__name__}.DeleteRefusedStorage")
    client.force_login(erasure["admin"])

    response = client.post(f"/audit/gdpr/requests/{erasure['dsr'].pk}/", {"status": "completed", "note": ""})

    assert response.status_code == 400
    assert erasure["files"][1] in response.content.decode()
    assert DataSubjectRequest.objects.get(pk=erasure["dsr"].pk).status == "in_progress"
