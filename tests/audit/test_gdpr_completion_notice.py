"""Completing a data-subject request tells the person once, by email: an access request through the outbox
with a link to their privacy page, an erasure request by one email to the address the erasure removed,
which no table holds afterwards."""

import logging

import pytest

from audit import gdpr
from audit.gdpr import dsr_create, dsr_transition
from audit.models import DataSubjectRequest
from tests.audit.test_gdpr_erasure import database_scan
from tourbrain_support.api import ApplicationError
from tourbrain_support.notifications.models import OutboxMessage
from tourbrain_support.notifications.outbox import outbox_deliver_due
from tourbrain_support.notifications.tasks import deliver_outbox_message
from tourbrain_support.roles import Role

SITE = "https://support.tourbrain.test"
EMAIL = "nora.notified@example.test"
NAME = "Nora Notified"


@pytest.fixture
def site(settings):
    settings.SITE_URL = SITE
    settings.SLACK_WEBHOOK_URL = ""


def _to_in_progress(dsr, admin):
    for status in ("verifying", "in_progress"):
        dsr = dsr_transition(dsr=dsr, status=status, actor=admin)
    return dsr


@pytest.mark.django_db
def test_a_completed_access_request_mails_the_privacy_page_link_once(
    make_user, site, smtp_server, celery_eager, django_capture_on_commit_callbacks
):
    # given a person's access request, in progress
    admin = make_user(Role.ADMIN)
    person = make_user(email=EMAIL, name=NAME)
    dsr = _to_in_progress(dsr_create(kind="access", subject=person, actor=person), admin)
    stale = DataSubjectRequest.objects.get(pk=dsr.pk)

    # when it is completed and the transaction commits (the outbox delivers inline)
    with django_capture_on_commit_callbacks(execute=True):
        dsr = dsr_transition(dsr=dsr, status="completed", actor=admin)

    # then the person got one email pointing at their privacy page, and nothing personal beyond the address
    received = smtp_server.wait_for(1)
    assert [mail.rcpt_tos for mail in received] == [[EMAIL]]
    assert received[0].message["Subject"] == "Your copy of your TourBrain data is ready"
    text = received[0].text()
    assert f"{SITE}/account/privacy/" in text
    assert f"request #{dsr.pk}" in text
    assert NAME.split()[0] not in text
    assert EMAIL not in text
    row = OutboxMessage.objects.get(kind=OutboxMessage.Kind.GDPR_REQUEST_COMPLETED)
    assert (row.status, row.recipient, row.payload) == (
        "sent",
        EMAIL,
        {"data_subject_request": dsr.pk, "user": person.pk},
    )
    dsr.refresh_from_db()
    assert dsr.subject_notified_at is not None

    # when the transition is tried again (a stale page), the delivery task is retried and the sweep runs
    with (
        pytest.raises(ApplicationError, match="cannot become completed"),
        django_capture_on_commit_callbacks(execute=True),
    ):
        dsr_transition(dsr=stale, status="completed", actor=admin)
    deliver_outbox_message.delay(row.pk)
    deliver_outbox_message(row.pk)
    outbox_deliver_due()
    # and the completion notice itself runs again (a replayed job)
    with django_capture_on_commit_callbacks(execute=True):
        gdpr._completion_notice(dsr, erased_address="")

    # then still one row and one email
    assert OutboxMessage.objects.filter(kind=OutboxMessage.Kind.GDPR_REQUEST_COMPLETED).count() == 1
    assert len(smtp_server.wait_for(2, timeout=0.5)) == 1


