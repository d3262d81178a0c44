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
from tourbrain_support.oncall.models import Page

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

    bug = TicketFactory(requester=UserFactory(is_beta=True), type="bug", priority="critical")
    result = alerts_evaluate()
    assert [(notice.rule.name, notice.kind) for notice in result.notices] == [("CriticalBugFromBetaUser", "firing")]
    ticket_url = f"{settings.SITE_URL.rstrip('/')}/queue/{bug.reference}/"
    assert result.notices[0].annotations == {"ticket": bug.reference, "url": ticket_url}
    page = OutboxMessage.objects.get(recipient="oncall@example.com")
    assert "[FIRING] CriticalBugFromBetaUser (critical)" in page.body
    # the notification names the ticket and links to it, not only to the queue
    assert f"Ticket: {bug.reference}" in page.body
    assert f"Link: {ticket_url}" in page.body
    # and so does the on-call page (its email links the ticket as the alert's page)
    oncall_page = Page.objects.get()
    assert oncall_page.url == ticket_url

    # the window passes: resolved, and the on-call is told
    later = alerts_evaluate(now=timezone.now() + timedelta(minutes=3))
    assert [notice.kind for notice in later.notices] == ["resolved"]


def test_audit_sources_name_failed_backups_until_a_later_run_succeeds():
    from audit.models import BackupRun

    sources = registered_sources()
    now = timezone.now()
    backups = sources["audit.backups_failed"].function
    assert backups(timedelta(days=1), now).value == 0
    failed = BackupRun.objects.create(status=BackupRun.Status.FAILED, error="disk full", started_at=now)
    drill = BackupRun.objects.create(
        kind=BackupRun.Kind.DRILL, status=BackupRun.Status.SUCCEEDED, rto_met=False, started_at=now
    )
    found = backups(timedelta(days=1), now + timedelta(seconds=1))
    assert found.value == 2
    assert found.annotations[f"backup run #{failed.pk}"] == "disk full"
    assert found.annotations[f"drill run #{drill.pk}"] == "over the recovery time objective"
    BackupRun.objects.create(status=BackupRun.Status.SUCCEEDED, started_at=now + timedelta(seconds=2))
    assert backups(timedelta(days=1), now + timedelta(seconds=3)).value == 1  # the drill still missed its RTO
    assert sources["audit.gdpr_requests_overdue"].function(timedelta(minutes=1), now).value == 0
    assert sources["audit.lockouts"].function(timedelta(minutes=1), now).value == 0
    assert sources["audit.verify_failed"].function(timedelta(minutes=1), now).value == 0


def test_demo_data_is_idempotent():
    call_command("seed_demo", stdout=io.StringIO())
    call_command("seed_demo", stdout=io.StringIO())
    assert set(HttpProbe.objects.values_list("name", flat=True)) >= {"portal", "demo-service"}
    assert AlertRule.objects.filter(name__in=["DemoServiceDown", "PortalSlow"]).count() == 2
    assert not AlertState.objects.exists()


def test_kpi_sources_fire_the_error_rate_rule_from_health_samples(settings):
    import uuid

    from kpis.models import HealthSample, ProductEvent

    settings.SLACK_WEBHOOK_URL = "http://127.0.0.1:9/never-called"  # the rule's channel exists; delivery not awaited
    AlertRule.objects.exclude(name="HighErrorRate").update(enabled=False)
    sources = registered_sources()
    now = timezone.now()

    # given no samples, the KPI sources say "no data", never zero
    for name in ("kpis.error_rate", "kpis.response_time_avg_ms", "kpis.signup_failure_rate"):
        assert sources[name].function(timedelta(minutes=5), now) is None
    assert sources["kpis.openai_rate_limited"].function(timedelta(minutes=5), now) == 0

    # when 2 of 10 sampled requests in the last 5 minutes failed, and 3 of 4 sign-up attempts
    for number in range(10):
        HealthSample.objects.create(
            source="portal",
            sample_key=f"s{number}",
            at=now - timedelta(minutes=1),
            status=500 if number < 2 else 200,
            duration_ms=100.0 * (number + 1),
        )
    for number, name in enumerate(["signupFailed", "signupFailed", "signupFailed", "userSignup"]):
        ProductEvent.objects.create(
            uuid=uuid.uuid4(), name=name, distinct_id=f"u{number}", timestamp=now, received_at=now
        )

    # then the sources read them, and the 5% error-rate rule fires
    assert sources["kpis.error_rate"].function(timedelta(minutes=5), now) == pytest.approx(0.2)
    assert sources["kpis.response_time_avg_ms"].function(timedelta(minutes=5), now) == pytest.approx(550.0)
    assert sources["kpis.signup_failure_rate"].function(timedelta(hours=1), now) == pytest.approx(0.75)
    result = alerts_evaluate(now=now)
    assert [(notice.rule.name, notice.kind) for notice in result.notices] == [("HighErrorRate", "firing")]


def test_a_deployment_freeze_fires_the_deployment_rule_and_lifting_it_resolves(settings):
    from audit.deployments import deployment_freeze_lift, deployment_freeze_set

    settings.ALERT_ONCALL_EMAILS = ["oncall@example.com"]
    AlertRule.objects.exclude(name="DeploymentFailedOrRolledBack").update(enabled=False)
    now = timezone.now()
    assert alerts_evaluate(now=now).notices == []

    deployment_freeze_set(reason="Production deployment dpl_1 error", source="vercel", deployment_id="dpl_1")
    fired = alerts_evaluate(now=now + timedelta(minutes=1))
    assert [(notice.rule.name, notice.kind) for notice in fired.notices] == [("DeploymentFailedOrRolledBack", "firing")]

    deployment_freeze_lift(note="Rolled forward")
    resolved = alerts_evaluate(now=now + timedelta(minutes=2))
    assert [notice.kind for notice in resolved.notices] == ["resolved"]
