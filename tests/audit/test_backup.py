"""Backups for real on the engine under test: pg_dump/pg_restore on PostgreSQL, the online backup API on
SQLite; manifest, scratch restore with row counts and audit verification, runs recorded, failures alert."""

import json
import logging

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection

from audit.backups import backup_create, backup_run, backup_verify, backup_verify_run, drill_due, manifest_path
from audit.models import BackupRun
from audit.sealing import seal_all
from audit.services import audit_record
from audit.tasks import backup_restore_drill
from tests.factories import UserFactory

# Committed data: pg_dump runs in its own session and only sees what is committed.
pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def backup_dir(settings, tmp_path, audit_dirs):
    settings.BACKUP_DIR = tmp_path / "backups"
    return settings.BACKUP_DIR


@pytest.fixture
def some_data():
    users = UserFactory.create_batch(3)
    for user in users:
        audit_record(actor=user, action="update", resource_type="ticket", resource_id="1")
    seal_all(wait_seconds=0)
    return users


def test_backup_writes_a_manifest_and_verifies_by_restoring(backup_dir, some_data):
    # when the daily job runs
    run = backup_run()
    # then it succeeded, restored the copy into a scratch database and checked it
    assert run.status == BackupRun.Status.SUCCEEDED, run.error
    assert run.verified
    assert run.engine == connection.vendor
    assert run.size_bytes > 0
    assert run.duration_seconds > 0
    manifest = json.loads(manifest_path(backup_dir / run.path.rsplit("/", 1)[-1]).read_text())
    assert manifest["engine"] == connection.vendor
    assert manifest["sha256"] == run.sha256
    users_table = next(name for name in manifest["tables"] if name.endswith("tourbrain_support_user"))
    assert manifest["tables"][users_table] == 3
    events_table = next(name for name in manifest["tables"] if name.endswith("audit_auditevent"))
    assert manifest["tables"][events_table] >= 3


def test_verify_reports_the_audit_check_and_counts(backup_dir, some_data):
    path, manifest = backup_create()
    result = backup_verify(path)
    assert result.ok, result.mismatches
    assert result.audit_checked, result.audit_detail
    assert result.tables == len(manifest["tables"])
    assert result.rows == sum(manifest["tables"].values())


def test_tampered_backup_fails_verification_and_alerts(backup_dir, some_data, caplog):
    path, _ = backup_create()
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    with caplog.at_level(logging.ERROR, logger="audit.alerts"):
        run = backup_verify_run(path)
    assert run.status == BackupRun.Status.FAILED
    assert "checksum mismatch" in run.error
    assert any(r.name == "audit.alerts" and r.levelno == logging.ERROR for r in caplog.records)
    with pytest.raises(CommandError, match="checksum mismatch"):
        call_command("verify_backup", str(path))


def test_row_count_mismatch_is_reported(backup_dir, some_data):
    path, manifest = backup_create()
    users_table = next(name for name in manifest["tables"] if name.endswith("tourbrain_support_user"))
    manifest["tables"][users_table] += 1
    manifest_path(path).write_text(json.dumps(manifest))
    result = backup_verify(path)
    assert not result.ok
    assert any(users_table in line for line in result.mismatches)


def test_restore_drill_measures_recovery_against_the_rto(backup_dir, some_data, settings, caplog):
    call_command("backup", "--no-verify")
    # a drill within the RTO
    run = backup_verify_run(kind=BackupRun.Kind.DRILL)
    assert run.status == BackupRun.Status.SUCCEEDED, run.error
    assert run.recovery_seconds > 0
    assert run.rto_met is True
    # the monthly task then has nothing to do for 30 days
    assert not drill_due()
    assert backup_restore_drill() is None
    # an RTO the drill cannot meet is flagged and alerts
    settings.BACKUP_RTO_SECONDS = 0
    with caplog.at_level(logging.ERROR, logger="audit.alerts"):
        slow = backup_verify_run(kind=BackupRun.Kind.DRILL)
    assert slow.rto_met is False
    assert any("RTO" in r.getMessage() for r in caplog.records)


def test_failed_backup_is_recorded_and_alerts(backup_dir, settings, caplog, monkeypatch):
    # given a backup folder that cannot be written
    blocker = backup_dir.parent / "not-a-folder"
    blocker.write_text("")
    with caplog.at_level(logging.ERROR, logger="audit.alerts"):
        run = backup_run(directory=blocker / "sub")
    assert run.status == BackupRun.Status.FAILED
    assert run.error
    assert any(r.name == "audit.alerts" for r in caplog.records)
    with pytest.raises(CommandError):
        call_command("backup", "--dir", str(blocker / "sub"))


def test_backups_page_lists_runs(backup_dir, some_data, client_as, django_assert_max_num_queries):
    from tourbrain_support.roles import Role

    backup_run()
    auditor = client_as(Role.AUDITOR)
    with django_assert_max_num_queries(8):
        response = auditor.get("/audit/backups/")
    assert response.status_code == 200
    assert "Succeeded" in response.content.decode()
