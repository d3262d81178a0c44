"""Append-only protection of the audit tables in the database itself.

PostgreSQL: a statement-level BEFORE UPDATE OR DELETE OR TRUNCATE trigger raises on every change, and
is enabled ALWAYS so `session_replication_role` cannot switch it off; there is no session setting that
the function consults. A BEFORE INSERT row trigger stamps each sealed row with its writing transaction's
id first and only then draws the row id from a dedicated sequence, which is what makes the sealer's
watermark exact (see `audit.sealing`).

SQLite: BEFORE UPDATE and BEFORE DELETE triggers RAISE(ABORT) (a DELETE without WHERE also fires them,
because SQLite skips its truncate optimisation on tables with triggers).

Only the table owner can drop or disable these triggers; `suspended_protection()` does so inside one
transaction for the explicitly authorised purge procedure (and for `manage.py flush`). An application
role with only SELECT and INSERT (`restricted_role_sql`) can do neither.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from django.db import connections, transaction

# Tables whose rows can never change; the sealed ones also get the id/xid stamping trigger.
PROTECTED_TABLES = ("audit_auditevent", "audit_deploymentrecord", "audit_auditcheckpoint")
SEALED_TABLES = {
    "audit_auditevent": "audit_auditevent_seal_seq",
    "audit_deploymentrecord": "audit_deploymentrecord_seal_seq",
}

_PG_FUNCTIONS = """
CREATE OR REPLACE FUNCTION audit_reject_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit table % is append-only: % refused', TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'insufficient_privilege';
END
$$;
CREATE OR REPLACE FUNCTION audit_stamp_row() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    -- The transaction id first, then the row id: whoever holds an id already has an xid.
    NEW.xid := pg_current_xact_id()::text::bigint;
    NEW.id := nextval(TG_ARGV[0]::regclass);
    RETURN NEW;
