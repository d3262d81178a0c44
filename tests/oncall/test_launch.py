"""Launch readiness: automatic checks live (command exit code), manual items ticked by an admin, audited."""

import gzip

import brotli
import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from audit.models import AuditEvent, BackupRun
from audit.sealing import seal_all
from tourbrain_support.models import WorkerHeartbeat
from tourbrain_support.oncall.models import LaunchDeliveryResult, LaunchItemTick
from tourbrain_support.roles import Role

pytestmark = pytest.mark.django_db


def sentry_envelope_body(request) -> bytes:
    """An envelope as the SDK posted it (brotli or gzip compressed, as its Content-Encoding says)."""
    encoding = {name.lower(): value for name, value in request.headers.items()}.get("content-encoding", "")
    if encoding == "br":
        return brotli.decompress(request.body)
    if encoding == "gzip":
        return gzip.decompress(request.body)
    return request.body


def test_launch_check_fails_when_an_automatic_item_fails(capsys):
    with pytest.raises(CommandError, match=r"launch check failed: .*settings.*oncall.*backup_verified"):
        call_command("launch_check")
    out = capsys.readouterr().out
    assert "[FAIL] auto   All environment variables configured correctly: missing or unsafe: " in out
    assert "[TODO] manual Rollback procedures tested and ready: not ticked" in out


@pytest.fixture
def production_ready(settings, tmp_path, team, providers, smtp_server):
    """Every automatic item passes: the test deliveries go to the local SMTP server and the local HTTP server
    (Slack's webhooks answering 200 "ok", and a stand-in for Sentry's ingest endpoint)."""
    settings.DEBUG = False
    settings.SENTRY_DSN = f"http://key@127.0.0.1:{providers.port}/1"
    settings.SENTRY_TRANSFER_SPOOL = tmp_path / "sentry-transfers.jsonl"
    settings.SITE_URL = "https://support.tourbrain.ai"
    WorkerHeartbeat.objects.create(worker="worker@test", beat_at=timezone.now())
    BackupRun.objects.create(
        kind=BackupRun.Kind.VERIFY, status=BackupRun.Status.SUCCEEDED, verified=True, finished_at=timezone.now()
    )
    # The sealer has run, as the beat runs it every minute: rows committed before this test (the test database's own
    # migrate record, minutes old in a long run) are sealed, into checkpoint files of this test's own.
    settings.AUDIT_CHECKPOINT_DIR = str(tmp_path / "checkpoints")
    settings.AUDIT_ARCHIVE_DIR = str(tmp_path / "archive")
    seal_all(wait_seconds=0)


def test_launch_check_passes_when_every_automatic_item_passes(production_ready, providers, smtp_server, capsys):
    call_command("launch_check")
    out = capsys.readouterr().out
    assert "launch check passed" in out
    assert "[OK  ] auto   Audit logging operational (trail verifies): audit trail OK" in out
    assert "[OK  ] auto   A test Slack post delivered (#alerts, #status): alerts: 200 ok; status: 200 ok" in out
    assert "[OK  ] auto   A test email delivered through the mail server: test email to support@" in out
    assert "[OK  ] auto   Alert rules configured (the pre-installed rules enabled): " in out
    assert "[OK  ] auto   Error tracking tested: a Sentry test event sent: test event " in out
    # What was sent arrived: the email, a post to each Slack channel, the Sentry envelope.
    (email,) = smtp_server.wait_for(1)
    assert email.message["Subject"] == "TourBrain Support launch check"
    paths = [request.path for request in providers.requests]
    assert {"/slack/alerts", "/slack/status", "/api/1/envelope/"} <= set(paths)
    envelope = next(request for request in providers.requests if request.path == "/api/1/envelope/")
    assert b"launch check: a test event" in sentry_envelope_body(envelope)
    # Stored for the page.
    assert LaunchDeliveryResult.objects.filter(ok=True).count() == 3
    with pytest.raises(CommandError, match="rollback_tested"):
        call_command("launch_check", "--require-manual")


def test_a_backup_verified_more_than_a_day_ago_fails(production_ready, capsys):
    BackupRun.objects.update(finished_at=timezone.now() - timezone.timedelta(hours=25))
    with pytest.raises(CommandError, match="backup_verified"):
        call_command("launch_check")


def test_an_admin_ticks_a_manual_item_with_a_note(client_as, django_assert_max_num_queries):
    client = client_as(Role.ADMIN)
    response = client.post("/launch/", {"key": "rollback_tested", "done": "on", "note": "Rolled back v1.4 on staging"})
    assert response.status_code == 302
    tick = LaunchItemTick.objects.get(key="rollback_tested")
    assert tick.done
    assert tick.ticked_by == client.user
    event = AuditEvent.objects.get(resource_type="launch_item")
    assert event.resource_id == "rollback_tested"
    assert event.actor_id == client.user.pk
    page = client.get("/launch/")
    assert "Rolled back v1.4 on staging" in page.content.decode()
    assert client.user.get_full_name() in page.content.decode()

    missing_note = client.post("/launch/", {"key": "gdpr", "done": "on", "note": ""})
    assert missing_note.status_code == 400
    automatic = client.post("/launch/", {"key": "settings", "done": "on", "note": "x"})
    assert automatic.status_code == 400


@pytest.mark.parametrize("role", [Role.SUPPORT_LEAD, Role.ENGINEER, Role.AUDITOR])
def test_only_admins_open_the_launch_page(client_as, role):
    assert client_as(role).get("/launch/").status_code == 403
