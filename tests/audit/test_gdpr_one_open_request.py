"""One open data-subject request per person and kind is a database rule: a partial unique constraint
refuses a second open request even when the service's check is bypassed, and every write path answers it
with the same `duplicate_request` error."""

import pytest
from django.db import IntegrityError, transaction

from audit import privacy
from audit.gdpr import DuplicateRequestError, dsr_create, dsr_transition
from audit.models import AuditEvent, DataSubjectRequest
from tourbrain_support.api import ApplicationError, exception_handler
from tourbrain_support.roles import Role

pytestmark = pytest.mark.django_db


def test_the_database_refuses_a_second_open_request_of_one_kind(make_user):
    # given a person with an open access request, created straight on the model (no service check)
    person = make_user()
    DataSubjectRequest.objects.create(subject=person, subject_email=person.email, kind="access")

    # when another open access request is inserted the same way, it is refused by the database
    for status in ("received", "verifying", "in_progress"):
        with pytest.raises(IntegrityError), transaction.atomic():
            DataSubjectRequest.objects.create(subject=person, subject_email=person.email, kind="access", status=status)

    # then other kinds, closed requests and requests without an account are not constrained
    DataSubjectRequest.objects.create(subject=person, subject_email=person.email, kind="erasure")
    DataSubjectRequest.objects.create(subject=person, subject_email=person.email, kind="access", status="completed")
    DataSubjectRequest.objects.create(subject=person, subject_email=person.email, kind="access", status="rejected")
    for _ in range(2):
        DataSubjectRequest.objects.create(subject=None, subject_email="no.account@example.test", kind="access")
    assert DataSubjectRequest.objects.filter(subject=person, kind="access").count() == 3


def test_staff_logging_a_second_open_request_gets_duplicate_request(make_user):
    # given an open access request logged for a person by email
    admin = make_user(Role.ADMIN)
    person = make_user(email="twice@example.test")
    first = dsr_create(kind="access", subject_email="twice@example.test", actor=admin)

    # when staff log another one for the same account (a second email from the person)
    with pytest.raises(DuplicateRequestError) as refused:
        dsr_create(kind="access", subject_email="TWICE@example.test", actor=admin)

    # then the error names the open request, in the API's machine-readable shape, and nothing was written
    error = refused.value
    assert (error.code, error.status, error.open_request) == ("duplicate_request", 400, first)
    assert f"Request #{first.pk} (access (export)) is already open" in error.message
    assert DataSubjectRequest.objects.filter(subject=person).count() == 1
    assert AuditEvent.objects.filter(resource_type="data_subject_request", action="create").count() == 1
    # once it is closed, a new one may be logged
    dsr_transition(dsr=first, status="rejected", actor=admin)
    assert dsr_create(kind="access", subject_email="twice@example.test", actor=admin).status == "received"


def test_staff_page_shows_the_duplicate_as_a_form_error(client_as, make_user):
    admin = client_as(Role.ADMIN)
    person = make_user(email="page.twice@example.test")
    data = {"kind": "erasure", "subject_email": person.email}
    assert admin.post("/audit/gdpr/requests/new/", data).status_code == 302

    response = admin.post("/audit/gdpr/requests/new/", data)

    assert response.status_code == 400
    assert "is already open for this person" in response.content.decode()
    assert DataSubjectRequest.objects.count() == 1


def test_a_submission_that_passed_the_check_is_refused_by_the_database(client_as, monkeypatch):
    # given a person with an open access request, and a check that sees nothing (as when two submissions race
    # on SQLite, where the row lock the check relies on does not exist)
    customer = client_as(None, email="racer@example.test")
    dsr = privacy.privacy_request_create(user=customer.user, kind="access")
    monkeypatch.setattr(privacy, "dsr_open_request", lambda **kwargs: None)

    # when the person asks again through the service
    with pytest.raises(ApplicationError) as refused:
        privacy.privacy_request_create(user=customer.user, kind="access")

    # then the database's refusal becomes the person-facing error, a 400 with a machine-readable body
    response = exception_handler(refused.value, {})
    assert response.status_code == 400
    assert response.data == {
        "error": {
            "code": "duplicate_request",
            "message": refused.value.message,
            "fields": {"kind": ["An open request of this kind exists."]},
        }
    }
    assert f"You already asked for a copy of your data on {dsr.received_at:%Y-%m-%d} (request #{dsr.pk}" in (
        refused.value.message
    )
    # and through the privacy page it is the same form error
    response = customer.post("/account/privacy/requests/", {"kind": "access"})
    assert response.status_code == 400
    assert f"(request #{dsr.pk}, received)" in response.content.decode()
    assert DataSubjectRequest.objects.count() == 1
    assert AuditEvent.objects.filter(resource_type="data_subject_request", action="create").count() == 1
