"""Sealing: batches of audit rows, in strict id order, become signed Merkle checkpoints.

Each row's leaf is SHA-256(0x00 || canonical JSON of its fields) (sorted keys, UTF-8, timestamps as
integer UTC microseconds, a format version); a batch's root follows RFC 9162 (node = SHA-256(0x01 || l
|| r), split at the largest power of two below n); each checkpoint's body carries the previous
checkpoint's hash and is signed with Ed25519, then appended to an external JSON-lines log outside the
database.

The watermark (PostgreSQL). A row's id and its transaction id (xid) are stamped by a BEFORE INSERT
trigger, xid first, so whoever holds an id already has an xid (and, from the moment the xid was
assigned, the lock on it). The sealer
  1. reads the id sequence's last value L,
  2. then lists the transactions that hold an xid and a lock on the audit table (pg_locks),
  3. waits until every one of them (other than its own) has ended.
From then on every id <= L belongs to a transaction that has finished: the row is visible if it
committed, and an id that is missing was rolled back and stays a permanent gap. So rows in
(last sealed id, L] can be sealed exactly: none is sealed twice (the checkpoint sequence is unique and
each range starts after the previous one) and none is missed (no row can later appear at or below L).
SQLite has a single writer and allocates ids under the write lock, so everything committed is final.
"""

from __future__ import annotations

import base64
import datetime as dt
import fcntl
import functools
import hashlib
import json
import logging
import re
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from audit import signing
from audit.immutability import SEALED_TABLES
from audit.models import AuditCheckpoint, AuditEvent, DeploymentRecord
from audit.services import canonical_json

logger = logging.getLogger(__name__)

GENESIS_HASH = "0" * 64
EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
LEAF_ENTRY = 16  # 8 bytes of id + 8 bytes of leaf hash per sealed row in `AuditCheckpoint.leaves`


@dataclass(frozen=True)
class Stream:
    name: str
    model: type
    fields: tuple[str, ...]

    @property
    def table(self) -> str:
        return self.model._meta.db_table

    @property
    def sequence(self) -> str:
        return SEALED_TABLES[self.table]


STREAMS = {
    "events": Stream(
        "events",
        AuditEvent,
        (
            "id",
            "occurred_at",
            "actor_id",
            "actor_subject",
            "organization_id",
            "action",
            "resource_type",
            "resource_id",
            "success",
            "request_id",
            "changes",
            "personal_digests",
            "xid",
            "format_version",
        ),
    ),
    "deployments": Stream(
        "deployments",
        DeploymentRecord,
        (
            "id",
            "deployment_id",
            "version",
            "deployed_by",
            "rollback_available",
            "migration_status",
            "configuration_changes",
            "source",
            "occurred_at",
            "xid",
            "format_version",
        ),
    ),
}


# --- canonical encoding and hashing -------------------------------------------------------------


def microseconds(value: dt.datetime) -> int:
    if timezone.is_naive(value):
        value = value.replace(tzinfo=dt.UTC)
    return (value - EPOCH) // dt.timedelta(microseconds=1)


def _plain(value):
    if isinstance(value, dt.datetime):
        return microseconds(value)
    if isinstance(value, uuid.UUID):
        return str(value)
    return value


def leaf_record(stream: Stream, values: tuple) -> dict:
    """The dict that is hashed for one row (also what an archive stores)."""
    record = {name: _plain(value) for name, value in zip(stream.fields, values, strict=True)}
    record["stream"] = stream.name
    return record


def leaf_hash(record_bytes: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + record_bytes).digest()


def merkle_root(leaves: list[bytes]) -> bytes:
    """RFC 9162 Merkle Tree Hash over leaf hashes (carrying the odd node up equals the RFC's split rule)."""
    if not leaves:
        return hashlib.sha256(b"").digest()
    level = leaves
    while len(level) > 1:
        paired = [hashlib.sha256(b"\x01" + level[i] + level[i + 1]).digest() for i in range(0, len(level) - 1, 2)]
        if len(level) % 2:
            paired.append(level[-1])
        level = paired
    return level[0]


def pack_leaves(ids: list[int], hashes: list[bytes]) -> bytes:
    return b"".join(i.to_bytes(8, "big", signed=True) + h[:8] for i, h in zip(ids, hashes, strict=True))


def unpack_leaves(blob: bytes) -> list[tuple[int, bytes]]:
    blob = bytes(blob)
    return [
        (int.from_bytes(blob[i : i + 8], "big", signed=True), blob[i + 8 : i + LEAF_ENTRY])
        for i in range(0, len(blob), LEAF_ENTRY)
    ]


