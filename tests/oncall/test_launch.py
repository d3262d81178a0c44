"""Launch readiness: automatic checks live (command exit code), manual items ticked by an admin, audited."""

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from audit.models import AuditEvent, BackupRun
from audit.sealing import seal_all
from tourbrain_support.models import WorkerHeartbeat
from tourbrain_support.oncall.models import LaunchItemTick
from tourbrain_support.roles import Role

pytestmark = pytest.mark.django_db


def test_launch_check_fails_when_an_automatic_item_fails(capsys):
    with pytest.raises(CommandError, match=r"launch check failed: .*settings.*oncall.*backup_verified"):
        call_command("launch_check")
    out = capsys.readouterr().out
    assert "[FAIL] auto   All environment variables configured correctly: missing or unsafe: " in out
    assert "[TODO] manual Rollback procedures tested and ready: not ticked" in out


@pytest.fixture
def production_ready(settings, tmp_path, team, providers):
    settings.DEBUG = False
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.SENTRY_DSN = "https://key@sentry.example/1"
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


def test_launch_check_passes_when_every_automatic_item_passes(production_ready, capsys):
    call_command("launch_check")
    out = capsys.readouterr().out
    assert "launch check passed" in out
    assert "[OK  ] auto   Audit logging operational (trail verifies): audit trail OK" in out
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
