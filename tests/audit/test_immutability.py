"""The audit tables are append-only for the ORM, the admin and raw SQL, on SQLite and PostgreSQL."""

import uuid

import pytest
from django.db import DatabaseError, connection, transaction

from audit.immutability import protection_problems, restricted_role_sql, suspended_protection
from audit.models import AppendOnlyError, AuditCheckpoint, AuditEvent, DeploymentRecord
from audit.sealing import seal_all
from audit.services import audit_record, deployment_record
from audit.verification import verify_trail

pytestmark = pytest.mark.django_db

postgres_only = pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL roles and TRUNCATE")


def _event():
    return audit_record(actor=None, action="create", resource_type="ticket", resource_id=1)


def test_orm_refuses_changes_and_deletes():
    event = _event()
    record = deployment_record(version="1.0", deployed_by="ci")
    event.success = False
    with pytest.raises(AppendOnlyError):
        event.save()
    with pytest.raises(AppendOnlyError):
        event.delete()
    with pytest.raises(AppendOnlyError):
        AuditEvent.objects.filter(pk=event.pk).update(success=False)
    with pytest.raises(AppendOnlyError):
        AuditEvent.objects.all().delete()
    with pytest.raises(AppendOnlyError):
        DeploymentRecord.objects.filter(pk=record.pk).update(version="2.0")
    with pytest.raises(AppendOnlyError):
        AuditCheckpoint.objects.all().delete()


@pytest.mark.parametrize(
    "sql",
    [
        "UPDATE audit_auditevent SET success = NOT success",
        "DELETE FROM audit_auditevent",
        "DELETE FROM audit_auditevent WHERE id = {id}",
        "UPDATE audit_deploymentrecord SET version = 'x'",
        "DELETE FROM audit_auditcheckpoint",
    ],
)
def test_raw_sql_cannot_change_or_delete(sql, audit_dirs):
    # given rows in every protected table
    event = _event()
    deployment_record(version="1.0", deployed_by="ci")
    seal_all(wait_seconds=5)
    # when a raw statement tries to change them, then the database refuses
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(sql.format(id=event.pk))
    assert AuditEvent.objects.filter(pk=event.pk, success=True).exists()


@postgres_only
@pytest.mark.parametrize("table", ["audit_auditevent", "audit_deploymentrecord", "audit_auditcheckpoint"])
def test_truncate_is_refused(table):
    _event()
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f"TRUNCATE {table} CASCADE")


def _delete_as_replica():
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL session_replication_role = replica")
        cursor.execute("DELETE FROM audit_auditevent")


@postgres_only
def test_session_replication_role_does_not_switch_the_guard_off():
    _event()
    with pytest.raises(DatabaseError, match="append-only"):
        _delete_as_replica()


def test_protection_check_reports_a_dropped_trigger():
    assert protection_problems() == []
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("DROP TRIGGER audit_auditevent_append_only ON audit_auditevent")
        else:
            cursor.execute("DROP TRIGGER audit_auditevent_no_delete")
    problems = protection_problems()
    assert len(problems) == 1
    assert "audit_auditevent" in problems[0]
    assert not verify_trail().ok


def test_suspended_protection_restores_the_guards():
    event = _event()
    with suspended_protection(), connection.cursor() as cursor:
        cursor.execute("DELETE FROM audit_auditevent WHERE id = %s", [event.pk])
    assert protection_problems() == []
    assert not AuditEvent.objects.filter(pk=event.pk).exists()


def test_admin_is_read_only(client_as_admin):
    event = _event()
    assert client_as_admin.get("/admin/audit/auditevent/").status_code == 200
    assert client_as_admin.get(f"/admin/audit/auditevent/{event.pk}/change/").status_code == 200
    assert client_as_admin.get("/admin/audit/auditevent/add/").status_code == 403
    assert client_as_admin.post(f"/admin/audit/auditevent/{event.pk}/delete/", {"post": "yes"}).status_code == 403
    assert AuditEvent.objects.filter(pk=event.pk).exists()


@postgres_only
@pytest.mark.django_db(transaction=True)
def test_restricted_role_can_insert_and_seal_but_not_update(audit_dirs):
    # given an application role with only SELECT and INSERT on the audit tables
    role = f"audit_app_{uuid.uuid4().hex[:8]}"
    with connection.cursor() as cursor:
        for statement in restricted_role_sql(role):
            cursor.execute(statement)
    try:
        with connection.cursor() as cursor:
            cursor.execute(f"SET ROLE {role}")
        # when the application audits, seals and verifies as that role, then it works
        event = _event()
        deployment_record(version="9.9", deployed_by="ci")
        assert seal_all(wait_seconds=5)["events"] >= 1
        assert verify_trail().ok
        # and an UPDATE, DELETE or TRUNCATE is denied by privilege before any trigger runs
        for sql in (
            "UPDATE audit_auditevent SET success = false",
            "DELETE FROM audit_auditcheckpoint",
            "TRUNCATE audit_auditevent",
            "ALTER TABLE audit_auditevent DISABLE TRIGGER audit_auditevent_append_only",
        ):
            with pytest.raises(DatabaseError, match=r"permission denied|must be owner"), connection.cursor() as cursor:
                cursor.execute(sql)
        with pytest.raises(DatabaseError, match="must be owner"), suspended_protection():
            pass
        assert AuditEvent.objects.filter(pk=event.pk).exists()
    finally:
        with connection.cursor() as cursor:
            cursor.execute("RESET ROLE")
            cursor.execute(f"DROP OWNED BY {role}")
            cursor.execute(f"DROP ROLE {role}")