END
$$;
"""


def _trigger_name(table: str, kind: str) -> str:
    return f"{table}_{kind}"


def _pg_install(cursor, table: str) -> None:
    guard = _trigger_name(table, "append_only")
    cursor.execute(f"DROP TRIGGER IF EXISTS {guard} ON {table}")
    cursor.execute(
        f"CREATE TRIGGER {guard} BEFORE UPDATE OR DELETE OR TRUNCATE ON {table} "
        "FOR EACH STATEMENT EXECUTE FUNCTION audit_reject_change()"
    )
    cursor.execute(f"ALTER TABLE {table} ENABLE ALWAYS TRIGGER {guard}")
    if table in SEALED_TABLES:
        sequence = SEALED_TABLES[table]
        stamp = _trigger_name(table, "stamp")
        cursor.execute(f"CREATE SEQUENCE IF NOT EXISTS {sequence}")
        cursor.execute(f"DROP TRIGGER IF EXISTS {stamp} ON {table}")
        cursor.execute(
            f"CREATE TRIGGER {stamp} BEFORE INSERT ON {table} "
            f"FOR EACH ROW EXECUTE FUNCTION audit_stamp_row('{sequence}')"
        )
        cursor.execute(f"ALTER TABLE {table} ENABLE ALWAYS TRIGGER {stamp}")


def _sqlite_install(cursor, table: str) -> None:
    for operation in ("UPDATE", "DELETE"):
        name = _trigger_name(table, f"no_{operation.lower()}")
        cursor.execute(
            f"CREATE TRIGGER IF NOT EXISTS {name} BEFORE {operation} ON {table} "
            f"BEGIN SELECT RAISE(ABORT, 'audit table {table} is append-only: {operation} refused'); END"
        )


def install_protection(using: str = "default") -> None:
    """Create (or re-create) every trigger; idempotent, run by the migration and after every migrate."""
    connection = connections[using]
    with transaction.atomic(using=using), connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(_PG_FUNCTIONS)
            for table in PROTECTED_TABLES:
                _pg_install(cursor, table)
        elif connection.vendor == "sqlite":
            for table in PROTECTED_TABLES:
                _sqlite_install(cursor, table)


def install_protection_migration(apps, schema_editor) -> None:
    install_protection(schema_editor.connection.alias)


def protection_problems(using: str = "default") -> list[str]:
    """What is missing from the protection (empty when every trigger is in place and enabled)."""
    connection = connections[using]
    problems = []
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                "SELECT c.relname, t.tgname, t.tgenabled FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid "
                "WHERE NOT t.tgisinternal AND c.relname = ANY(%s)",
                [list(PROTECTED_TABLES)],
            )
            found = {(table, name): enabled for table, name, enabled in cursor.fetchall()}
            expected = [(t, _trigger_name(t, "append_only")) for t in PROTECTED_TABLES]
            expected += [(t, _trigger_name(t, "stamp")) for t in SEALED_TABLES]
            for table, name in expected:
                enabled = found.get((table, name))
                if enabled is None:
                    problems.append(f"trigger {name} on {table} is missing")
                elif enabled != "A":
                    problems.append(f"trigger {name} on {table} is not enabled ALWAYS (state {enabled!r})")
        elif connection.vendor == "sqlite":
            cursor.execute("SELECT tbl_name, name FROM sqlite_master WHERE type = 'trigger'")
            found = set(cursor.fetchall())
            for table in PROTECTED_TABLES:
                for operation in ("update", "delete"):
                    name = _trigger_name(table, f"no_{operation}")
                    if (table, name) not in found:
                        problems.append(f"trigger {name} on {table} is missing")
        else:  # pragma: no cover - other engines are not supported
            problems.append(f"no append-only protection for database engine {connection.vendor}")
    return problems


@contextlib.contextmanager
def suspended_protection(using: str = "default") -> Iterator[None]:
    """Privileged purge window: the guards are removed and restored inside ONE transaction.

    Only the table owner (or a superuser) may do this; the restricted application role gets a
    permission error. Nothing outside the transaction ever sees the tables unprotected.
    """
    connection = connections[using]
    with transaction.atomic(using=using):
        with connection.cursor() as cursor:
            if connection.vendor == "postgresql":
                cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # ALTER TABLE refuses pending deferred checks
            for table in PROTECTED_TABLES:
                if connection.vendor == "postgresql":
                    cursor.execute(f"ALTER TABLE {table} DISABLE TRIGGER {_trigger_name(table, 'append_only')}")
                else:
                    for operation in ("update", "delete"):
                        cursor.execute(f"DROP TRIGGER IF EXISTS {_trigger_name(table, f'no_{operation}')}")
        yield
        with connection.cursor() as cursor:
            for table in PROTECTED_TABLES:
                if connection.vendor == "postgresql":
                    cursor.execute(f"ALTER TABLE {table} ENABLE ALWAYS TRIGGER {_trigger_name(table, 'append_only')}")
                else:
                    _sqlite_install(cursor, table)


def restricted_role_sql(role: str, *, password: str | None = None) -> list[str]:
    """SQL that creates an application role with SELECT + INSERT only on the append-only tables."""
    statements = []
    if password is not None:
        escaped = password.replace("'", "''")
        statements.append(
            f"DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{role}') THEN "
            f"CREATE ROLE {role} LOGIN PASSWORD '{escaped}'; END IF; END $$"
        )
    else:
        statements.append(
            f"DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{role}') THEN "
            f"CREATE ROLE {role} LOGIN; END IF; END $$"
        )
    statements += [
        f"GRANT USAGE ON SCHEMA public TO {role}",
        f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {role}",
        f"GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA public TO {role}",
    ]
    for table in PROTECTED_TABLES:
        statements.append(f"REVOKE UPDATE, DELETE, TRUNCATE, REFERENCES, TRIGGER ON {table} FROM {role}")
    return statements
