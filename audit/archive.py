"""Retention: old sealed ranges go to compressed files with their checkpoints, never silently away.

An archive file (gzip JSON lines) holds, per checkpoint, the signed checkpoint line (body, hash,
signature, the packed leaves) followed by the canonical record of every row it seals, which is exactly
what was hashed; verification recomputes leaves and root from it.

Format 2 (the `format` field of a first `header` line) makes a file check itself without the database:
the header names the stream, the sequence range and the signing key ids, and carries the signed line of
the checkpoint just before the file's first one (null when the file starts the chain), so the first
chain link is checkable too (`manage.py audit_verify --archive FILE`). Format 1 files have no header;
every reader skips line types it does not know, so both formats read the same way.

The application cannot delete audit rows. `archive_purge` is the separate, explicitly authorised
operation: it re-verifies the archive, then removes the archived rows inside one transaction in which
the append-only guards are lifted (table owner only; the restricted application role gets a permission
error). Checkpoints are never purged, so the chain stays whole and points at the archive.
"""

from __future__ import annotations

import base64
import gzip
import json
import re
from dataclasses import dataclass, field
from pathlib import Path

from django.conf import settings
from django.db import connection

from audit.immutability import suspended_protection
from audit.models import AuditCheckpoint, AuditPersonalData
from audit.sealing import STREAMS, checkpoint_line, leaf_hash, merkle_root, rows_in_range
from audit.services import canonical_json

ARCHIVE_FORMAT = 2
FILE_PATTERN = re.compile(r"^(?P<stream>[a-z]+)-(?P<first>\d{8})-(?P<last>\d{8})\.jsonl\.gz$")


def archive_dir() -> Path:
    configured = getattr(settings, "AUDIT_ARCHIVE_DIR", "") or ""
    return Path(configured) if configured else Path(settings.DATA_DIR) / "audit-archive"


@dataclass
class ArchiveIndex:
    files: dict[str, list[tuple[int, int, Path]]] = field(default_factory=dict)
    _loaded: dict[tuple[str, int], list[tuple[int, bytes]]] = field(default_factory=dict)

    @classmethod
    def load(cls) -> ArchiveIndex:
        index = cls()
        directory = archive_dir()
        if directory.exists():
            for path in sorted(directory.iterdir()):
                match = FILE_PATTERN.match(path.name)
                if match:
                    index.files.setdefault(match["stream"], []).append((int(match["first"]), int(match["last"]), path))
        return index

    def has(self, stream: str, sequence: int) -> bool:
        return any(first <= sequence <= last for first, last, _ in self.files.get(stream, []))

    def rows(self, stream: str, sequence: int) -> list[tuple[int, bytes]]:
        if (stream, sequence) not in self._loaded:
            for first, last, path in self.files.get(stream, []):
                if first <= sequence <= last:
                    for seq, _, rows in read_archive(path):
                        self._loaded[(stream, seq)] = rows
        return self._loaded.get((stream, sequence), [])


def read_archive(path: Path):
    """Yield (sequence, checkpoint line, [(row id, canonical bytes)]) per archived checkpoint."""
    current, rows = None, []
    with gzip.open(path, "rb") as handle:
        for raw in handle:
            entry = json.loads(raw)
            if entry["type"] == "checkpoint":
                if current is not None:
                    yield current["sequence"], current, rows
                current, rows = entry["checkpoint"], []
            elif entry["type"] == "row":
                rows.append((entry["record"]["id"], canonical_json(entry["record"])))
    if current is not None:
        yield current["sequence"], current, rows


def archive_header(path: Path) -> dict:
    """The file's header line; a format 1 file (none) reads as `{"format": 1}`."""
    with gzip.open(path, "rb") as handle:
        first = handle.readline()
    entry = json.loads(first) if first.strip() else {}
    return entry if entry.get("type") == "header" else {"format": 1}


def archive_write(*, stream_name: str, before, directory: Path | None = None) -> Path | None:
    """Write every checkpoint of the stream sealed before `before` (and not archived yet) to one file."""
    stream = STREAMS[stream_name]
    directory = directory or archive_dir()
    directory.mkdir(parents=True, exist_ok=True)
    index = ArchiveIndex.load()
    archived_through = max((last for _, last, _ in index.files.get(stream_name, [])), default=0)
    checkpoints = list(
        AuditCheckpoint.objects.filter(
            stream=stream_name, sequence__gt=archived_through, sealed_at__lt=before
        ).order_by("sequence")
    )
    if not checkpoints:
        return None
    path = directory / f"{stream_name}-{checkpoints[0].sequence:08d}-{checkpoints[-1].sequence:08d}.jsonl.gz"
    previous = AuditCheckpoint.objects.filter(stream=stream_name, sequence=checkpoints[0].sequence - 1).first()
    previous_last_id = previous.last_id if previous else 0
    header = {
        "type": "header",
        "format": ARCHIVE_FORMAT,
        "stream": stream_name,
        "first_sequence": checkpoints[0].sequence,
        "last_sequence": checkpoints[-1].sequence,
        "key_ids": sorted({c.key_id for c in checkpoints} | ({previous.key_id} if previous else set())),
        # The signed predecessor: the first checkpoint's prev_hash must be its hash (genesis when null).
        "previous": checkpoint_line(previous) if previous else None,
    }
    partial = path.with_suffix(".partial")
    with gzip.open(partial, "wb") as handle:
        handle.write(canonical_json(header) + b"\n")
        for checkpoint in checkpoints:
            line = {**checkpoint_line(checkpoint), "leaves_b64": base64.b64encode(bytes(checkpoint.leaves)).decode()}
            handle.write(canonical_json({"type": "checkpoint", "checkpoint": line}) + b"\n")
            hashes = []
            for _, data in rows_in_range(stream, previous_last_id, checkpoint.last_id):
                hashes.append(leaf_hash(data))
                handle.write(b'{"record":' + data + b',"type":"row"}\n')
            if merkle_root(hashes).hex() != checkpoint.merkle_root:
                partial.unlink()
                raise ValueError(f"checkpoint #{checkpoint.sequence} does not verify; refusing to archive it")
            previous_last_id = checkpoint.last_id
    partial.rename(path)
    return path


def archive_purge(*, path: Path) -> int:
    """PRIVILEGED: delete the rows an archive file holds, after checking the file against the checkpoints."""
    deleted = 0
    match = FILE_PATTERN.match(path.name)
    if not match:
        raise ValueError(f"{path} is not an audit archive file")
    stream = STREAMS[match["stream"]]
    ranges = []
    for sequence, line, rows in read_archive(path):
        checkpoint = AuditCheckpoint.objects.get(stream=stream.name, sequence=sequence)
        if line["checkpoint_hash"] != checkpoint.checkpoint_hash:
            raise ValueError(f"archive {path.name} does not match checkpoint #{sequence}")
        if merkle_root([leaf_hash(data) for _, data in rows]).hex() != checkpoint.merkle_root:
            raise ValueError(f"archived rows of checkpoint #{sequence} do not verify")
        ranges.append((checkpoint.first_id, checkpoint.last_id))
    first_id, last_id = ranges[0][0], ranges[-1][1]
    with suspended_protection(), connection.cursor() as cursor:
        if stream.name == "events":
            AuditPersonalData.objects.filter(event_id__gte=first_id, event_id__lte=last_id).delete()
        cursor.execute(f"DELETE FROM {stream.table} WHERE id >= %s AND id <= %s", [first_id, last_id])  # noqa: S608
        deleted = cursor.rowcount
    return deleted