def checkpoint_body(checkpoint: AuditCheckpoint) -> dict:
    """The signed part of a checkpoint."""
    return {
        "v": checkpoint.format_version,
        "stream": checkpoint.stream,
        "sequence": checkpoint.sequence,
        "first_id": checkpoint.first_id,
        "last_id": checkpoint.last_id,
        "row_count": checkpoint.row_count,
        "merkle_root": checkpoint.merkle_root,
        "leaves_sha256": hashlib.sha256(bytes(checkpoint.leaves)).hexdigest(),
        "prev_hash": checkpoint.prev_hash,
        "sealed_at_us": microseconds(checkpoint.sealed_at),
        "key_id": checkpoint.key_id,
        "seq_last_value": checkpoint.seq_last_value,
        "snapshot_xmax": checkpoint.snapshot_xmax,
    }


def checkpoint_line(checkpoint: AuditCheckpoint) -> dict:
    return {
        **checkpoint_body(checkpoint),
        "checkpoint_hash": checkpoint.checkpoint_hash,
        "signature": checkpoint.signature,
    }


# --- the external checkpoint log ----------------------------------------------------------------


def checkpoint_dir() -> Path:
    configured = getattr(settings, "AUDIT_CHECKPOINT_DIR", "") or ""
    return Path(configured) if configured else Path(settings.DATA_DIR) / "audit-checkpoints"


def checkpoint_log_path(stream_name: str) -> Path:
    return checkpoint_dir() / f"{stream_name}.jsonl"


def read_checkpoint_log(stream_name: str) -> list[dict]:
    path = checkpoint_log_path(stream_name)
    if not path.exists():
        return []
    with path.open("rb") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def _last_logged_sequence(path: Path) -> int:
    if not path.exists() or path.stat().st_size == 0:
        return 0
    with path.open("rb") as handle:
        handle.seek(max(0, path.stat().st_size - 65536))
        lines = [line for line in handle.read().splitlines() if line.strip()]
    return json.loads(lines[-1])["sequence"] if lines else 0


def checkpoint_log_sync(stream_name: str) -> int:
    """Append to the external log every checkpoint the database has and the log lacks (in order)."""
    path = checkpoint_log_path(stream_name)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("ab") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        last = _last_logged_sequence(path)
        missing = AuditCheckpoint.objects.filter(stream=stream_name, sequence__gt=last).order_by("sequence")
        written = 0
        for checkpoint in missing.iterator(chunk_size=200):
            handle.write(canonical_json(checkpoint_line(checkpoint)) + b"\n")
            written += 1
        handle.flush()
    return written


# --- sealing ------------------------------------------------------------------------------------


class WatermarkNotReached(Exception):
    """Older transactions were still running when the sealer gave up waiting; nothing was sealed."""


def _pg_watermark(stream: Stream, wait_seconds: float, after_id: int) -> tuple[int, int | None]:
    """(L, xmax): every id <= L is final once this returns (see the module docstring)."""
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT CASE WHEN is_called THEN last_value ELSE 0 END FROM {stream.sequence}")  # noqa: S608
        last_value = cursor.fetchone()[0]
        if last_value <= after_id:
            return last_value, None  # no id drawn since the last seal: nothing to wait for
        # Every transaction that holds an id <= L already had its xid, and holds the lock on that xid
        # from the moment it was assigned until it ends; it also holds a lock on the table, taken by its
        # INSERT before the trigger drew the id. Those transactions (prepared ones included: their locks
        # share a virtual transaction id) are the ones to wait for, and only those: an autovacuum's
        # ANALYZE or a long report elsewhere in the portal holds an xid but never an audit id. The
        # snapshot's xmax is not enough, as it can lie below running xids.
        cursor.execute(
            "SELECT x.transactionid::text::bigint, pg_snapshot_xmax(pg_current_snapshot())::text::bigint "
            "FROM pg_locks AS x WHERE x.locktype = 'transactionid' AND x.mode = 'ExclusiveLock' AND x.granted "
            "AND x.pid IS DISTINCT FROM pg_backend_pid() AND EXISTS ("
            "SELECT 1 FROM pg_locks AS r WHERE r.locktype = 'relation' AND r.granted "
            "AND r.relation = %s::regclass "
            "AND r.database = (SELECT oid FROM pg_database WHERE datname = current_database()) "
            "AND r.virtualtransaction = x.virtualtransaction)",
            [stream.table],
        )
        rows = cursor.fetchall()
        running = [row[0] for row in rows]
        if not running:
            cursor.execute("SELECT pg_snapshot_xmax(pg_current_snapshot())::text::bigint")
            return last_value, cursor.fetchone()[0]
        xmax = rows[0][1]
        deadline = time.monotonic() + wait_seconds
        delay = 0.002
        while True:
            cursor.execute(
                "SELECT count(*) FROM pg_locks WHERE locktype = 'transactionid' AND mode = 'ExclusiveLock' "
                "AND granted AND transactionid::text::bigint = ANY(%s)",
                [running],
            )
            if cursor.fetchone()[0] == 0:
                return last_value, xmax
            if time.monotonic() >= deadline:
                raise WatermarkNotReached(f"{len(running)} older transactions still running")
            time.sleep(delay)
            delay = min(delay * 2, 0.1)


