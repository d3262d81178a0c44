"""audit_verify: detects tampering (naming the first bad row), rewrites, missing seals, unsealed rows; archives."""

import datetime as dt
import gzip
import logging

import pytest
import time_machine
from django.core.management import CommandError, call_command
from django.db import connection

from audit.archive import archive_purge, archive_write
from audit.immutability import suspended_protection
from audit.models import AuditCheckpoint, AuditEvent, DeploymentRecord
from audit.sealing import seal_all
from audit.services import audit_record, deployment_record
from audit.tasks import audit_verify_scheduled
from audit.verification import verify_trail

pytestmark = pytest.mark.django_db


def _events(n):
    return [audit_record(actor=None, action="update", resource_type="ticket", resource_id=i) for i in range(n)]


def _privileged_sql(sql, params=()):
    """What a database owner could do: lift the guard and change rows directly."""
    with suspended_protection(), connection.cursor() as cursor:
        cursor.execute(sql, params)


def test_an_untouched_trail_verifies(audit_dirs, capsys):
    _events(5)
    deployment_record(version="1.0", deployed_by="ci")
    seal_all(wait_seconds=5)
    call_command("audit_verify")
    rows = AuditEvent.objects.count() + DeploymentRecord.objects.count()  # the migrate run records one too
    assert f"audit trail OK: {rows} rows" in capsys.readouterr().out


def test_a_modified_row_is_named(audit_dirs):
    # given a sealed trail
    events = _events(6)
    seal_all(wait_seconds=5)
    # when an owner rewrites one row's action with raw SQL
    _privileged_sql("UPDATE audit_auditevent SET action = 'share' WHERE id IN (%s, %s)", [events[2].pk, events[4].pk])
    # then verification fails and names the first bad row
    report = verify_trail()
    assert report.first_bad_row.row_id == events[2].pk
    assert report.first_bad_row.code == "row_modified"
    with pytest.raises(CommandError):
        call_command("audit_verify")


def test_a_deleted_row_is_named(audit_dirs):
    events = _events(4)
    seal_all(wait_seconds=5)
    _privileged_sql("DELETE FROM audit_auditevent WHERE id = %s", [events[1].pk])
    problem = verify_trail().first_bad_row
    assert (problem.code, problem.row_id) == ("row_missing", events[1].pk)


def test_a_whole_table_rewrite_with_resealing_is_caught_by_the_external_log(audit_dirs):
    # given a sealed trail and its external log
    events = _events(3)
    seal_all(wait_seconds=5)
    # when someone with the key rewrites history: empties the tables and seals a forged history
    _privileged_sql("DELETE FROM audit_auditcheckpoint")
    _privileged_sql("DELETE FROM audit_auditevent WHERE id = %s", [events[0].pk])
    seal_all(wait_seconds=5)
    # then the checkpoints no longer match what was written outside the database
    codes = {p.code for p in verify_trail().problems}
    assert "external_mismatch" in codes


def test_dropped_checkpoints_are_caught_by_the_external_log(audit_dirs):
    _events(2)
    seal_all(wait_seconds=5)
    _events(2)
    seal_all(wait_seconds=5)
    _privileged_sql("DELETE FROM audit_auditcheckpoint WHERE sequence = 2")
    codes = [p.code for p in verify_trail().problems]
    assert "db_missing" in codes


def test_a_forged_checkpoint_fails_its_signature(audit_dirs, settings):
    _events(2)
    settings.AUDIT_SIGNING_KEY = "AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE="  # a key the verifier does not trust
    seal_all(wait_seconds=5)
    settings.AUDIT_SIGNING_KEY = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="
    assert {p.code for p in verify_trail().problems} == {"signature"}


