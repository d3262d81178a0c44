"""GDPR: data-subject request workflow and deadline, reminders (idempotent), consent acceptance rates,
cross-border transfer log, and the GDPR pages."""

import logging
from datetime import timedelta

import pytest
import time_machine
from django.core.management import call_command
from django.utils import timezone

from audit.gdpr import (
    consent_record,
    consent_state,
    dsr_create,
    dsr_reminders_send,
    dsr_transition,
    policy_acceptance_rates,
    policy_version_publish,
    transfer_record,
)
from audit.models import AuditEvent, CrossBorderTransfer, DataSubjectRequest
from audit.tasks import gdpr_reminders
from tourbrain_support.alerting.evaluation import alerts_evaluate
from tourbrain_support.alerting.models import AlertRule
from tourbrain_support.api import ApplicationError
from tourbrain_support.notifications.models import OutboxMessage
from tourbrain_support.roles import Role

pytestmark = pytest.mark.django_db


def test_request_is_due_30_days_after_receipt_and_follows_the_workflow(make_user):
    admin = make_user(Role.ADMIN)
    person = make_user()
    received = timezone.now() - timedelta(days=2)
    dsr = dsr_create(kind="access", subject_email=person.email.upper(), received_at=received, actor=admin)
    assert dsr.subject == person
    assert dsr.due_at == received + timedelta(days=30)
    # skipping verification is refused, and nothing changes
    with pytest.raises(ApplicationError, match="cannot become completed"):
        dsr_transition(dsr=dsr, status="completed", actor=admin)
    dsr.refresh_from_db()
    assert dsr.status == "received"
    for status in ("verifying", "in_progress", "completed"):
        dsr = dsr_transition(dsr=dsr, status=status, actor=admin, note=f"now {status}")
    assert dsr.completed_at is not None
    assert dsr.handled_by == admin
    assert "now verifying" in dsr.notes
    # a closed request stays closed
    with pytest.raises(ApplicationError):
        dsr_transition(dsr=dsr, status="rejected", actor=admin)
    changes = list(
        AuditEvent.objects.filter(resource_type="data_subject_request", resource_id=str(dsr.pk)).values_list(
            "action", flat=True
        )
    )
    assert changes.count("update") == 3
    assert "create" in changes


def test_erasure_without_an_account_cannot_complete(make_user):
    admin = make_user(Role.ADMIN)
    dsr = dsr_create(kind="erasure", subject_email="stranger@example.test", actor=admin)
    assert dsr.subject is None
    dsr = dsr_transition(dsr=dsr, status="verifying", actor=admin)
    dsr = dsr_transition(dsr=dsr, status="in_progress", actor=admin)
    with pytest.raises(ApplicationError, match="No account matches"):
        dsr_transition(dsr=dsr, status="completed", actor=admin)
    assert dsr_transition(dsr=dsr, status="rejected", actor=admin).status == "rejected"


@pytest.fixture
def delivered(celery_eager, django_capture_on_commit_callbacks):
    """Run a block as the daily job does: its writes commit and the outbox delivers inline."""

    def run(block):
        with django_capture_on_commit_callbacks(execute=True):
            return block()

    return run


def _subjects(received) -> list[tuple[str, str]]:
    return sorted((mail.rcpt_tos[0], mail.message["Subject"]) for mail in received)


def test_due_soon_reminds_the_handler_once_and_overdue_requests_fire_their_alert_rule(
    make_user, settings, smtp_server, delivered, caplog
):
    # given a 7-day horizon, a request due in 4 days handled by the DPO, an unhandled one 1 day overdue,
    # a closed one long overdue, and the DPO (admin) and an auditor to be alerted
    settings.GDPR_REMINDER_DAYS = 7
    settings.SLACK_WEBHOOK_URL = ""
    settings.SLACK_WEBHOOKS = {}
    settings.SITE_URL = "https://support.tourbrain.test"
    AlertRule.objects.exclude(name="DataSubjectRequestOverdue").delete()
    dpo = make_user(Role.ADMIN, email="dpo@example.test")
    make_user(Role.AUDITOR, email="auditor@example.test")
    now = timezone.now()
    soon = dsr_create(kind="access", subject_email="a@example.test", received_at=now - timedelta(days=26))
    dsr_transition(dsr=soon, status="verifying", actor=dpo)  # handled_by = dpo
    late = dsr_create(kind="erasure", subject_email="b@example.test", received_at=now - timedelta(days=31))
    done = dsr_create(kind="access", subject_email="c@example.test", received_at=now - timedelta(days=40))
    dsr_transition(dsr=done, status="rejected", actor=dpo)

    # when the daily job runs, and runs again the same day, and the alert rules are evaluated twice
    with caplog.at_level(logging.ERROR, logger="audit.alerts"):
        assert delivered(gdpr_reminders) == {"due_soon": 1, "overdue": 1}
        assert delivered(dsr_reminders_send) == {"due_soon": 0, "overdue": 1}
    delivered(alerts_evaluate)
    delivered(alerts_evaluate)

    # then the handler got the due-soon reminder, admins and auditors the rule's alert, each once
    received = smtp_server.wait_for(3)
    alert = "[TourBrain alert] 1 firing: DataSubjectRequestOverdue"
    assert _subjects(received) == [
        ("auditor@example.test", alert),
        ("dpo@example.test", f"Data-subject request #{soon.pk} (Access (export)) is due in 3 day(s)"),
        ("dpo@example.test", alert),
    ]
    assert len(smtp_server.wait_for(4, timeout=0.5)) == 3
    text = next(mail for mail in received if mail.message["Subject"] == alert).text()
    assert f"#{late.pk} (erasure, 1 days overdue)" in text
    assert "https://support.tourbrain.test/audit/gdpr/" in text
    assert "b@example.test" not in text  # the person is the request number, never their address
    # and the shared alert's log line (one per run: the log keeps every occurrence), no bespoke one
    lines = [r for r in caplog.records if r.name == "audit.alerts"]
    assert [r.alert_kind for r in lines] == ["gdpr.request_overdue", "gdpr.request_overdue"]

    # when the next day comes and the request is still open, they are told again (the rule's daily repeat)
    with time_machine.travel(now + timedelta(days=1, minutes=1), tick=False):
        assert delivered(gdpr_reminders) == {"due_soon": 0, "overdue": 1}
        delivered(alerts_evaluate)
    assert len(smtp_server.wait_for(5)) == 5
    assert _subjects(smtp_server.wait_for(5))[-1][1] == "[TourBrain alert] 1 still firing: DataSubjectRequestOverdue"

    # when the first request passes its deadline too and the late one is closed, only the first is named
    late = dsr_transition(dsr=late, status="rejected", actor=dpo)
    with time_machine.travel(now + timedelta(days=5), tick=False):
        call_command("gdpr_reminders")
    assert DataSubjectRequest.objects.get(pk=soon.pk).reminder_level == 2
    with time_machine.travel(now + timedelta(days=5), tick=False):
        alerts_evaluate()
    latest = OutboxMessage.objects.filter(kind="alert.notification").order_by("-id").first()
    assert f"#{soon.pk} (access" in latest.body
    assert f"#{late.pk} (erasure" not in latest.body