def _sealable_bound(stream: Stream, wait_seconds: float, after_id: int) -> tuple[int, int | None, int | None]:
    if connection.vendor == "postgresql":
        last_value, xmax = _pg_watermark(stream, wait_seconds, after_id)
        return last_value, last_value, xmax
    # SQLite: one writer at a time, ids allocated under the write lock, so committed rows are final.
    top = stream.model.objects.order_by("-id").values_list("id", flat=True).first() or 0
    return top, None, None


def _create_checkpoint(
    stream: Stream, *, previous: AuditCheckpoint | None, ids: list[int], hashes: list[bytes], seq_last_value, xmax
) -> AuditCheckpoint:
    checkpoint = AuditCheckpoint(
        stream=stream.name,
        sequence=(previous.sequence + 1) if previous else 1,
        first_id=ids[0],
        last_id=ids[-1],
        row_count=len(ids),
        merkle_root=merkle_root(hashes).hex(),
        leaves=pack_leaves(ids, hashes),
        prev_hash=previous.checkpoint_hash if previous else GENESIS_HASH,
        sealed_at=timezone.now(),
        seq_last_value=seq_last_value,
        snapshot_xmax=xmax,
        key_id=signing.current_key_id(),
    )
    message = canonical_json(checkpoint_body(checkpoint))
    checkpoint.checkpoint_hash = hashlib.sha256(message).hexdigest()
    checkpoint.key_id, checkpoint.signature = signing.sign(message)
    with transaction.atomic():
        checkpoint.save()
    return checkpoint


_encode_str = json.encoder.encode_basestring  # what json.dumps(ensure_ascii=False) uses for strings
_EVENT_TEMPLATE = (
    '{"action":%s,"actor_id":%s,"actor_subject":%s,"changes":%s,"format_version":%s,"id":%s,"occurred_at":%s,'
    '"organization_id":%s,"personal_digests":%s,"request_id":%s,"resource_id":%s,"resource_type":%s,'
    '"stream":"events","success":%s,"xid":%s}'
)
_EVENT_SQL = {
    "postgresql": (
        "SELECT id, (extract(epoch FROM occurred_at) * 1000000)::bigint, actor_id, actor_subject::text, "
        "organization_id, action, resource_type, resource_id, success, request_id, changes::text, "
        "personal_digests::text, xid, format_version FROM audit_auditevent WHERE id > %s AND id <= %s ORDER BY id"
    ),
    "sqlite": (
        "SELECT id, occurred_at, actor_id, actor_subject, organization_id, action, resource_type, resource_id, "
        "success, request_id, changes, personal_digests, xid, format_version FROM audit_auditevent "
        "WHERE id > %s AND id <= %s ORDER BY id"
    ),
}


def _number(value) -> str:
    return "null" if value is None else str(int(value))


# PostgreSQL prints a jsonb array of hex digests as ["a", "b"]: dropping the spaces is the canonical form.
_DIGEST_ARRAY = re.compile(r'\[(?:"[0-9a-f]{64}"(?:, "[0-9a-f]{64}")*)?\]')
_CANONICAL_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