def test_a_row_left_unsealed_too_long_fails(audit_dirs, settings):
    settings.AUDIT_MAX_UNSEALED_SECONDS = 60
    with time_machine.travel(dt.datetime(2026, 1, 1, 12, 0, tzinfo=dt.UTC), tick=False):
        (event,) = _events(1)
    with time_machine.travel(dt.datetime(2026, 1, 1, 12, 0, 30, tzinfo=dt.UTC), tick=False):
        assert verify_trail().ok
    with time_machine.travel(dt.datetime(2026, 1, 1, 12, 5, tzinfo=dt.UTC), tick=False):
        report = verify_trail()
    assert (report.first_bad_row.code, report.first_bad_row.row_id) == ("unsealed", event.pk)


def test_scheduled_verification_is_recorded_and_alerts_on_failure(audit_dirs, caplog):
    # given a sealed trail: a passing run is itself an audit event
    events = _events(2)
    seal_all(wait_seconds=5)
    assert audit_verify_scheduled() is True
    run = AuditEvent.objects.filter(action="verify").latest("id")
    assert run.success
    assert run.changes["rows_checked"] == 2 + DeploymentRecord.objects.count()
    # when a row is tampered with, the next run fails, is recorded as failed and raises an alert
    _privileged_sql("UPDATE audit_auditevent SET resource_id = 'x' WHERE id = %s", [events[0].pk])
    with caplog.at_level(logging.ERROR, logger="audit.alerts"):
        assert audit_verify_scheduled() is False
    failed = AuditEvent.objects.filter(action="verify").latest("id")
    assert not failed.success
    assert any(r.name == "audit.alerts" and r.levelno == logging.ERROR for r in caplog.records)


def test_archive_then_purge_keeps_the_trail_verifiable(audit_dirs):
    # given two sealed batches, the first one old
    with time_machine.travel(dt.datetime(2025, 1, 1, tzinfo=dt.UTC), tick=False):
        old = _events(3)
        seal_all(wait_seconds=5)
    recent = _events(2)
    seal_all(wait_seconds=5)
    # when the old range is archived and (privileged) purged
    path = archive_write(stream_name="events", before=dt.datetime(2025, 6, 1, tzinfo=dt.UTC))
    assert path.name == "events-00000001-00000001.jsonl.gz"
    assert archive_purge(path=path) == 3
    # then the rows are gone from the database, and verification reads them from the archive
    assert not AuditEvent.objects.filter(pk__in=[e.pk for e in old]).exists()
    assert AuditEvent.objects.filter(pk__in=[e.pk for e in recent]).count() == 2
    report = verify_trail()
    assert report.ok, report.problems
    assert report.rows_checked == 5 + DeploymentRecord.objects.count()
    # and a tampered archive is caught
    lines = gzip.decompress(path.read_bytes()).replace(b'"action":"update"', b'"action":"delete"', 1)
    path.write_bytes(gzip.compress(lines))
    assert verify_trail().first_bad_row.row_id == old[0].pk
    assert AuditCheckpoint.objects.filter(stream="events").count() == 2


def test_archive_command_writes_nothing_when_nothing_is_old(audit_dirs, capsys):
    _events(1)
    seal_all(wait_seconds=5)
    call_command("audit_archive", "--before", "2000-01-01")
    assert "events: nothing to archive" in capsys.readouterr().out
    with pytest.raises(CommandError):
        call_command("audit_archive", "--before", "yesterday")


def test_altered_personal_data_no_longer_matches_its_sealed_digest(audit_dirs, make_user):
    from django.test import RequestFactory

    from audit.models import AuditPersonalData

    user = make_user()
    event = audit_record(
        actor=user,
        action="login",
        resource_type="user",
        resource_id=user.pk,
        request=RequestFactory().get("/", REMOTE_ADDR="192.0.2.8"),
    )
    seal_all(wait_seconds=5)
    assert verify_trail().ok
    # the personal store is not append-only (erasure must work), but a changed value is caught
    AuditPersonalData.objects.filter(event=event).update(data={"ip": "198.51.100.1"})
    problems = verify_trail().problems
    assert [(p.code, p.stream) for p in problems] == [("personal_modified", "events")]
    assert f"event #{event.pk}" in problems[0].message
