"""Database backups with a SHA-256 manifest, verified by restoring into a scratch database.

PostgreSQL: `pg_dump --format=custom` inside an exported REPEATABLE READ snapshot, so the row counts in
the manifest are exactly the rows in the dump; verification `pg_restore`s into a temporary database.
SQLite: the online backup API (`sqlite3.Connection.backup`), verified by restoring into a temp file.
Either way verification compares every table's row count with the manifest and runs the audit-log
verification against the restored copy. Every run is a `BackupRun`; failures raise an audit alert
(`audit.alerts.audit_alert_raise`: log and Sentry; the BackupFailed alert rule tells admins and auditors).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import sqlite3
import subprocess
import tempfile
import time
import uuid
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

from django.conf import settings
from django.db import connections
from django.utils import timezone

from audit.alerts import AlertKind, audit_alert_raise
from audit.models import BackupRun

logger = logging.getLogger(__name__)

MANIFEST_VERSION = 1


class BackupError(Exception):
    """A backup or its verification failed; the message says what and where."""


@dataclass
class VerifyResult:
    path: Path
    tables: int = 0
    rows: int = 0
    mismatches: list[str] = field(default_factory=list)
    audit_checked: bool = False
    audit_detail: str = ""
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.mismatches


def backup_dir() -> Path:
    path = Path(getattr(settings, "BACKUP_DIR", None) or Path(settings.DATA_DIR) / "backups")
    path.mkdir(parents=True, exist_ok=True)
    return path


def manifest_path(path: Path) -> Path:
    return path.with_name(path.name + ".manifest.json")


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _engine(alias: str) -> str:
    vendor = connections[alias].vendor
    if vendor not in ("postgresql", "sqlite"):
        raise BackupError(f"backups support PostgreSQL and SQLite, not {vendor}")
    return vendor


# --- PostgreSQL ---------------------------------------------------------------------------------


def _pg_params(settings_dict: dict, name: str | None = None) -> dict:
    return {
        "host": settings_dict.get("HOST") or "",
        "port": str(settings_dict.get("PORT") or ""),
        "user": settings_dict.get("USER") or "",
        "password": settings_dict.get("PASSWORD") or "",
        "dbname": name or settings_dict["NAME"],
    }


def _pg_env(params: dict) -> dict:
    env = dict(os.environ)
    if params["password"]:
        env["PGPASSWORD"] = params["password"]
    return env


def _pg_cli_args(params: dict) -> list[str]:
    args = []
    if params["host"]:
        args += ["--host", params["host"]]
    if params["port"]:
        args += ["--port", params["port"]]
    if params["user"]:
        args += ["--username", params["user"]]
    return args


def _pg_connect(params: dict, autocommit: bool = False):
    import psycopg

    kwargs = {key: value for key, value in params.items() if value}
    return psycopg.connect(**kwargs, autocommit=autocommit)


def _pg_table_counts(cursor) -> dict[str, int]:
    cursor.execute(
        "SELECT quote_ident(table_schema) || '.' || quote_ident(table_name) FROM information_schema.tables "
        "WHERE table_type = 'BASE TABLE' AND table_schema NOT IN ('pg_catalog', 'information_schema') "
        "ORDER BY 1"
    )
    tables = [row[0] for row in cursor.fetchall()]
    counts = {}
    for table in tables:
        cursor.execute(f"SELECT count(*) FROM {table}")  # noqa: S608 - identifiers quoted by quote_ident
        counts[table] = cursor.fetchone()[0]
    return counts


def _run(args: list[str], env: dict) -> None:
    completed = subprocess.run(args, env=env, capture_output=True, text=True, check=False)  # noqa: S603
    if completed.returncode != 0:
        raise BackupError(f"{args[0]} failed ({completed.returncode}): {completed.stderr.strip()[-2000:]}")


def _pg_backup(settings_dict: dict, target: Path) -> dict[str, int]:
    params = _pg_params(settings_dict)
    with _pg_connect(params) as conn, conn.cursor() as cursor:
        # One snapshot for the counts and the dump: the manifest describes exactly what was dumped.
        cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        cursor.execute("SELECT pg_export_snapshot()")
        snapshot = cursor.fetchone()[0]
        counts = _pg_table_counts(cursor)
        _run(
            [
                shutil.which("pg_dump") or "pg_dump",
                *_pg_cli_args(params),
                "--format=custom",
                "--no-owner",
                "--no-privileges",
                f"--snapshot={snapshot}",
                f"--file={target}",
                params["dbname"],
            ],
            _pg_env(params),
        )
        conn.rollback()
    return counts


@contextmanager
def _pg_scratch_database(settings_dict: dict):
    """A temporary database on the same server, dropped afterwards whatever happens."""
    params = _pg_params(settings_dict)
    scratch = f"{params['dbname'][:40]}_restore_{uuid.uuid4().hex[:10]}"
    admin = {**params, "dbname": "postgres"}
    with _pg_connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{scratch}"')
    try:
        yield scratch
    finally:
        with _pg_connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{scratch}" WITH (FORCE)')


def _pg_restore(settings_dict: dict, path: Path, scratch: str) -> dict[str, int]:
    params = _pg_params(settings_dict, scratch)
    _run(
        [
            shutil.which("pg_restore") or "pg_restore",
            *_pg_cli_args(params),
            "--no-owner",
            "--no-privileges",
            "--exit-on-error",
            f"--dbname={scratch}",
            str(path),
        ],
        _pg_env(params),
    )
    with _pg_connect(params) as conn, conn.cursor() as cursor:
        return _pg_table_counts(cursor)


# --- SQLite -------------------------------------------------------------------------------------


def _sqlite_table_counts(conn: sqlite3.Connection) -> dict[str, int]:
    tables = [
        row[0]
        for row in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name"
        )
    ]
    return {table: conn.execute(f'SELECT count(*) FROM "{table}"').fetchone()[0] for table in tables}  # noqa: S608


def _sqlite_backup(alias: str, target: Path) -> dict[str, int]:
    connection = connections[alias]
    connection.ensure_connection()
    source: sqlite3.Connection = connection.connection
    destination = sqlite3.connect(target)
    try:
        counts = _sqlite_table_counts(source)
        # The backup API copies a consistent image page by page (in-memory databases too).
        source.backup(destination)
    finally:
        destination.close()
    return counts


def _sqlite_restore(path: Path, scratch: Path) -> dict[str, int]:
    source = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    destination = sqlite3.connect(scratch)
    try:
        source.backup(destination)
        check = destination.execute("PRAGMA integrity_check").fetchone()[0]
        if check != "ok":
            raise BackupError(f"integrity_check of the restored copy: {check}")
        return _sqlite_table_counts(destination)
    finally:
        source.close()
        destination.close()


# --- audit verification against the restored copy ----------------------------------------------


_VERIFY_SNIPPET = """
import json
from audit.verification import verify_trail
report = verify_trail(max_unsealed_seconds=1e12)
print("@@AUDIT@@" + json.dumps({"rows": report.rows_checked, "problems": [[p.code, str(p)] for p in report.problems]}))
"""
# Checkpoints sealed after the backup was taken are in the external log but not in the copy: expected.
_EXPECTED_IN_A_COPY = {"db_missing"}


def _database_url(settings_dict: dict, name: str) -> str:
    from urllib.parse import quote

    if settings_dict["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{name}"
    user = quote(settings_dict.get("USER") or "", safe="")
    password = quote(settings_dict.get("PASSWORD") or "", safe="")
    auth = f"{user}:{password}@" if password else (f"{user}@" if user else "")
    host = settings_dict.get("HOST") or ""
    port = f":{settings_dict['PORT']}" if settings_dict.get("PORT") else ""
    return f"postgres://{auth}{host}{port}/{name}"


def _verify_audit(database_url: str) -> tuple[bool, str]:
    """Run the audit-trail verification against the restored copy, in a child process pointed at it
    (the verifier reads the default database; a child keeps this process's connections untouched)."""
    import sys

    try:
        import audit.verification  # noqa: F401
    except ImportError:
        return True, "audit verification not installed"
    manage = Path(settings.BASE_DIR) / "manage.py"
    env = {**os.environ, "DATABASE_URL": database_url, "LOG_LEVEL": "ERROR"}
    # The child verifies with this process's effective audit configuration (keys, external log).
    for name in ("SECRET_KEY", "DATA_DIR", "AUDIT_SIGNING_KEY", "AUDIT_CHECKPOINT_DIR", "AUDIT_ARCHIVE_DIR"):
        value = getattr(settings, name, None)
        if value:
            env[name] = str(value)
    public_keys = getattr(settings, "AUDIT_VERIFY_PUBLIC_KEYS", None)
    if public_keys:
        env["AUDIT_VERIFY_PUBLIC_KEYS"] = ",".join(public_keys)
    completed = subprocess.run(  # noqa: S603 - fixed argv, our own interpreter and manage.py
        [sys.executable, str(manage), "shell", "-c", _VERIFY_SNIPPET],
        env=env,
        capture_output=True,
        text=True,
        timeout=4 * 3600,
        check=False,
    )
    line = next((ln for ln in completed.stdout.splitlines() if ln.startswith("@@AUDIT@@")), None)
    if completed.returncode != 0 or line is None:
        return False, f"audit verification could not run: {completed.stderr.strip()[-1000:]}"
    result = json.loads(line.removeprefix("@@AUDIT@@"))
    problems = [message for code, message in result["problems"] if code not in _EXPECTED_IN_A_COPY]
    if problems:
        return False, "; ".join(problems[:3])
    return True, f"audit trail verified: {result['rows']} rows"


# --- public API ---------------------------------------------------------------------------------


def backup_create(*, alias: str = "default", directory: Path | None = None) -> tuple[Path, dict]:
    """Write a backup and its manifest; returns (backup path, manifest)."""
    engine = _engine(alias)
    directory = Path(directory) if directory else backup_dir()
    directory.mkdir(parents=True, exist_ok=True)
    created_at = timezone.now()
    stamp = created_at.strftime("%Y%m%dT%H%M%S%fZ")
    suffix = ".dump" if engine == "postgresql" else ".sqlite3"
    target = directory / f"tourbrain-{stamp}{suffix}"
    partial = target.with_name(target.name + ".partial")
    settings_dict = connections[alias].settings_dict
    try:
        counts = _pg_backup(settings_dict, partial) if engine == "postgresql" else _sqlite_backup(alias, partial)
        partial.rename(target)  # only complete files ever carry the final name
    finally:
        partial.unlink(missing_ok=True)
    manifest = {
        "format_version": MANIFEST_VERSION,
        "file": target.name,
        "sha256": sha256_file(target),
        "size": target.stat().st_size,
        "engine": engine,
        "created_at": created_at.isoformat(),
        "tables": counts,
    }
    manifest_path(target).write_text(json.dumps(manifest, indent=2, sort_keys=True))
    return target, manifest


def backup_latest(directory: Path | None = None) -> Path | None:
    directory = Path(directory) if directory else backup_dir()
    candidates = sorted(p for p in directory.glob("tourbrain-*") if manifest_path(p).exists())
    return candidates[-1] if candidates else None


def backup_verify(path: Path, *, alias: str = "default") -> VerifyResult:
    """Checksum, restore into a scratch database, compare every table's row count, verify the audit log."""
    started = time.monotonic()
    path = Path(path)
    result = VerifyResult(path=path)
    manifest_file = manifest_path(path)
    if not path.exists() or not manifest_file.exists():
        raise BackupError(f"{path} or its manifest is missing")
    manifest = json.loads(manifest_file.read_text())
    if manifest.get("file") != path.name:
        raise BackupError(f"manifest names {manifest.get('file')!r}, not {path.name!r}")
    if path.stat().st_size != manifest["size"] or sha256_file(path) != manifest["sha256"]:
        raise BackupError(f"checksum mismatch: {path.name} is not the file the manifest describes")
    settings_dict = connections[alias].settings_dict
    if manifest["engine"] == "postgresql":
        if connections[alias].vendor != "postgresql":
            raise BackupError("a PostgreSQL backup is verified against a PostgreSQL server")
        with _pg_scratch_database(settings_dict) as scratch:
            restored = _pg_restore(settings_dict, path, scratch)
            result.audit_checked, result.audit_detail = _verify_audit(_database_url(settings_dict, scratch))
    else:
        with tempfile.TemporaryDirectory(prefix="tb-restore-") as folder:
            scratch = Path(folder) / "restored.sqlite3"
            restored = _sqlite_restore(path, scratch)
            sqlite_settings = {"ENGINE": "django.db.backends.sqlite3"}
            result.audit_checked, result.audit_detail = _verify_audit(_database_url(sqlite_settings, str(scratch)))
    expected = manifest["tables"]
    for table in sorted(set(expected) | set(restored)):
        if expected.get(table) != restored.get(table):
            result.mismatches.append(f"{table}: manifest {expected.get(table)}, restored {restored.get(table)}")
    if not result.audit_checked:
        result.mismatches.append(f"audit log verification failed on the restored copy: {result.audit_detail}")
    result.tables = len(restored)
    result.rows = sum(restored.values())
    result.seconds = time.monotonic() - started
    return result


def backup_prune(*, keep: int | None = None, directory: Path | None = None) -> list[Path]:
    """Delete all but the newest `keep` backups (and their manifests)."""
    keep = keep if keep is not None else getattr(settings, "BACKUP_KEEP", 14)
    directory = Path(directory) if directory else backup_dir()
    backups = sorted(p for p in directory.glob("tourbrain-*") if not p.name.endswith((".json", ".partial")))
    removed = backups[:-keep] if keep > 0 else []
    for path in removed:
        path.unlink(missing_ok=True)
        manifest_path(path).unlink(missing_ok=True)
    return removed


def _finish(run: BackupRun, started: float, **fields) -> BackupRun:
    run.finished_at = timezone.now()
    run.duration_seconds = round(time.monotonic() - started, 3)
    for name, value in fields.items():
        setattr(run, name, value)
    run.save()
    return run


def backup_run(*, alias: str = "default", verify: bool = True, directory: Path | None = None) -> BackupRun:
    """The daily job: back up, verify the backup, prune old ones; one BackupRun, an alert on failure."""
    started = time.monotonic()
    run = BackupRun.objects.create(kind=BackupRun.Kind.BACKUP, engine=connections[alias].vendor)
    try:
        path, manifest = backup_create(alias=alias, directory=directory)
        run.path, run.sha256, run.size_bytes = str(path), manifest["sha256"], manifest["size"]
        run.tables, run.rows = len(manifest["tables"]), sum(manifest["tables"].values())
        if verify:
            result = backup_verify(path, alias=alias)
            if not result.ok:
                raise BackupError("verification failed: " + "; ".join(result.mismatches[:5]))
            run.verified = True
        backup_prune(directory=directory)
    except Exception as exc:
        # Alert first: if recording the run fails too (the database is down), people were still told.
        audit_alert_raise(kind=AlertKind.BACKUP_FAILED, message=f"backup failed: {exc}", details=_details(run))
        _finish(run, started, status=BackupRun.Status.FAILED, error=str(exc)[:4000])
        return run
    return _finish(run, started, status=BackupRun.Status.SUCCEEDED)


_FAILURE_KINDS = {BackupRun.Kind.DRILL: AlertKind.RESTORE_DRILL_FAILED}


def _details(run: BackupRun) -> dict:
    return {"run": run.pk, "kind": run.kind, "engine": run.engine, "file": run.path or "(none)"}


def backup_verify_run(path: Path | None = None, *, alias: str = "default", kind: str = BackupRun.Kind.VERIFY):
    """Verify one backup (default: the newest) and record it; a drill also measures recovery time."""
    started = time.monotonic()
    run = BackupRun.objects.create(kind=kind, engine=connections[alias].vendor)
    try:
        path = Path(path) if path else backup_latest()
        if path is None:
            raise BackupError(f"no backup found in {backup_dir()}")
        run.path = str(path)
        run.size_bytes = path.stat().st_size if path.exists() else None
        result = backup_verify(path, alias=alias)
        run.tables, run.rows = result.tables, result.rows
        if not result.ok:
            raise BackupError("verification failed: " + "; ".join(result.mismatches[:5]))
        run.verified = True
        run.sha256 = json.loads(manifest_path(path).read_text())["sha256"]
        if kind == BackupRun.Kind.DRILL:
            run.recovery_seconds = round(result.seconds, 3)
            run.rto_met = result.seconds < rto_seconds()
            if not run.rto_met:
                audit_alert_raise(
                    kind=AlertKind.RESTORE_DRILL_OVER_RTO,
                    message=f"restore drill took {result.seconds:.0f} s, over the RTO of {rto_seconds()} s",
                    details=_details(run),
                )
    except Exception as exc:
        audit_alert_raise(
            kind=_FAILURE_KINDS.get(kind, AlertKind.BACKUP_VERIFY_FAILED),
            message=f"backup {kind} failed: {exc}",
            details=_details(run),
        )
        _finish(run, started, status=BackupRun.Status.FAILED, error=str(exc)[:4000])
        return run
    return _finish(run, started, status=BackupRun.Status.SUCCEEDED)


def rto_seconds() -> int:
    return getattr(settings, "BACKUP_RTO_SECONDS", 4 * 3600)


def drill_due(now=None) -> bool:
    """A restore drill is due when none succeeded in the last 30 days."""
    now = now or timezone.now()
    return not BackupRun.objects.filter(
        kind=BackupRun.Kind.DRILL, status=BackupRun.Status.SUCCEEDED, started_at__gte=now - timedelta(days=30)
    ).exists()


def backup_runs_recent(limit: int = 20):
    return BackupRun.objects.order_by("-started_at", "-id")[:limit]