@functools.lru_cache(maxsize=4096)
def _canonical_json_text(text: str) -> str:
    # Cached: the same changes (a status moving from open to pending) recur across many rows.
    return json.dumps(json.loads(text), sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _json_text(text: str) -> str:
    if text in ("{}", "[]"):
        return text
    if _DIGEST_ARRAY.fullmatch(text):
        return text.replace(", ", ",")
    return _canonical_json_text(text)


def _uuid_text(value) -> str:
    if value is None:
        return "null"
    text = str(value)
    if not _CANONICAL_UUID.fullmatch(text):  # SQLite stores 32 hex digits; PostgreSQL prints the canonical form
        text = str(uuid.UUID(text))
    return _encode_str(text)


def _sqlite_microseconds(value) -> int:
    return microseconds(value if isinstance(value, dt.datetime) else dt.datetime.fromisoformat(str(value)))


def _event_rows_fast(after_id: int, through_id: int, chunk_size: int):
    """The events stream read with one raw query and encoded by hand: byte-identical to `leaf_record`."""
    vendor = connection.vendor
    with connection.cursor() as cursor:
        cursor.execute(_EVENT_SQL[vendor], [after_id, through_id])
        while rows := cursor.fetchmany(chunk_size):
            for row in rows:
                (row_id, occurred, actor, subject, org, action, rtype, rid, ok, req, changes, digests, xid, ver) = row
                if vendor == "sqlite":
                    occurred = _sqlite_microseconds(occurred)
                text = _EVENT_TEMPLATE % (
                    _encode_str(action),
                    _number(actor),
                    _uuid_text(subject),
                    _json_text(changes),
                    _number(ver),
                    row_id,
                    int(occurred),
                    _number(org),
                    _json_text(digests),
                    _encode_str(req),
                    _encode_str(rid),
                    _encode_str(rtype),
                    "true" if ok else "false",
                    _number(xid),
                )
                yield row_id, text.encode("utf-8")


def rows_in_range(stream: Stream, after_id: int, through_id: int, chunk_size: int = 5000):
    """(id, leaf bytes) of every row in (after_id, through_id], in id order."""
    if stream.name == "events" and connection.vendor in _EVENT_SQL:
        yield from _event_rows_fast(after_id, through_id, chunk_size)
        return
    yield from rows_in_range_orm(stream, after_id, through_id, chunk_size)


def rows_in_range_orm(stream: Stream, after_id: int, through_id: int, chunk_size: int = 5000):
    """The reference encoding through the ORM (any stream, any database)."""
    queryset = (
        stream.model.objects.filter(id__gt=after_id, id__lte=through_id).order_by("id").values_list(*stream.fields)
    )
    for values in queryset.iterator(chunk_size=chunk_size):
        yield values[0], canonical_json(leaf_record(stream, values))


def seal_stream(
    stream_name: str, *, wait_seconds: float | None = None, batch_rows: int | None = None
) -> list[AuditCheckpoint]:
    """Seal every final, unsealed row of one stream; returns the new checkpoints (possibly none)."""
    stream = STREAMS[stream_name]
    wait_seconds = getattr(settings, "AUDIT_SEAL_WAIT_SECONDS", 5.0) if wait_seconds is None else wait_seconds
    batch_rows = batch_rows or getattr(settings, "AUDIT_SEAL_BATCH_ROWS", 10000)
    previous = AuditCheckpoint.objects.filter(stream=stream.name).order_by("-sequence").first()
    after_id = previous.last_id if previous else 0
    bound, seq_last_value, xmax = _sealable_bound(stream, wait_seconds, after_id)
    created: list[AuditCheckpoint] = []
    if bound <= after_id:
        return created
    ids: list[int] = []
    hashes: list[bytes] = []
    try:
        for row_id, data in rows_in_range(stream, after_id, bound):
            ids.append(row_id)
            hashes.append(leaf_hash(data))
            if len(ids) >= batch_rows:
                previous = _create_checkpoint(
                    stream, previous=previous, ids=ids, hashes=hashes, seq_last_value=seq_last_value, xmax=xmax
                )
                created.append(previous)
                ids, hashes = [], []
        if ids:
            created.append(
                _create_checkpoint(
                    stream, previous=previous, ids=ids, hashes=hashes, seq_last_value=seq_last_value, xmax=xmax
                )
            )
    except IntegrityError:
        # Another sealer extended the chain first; its checkpoints cover these rows.
        logger.info("audit sealer for %s lost a race; leaving the rest to the next run", stream.name)
    if created:
        checkpoint_log_sync(stream.name)
    return created


def seal_all(*, wait_seconds: float | None = None) -> dict[str, int]:
    """Seal every stream; returns rows sealed per stream."""
    result = {}
    for name in STREAMS:
        try:
            result[name] = sum(c.row_count for c in seal_stream(name, wait_seconds=wait_seconds))
        except WatermarkNotReached as exc:
            logger.warning("audit sealing of %s postponed: %s", name, exc)
            result[name] = 0
    return result


def leaves_b64(checkpoint: AuditCheckpoint) -> str:
    return base64.b64encode(bytes(checkpoint.leaves)).decode()
