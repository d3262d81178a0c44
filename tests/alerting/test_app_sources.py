"""Sources the apps register: a critical bug filed by a beta user reaches the on-call at the next evaluation;
the audit sources count what the audit app records. Also the demo data."""

import io
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone

from tests.factories import UserFactory
from tests.tickets.factories import TicketFactory
from tourbrain_support.alerting.evaluation import alerts_evaluate
from tourbrain_support.alerting.models import AlertRule, AlertState, HttpProbe
from tourbrain_support.alerting.sources import registered_sources
from tourbrain_support.notifications.models import OutboxMessage

pytestmark = pytest.mark.django_db


def test_the_apps_register_their_sources():
    assert {
        "tickets.critical_beta_bugs",
        "audit.verify_failed",
        "audit.backups_failed",
        "audit.lockouts",
        "audit.gdpr_requests_overdue",
    } <= set(registered_sources())


def test_a_critical_bug_from_a_beta_user_pages_the_oncall(settings):
    settings.ALERT_ONCALL_EMAILS = ["oncall@example.com"]
    settings.SLACK_WEBHOOK_URL = ""
    settings.SLACK_WEBHOOKS = {}
    # only the pre-installed rule on tickets takes part
    AlertRule.objects.exclude(name="CriticalBugFromBetaUser").update(enabled=False)
    TicketFactory(requester=UserFactory(is_beta=False), type="bug", priority="critical")
    TicketFactory(requester=UserFactory(is_beta=True), type="bug", priority="high")
    assert alerts_evaluate().notices == []

    TicketFactory(requester=UserFactory(is_beta=True), type="bug", priority="critical")
    result = alerts_evaluate()
    assert [(notice.rule.name, notice.kind) for notice in result.notices] == [("CriticalBugFromBetaUser", "firing")]
    page = OutboxMessage.objects.get(recipient="oncall@example.com")
    assert "[FIRING] CriticalBugFromBetaUser (critical)" in page.body
    assert "/queue/?priority=critical&tier=beta" in page.body

    # the window passes: resolved, and the on-call is told
    later = alerts_evaluate(now=timezone.now() + timedelta(minutes=3))
    assert [notice.kind for notice in later.notices] == ["resolved"]


def test_audit_sources_count_failed_backups_and_overdue_requests():
    from audit.models import BackupRun

    sources = registered_sources()
    now = timezone.now()
    assert sources["audit.backups_failed"].function(timedelta(days=1), now) == 0
    BackupRun.objects.create(status=BackupRun.Status.FAILED)
    BackupRun.objects.create(status=BackupRun.Status.SUCCEEDED)
    assert sources["audit.backups_failed"].function(timedelta(days=1), now + timedelta(seconds=1)) == 1
    assert sources["audit.gdpr_requests_overdue"].function(timedelta(minutes=1), now) == 0
    assert sources["audit.lockouts"].function(timedelta(minutes=1), now) == 0


def test_demo_data_is_idempotent():
    call_command("seed_demo", stdout=io.StringIO())
    call_command("seed_demo", stdout=io.StringIO())
    assert set(HttpProbe.objects.values_list("name", flat=True)) >= {"portal", "demo-service"}
    assert AlertRule.objects.filter(name__in=["DemoServiceDown", "PortalSlow"]).count() == 2
    assert not AlertState.objects.exists()