@pytest.mark.django_db
def test_no_notice_without_an_account_or_for_a_rejected_request(client_as, make_user, site):
    # given an access request from an address with no account, and a person's rejected request
    admin = client_as(Role.ADMIN)
    stranger = _to_in_progress(dsr_create(kind="access", subject_email="nobody@example.test"), admin.user)
    person = make_user(email=EMAIL)
    refused = dsr_create(kind="erasure", subject=person)

    # when the first is completed and the second rejected
    stranger = dsr_transition(dsr=stranger, status="completed", actor=admin.user)
    refused = dsr_transition(dsr=refused, status="rejected", actor=admin.user)

    # then no notice is queued, and the staff page says the person still has to be told
    assert not OutboxMessage.objects.exists()
    assert stranger.subject_notified_at is None
    assert refused.subject_notified_at is None
    body = admin.get(f"/audit/gdpr/requests/{stranger.pk}/").content.decode()
    assert "not by email: tell them another way" in body
    assert "subject-notified" not in admin.get(f"/audit/gdpr/requests/{refused.pk}/").content.decode()


@pytest.mark.django_db(transaction=True)
def test_erasure_is_confirmed_to_the_erased_address_which_no_table_keeps(make_user, site, smtp_server, celery_eager):
    # given a person whose earlier access request was completed (its notice is an outbox row addressed to them)
    admin = make_user(Role.ADMIN)
    person = make_user(email=EMAIL, name=NAME)
    access = _to_in_progress(dsr_create(kind="access", subject=person, actor=person), admin)
    dsr_transition(dsr=access, status="completed", actor=admin)
    assert [mail.rcpt_tos for mail in smtp_server.wait_for(1)] == [[EMAIL]]
    assert ("tickets_outboxmessage", "recipient", EMAIL) in database_scan(EMAIL)
    # and an erasure request in progress
    erasure = _to_in_progress(dsr_create(kind="erasure", subject=person, actor=person), admin)

    # when the erasure request is completed
    erasure = dsr_transition(dsr=erasure, status="completed", actor=admin)

    # then the address the account had got one confirmation, without the person's name
    received = smtp_server.wait_for(2)
    assert [mail.rcpt_tos for mail in received] == [[EMAIL], [EMAIL]]
    confirmation = received[1]
    assert confirmation.message["Subject"] == "Your TourBrain data has been erased"
    assert f"request #{erasure.pk}" in confirmation.text()
    assert NAME.split()[0] not in confirmation.text()
    assert confirmation.message["X-TourBrain-Notification"] == "gdpr.request_completed"
    # and neither the address nor the name is anywhere in the database (the old notice row is scrubbed too)
    assert database_scan(EMAIL, NAME) == []
    erasure.refresh_from_db()
    assert erasure.subject_notified_at is not None

    # when the completion is tried again, nothing more is sent
    with pytest.raises(ApplicationError):
        dsr_transition(dsr=erasure, status="completed", actor=admin)
    gdpr._erasure_notice_send(dsr_id=erasure.pk, address=EMAIL)  # a replayed callback
    assert len(smtp_server.wait_for(3, timeout=0.5)) == 2


@pytest.mark.django_db(transaction=True)
def test_a_refused_erasure_confirmation_is_logged_without_the_address(make_user, site, smtp_server, caplog):
    # given an erasure request in progress, and a mail server that refuses the person's address
    admin = make_user(Role.ADMIN)
    person = make_user(email=EMAIL, name=NAME)
    erasure = _to_in_progress(dsr_create(kind="erasure", subject=person, actor=person), admin)
    smtp_server.rcpt_answers[EMAIL] = "550 5.1.1 no such user"

    # when it is completed
    with caplog.at_level(logging.WARNING, logger="audit.gdpr"):
        erasure = dsr_transition(dsr=erasure, status="completed", actor=admin)

    # then the erasure stands, the request shows nobody was told, and the log names the request, not the person
    person.refresh_from_db()
    assert not person.is_active
    assert smtp_server.wait_for(1, timeout=0.5) == []
    erasure.refresh_from_db()
    assert (erasure.status, erasure.subject_notified_at) == ("completed", None)
    lines = [r.getMessage() for r in caplog.records if r.name == "audit.gdpr"]
    assert f"data-subject request #{erasure.pk}: erasure confirmation not sent (SMTPRecipientsRefused)" in lines
    assert all(EMAIL not in line for line in caplog.text.splitlines())
    assert database_scan(EMAIL, NAME) == []