def test_acceptance_rates_follow_the_latest_record_per_user(make_user):
    v1 = policy_version_publish(version="v1", published_at=timezone.now() - timedelta(days=60))
    policy_version_publish(version="v2")
    users = [make_user() for _ in range(4)]
    for user in users[:3]:
        consent_record(user=user, purpose="privacy_policy", granted=True, source="signup", policy_version=v1)
    consent_record(user=users[0], purpose="privacy_policy", granted=True, source="portal")  # current = v2
    consent_record(user=users[1], purpose="privacy_policy", granted=False, source="portal", policy_version=v1)
    rates = {row["version"]: row for row in policy_acceptance_rates()}
    assert rates["v1"]["accepted"] == 2
    assert rates["v1"]["withdrawn"] == 1
    assert rates["v2"]["accepted"] == 1
    assert rates["v1"]["acceptance_rate"] == round(2 / 4, 4)
    assert not consent_state(user=users[1], purpose="privacy_policy")
    assert consent_state(user=users[0], purpose="privacy_policy")
    with pytest.raises(ApplicationError):
        consent_record(user=users[3], purpose="telepathy", granted=True, source="portal")
    with pytest.raises(ApplicationError):
        policy_version_publish(version="v1")


def test_transfer_record_validates_and_logs():
    transfer = transfer_record(
        recipient="slack",
        country="us",
        legal_basis="dpf",
        data_categories=["contact", "ticket_content", "contact"],
        purpose="Escalation alert",
        reference="ticket:42",
    )
    assert transfer.country == "US"
    assert transfer.data_categories == ["contact", "ticket_content"]
    for bad in ({"country": "USA"}, {"legal_basis": "vibes"}, {"data_categories": []}):
        with pytest.raises(ApplicationError):
            transfer_record(
                **{
                    "recipient": "openai",
                    "country": "US",
                    "legal_basis": "scc",
                    "data_categories": ["ticket_content"],
                    **bad,
                }
            )
    assert CrossBorderTransfer.objects.count() == 1


def test_gdpr_page_lists_requests_rates_and_transfers(client_as, make_user, django_assert_max_num_queries):
    auditor = client_as(Role.AUDITOR)
    policy_version_publish(version="2026-01")
    for n in range(6):
        dsr_create(kind="access", subject_email=f"p{n}@example.test")
        transfer_record(recipient="sentry", country="US", legal_basis="scc", data_categories=["technical"])
    with django_assert_max_num_queries(12):
        response = auditor.get("/audit/gdpr/")
    body = response.content.decode()
    assert response.status_code == 200
    assert body.count("p0@example.test") == 1
    assert "2026-01" in body
    assert body.count("sentry") == 6
    assert "Log a new request" not in body  # auditors read only


def test_admin_logs_and_moves_a_request_through_pages(client_as, make_user):
    admin = client_as(Role.ADMIN)
    person = make_user(email="page.person@example.test")
    response = admin.post("/audit/gdpr/requests/new/", {"kind": "access", "subject_email": person.email})
    assert response.status_code == 302
    dsr = DataSubjectRequest.objects.get()
    assert response["Location"] == f"/audit/gdpr/requests/{dsr.pk}/"
    # a bad transition is a form error, not a change
    response = admin.post(f"/audit/gdpr/requests/{dsr.pk}/", {"status": "completed"})
    assert response.status_code == 400
    dsr.refresh_from_db()
    assert dsr.status == "received"
    for status in ("verifying", "in_progress"):
        assert admin.post(f"/audit/gdpr/requests/{dsr.pk}/", {"status": status}).status_code == 302
    response = admin.get(f"/audit/gdpr/requests/{dsr.pk}/export.json")
    assert response.status_code == 200
    assert response.json()["profile"]["email"] == "page.person@example.test"
    assert AuditEvent.objects.filter(action="export", resource_type="data_subject_request").count() == 1
    # bad input on the new-request form
    response = admin.post("/audit/gdpr/requests/new/", {"kind": "erasure", "subject_email": "not-an-email"})
    assert response.status_code == 400
    assert "Enter a valid email address." in response.content.decode()
