"""Verification of the audit trail: protections, signatures, chain links, external log, every row, lag.

Rows of ranges that were archived and purged are read back from the archive files, so one verification
covers archive and database together. Each archive file is checked whole, as `audit_verify --archive` does
offline (header, chain, signatures, packed leaves, every row), and its checkpoints and header predecessor
against the database's and the external log's. The first problem that concerns a row names that row; a
problem in an archive names the file.
"""

from __future__ import annotations

import hashlib
import multiprocessing
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

from django.conf import settings
from django.db import connection, connections
from django.utils import timezone

from audit import signing
from audit.archive import ArchiveIndex, archive_dir
from audit.immutability import protection_problems
from audit.models import AuditCheckpoint, AuditPersonalData
from audit.proofs import ArchivedBatch, archive_file_check
from audit.sealing import (
    GENESIS_HASH,
    LEAF_ENTRY,
    STREAMS,
    checkpoint_body,
    leaf_hash,
    merkle_root,
    read_checkpoint_log,
    rows_in_range,
    unpack_leaves,
)
from audit.services import canonical_json, personal_digest


@dataclass
class Problem:
    code: str
    message: str
    stream: str | None = None
    row_id: int | None = None

    def __str__(self) -> str:
        where = f"[{self.stream}] " if self.stream else ""
        return f"{where}{self.message}"


@dataclass
class Report:
    problems: list[Problem] = field(default_factory=list)
    rows_checked: int = 0
    checkpoints_checked: int = 0
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def first_bad_row(self) -> Problem | None:
        return next((p for p in self.problems if p.row_id is not None), None)

    def summary(self) -> str:
        rate = self.rows_checked / self.seconds if self.seconds else 0
        head = "OK" if self.ok else f"FAILED ({len(self.problems)} problems)"
        counts = f"{self.rows_checked} rows in {self.checkpoints_checked} checkpoints"
        first = f"; first: {self.problems[0]}" if self.problems else ""
        return f"audit trail {head}: {counts}, {rate:,.0f} rows/s{first}"


def _locate(stream: str, expected: list[tuple[int, bytes]], actual: list[tuple[int, bytes]]) -> Problem:
    """The first row where the database disagrees with the sealed leaves."""
    i = j = 0
    while i < len(expected) or j < len(actual):
        if j >= len(actual) or (i < len(expected) and expected[i][0] < actual[j][0]):
            row_id = expected[i][0]
            return Problem("row_missing", f"row #{row_id} was sealed but is missing", stream, row_id)
        if i >= len(expected) or actual[j][0] < expected[i][0]:
            row_id = actual[j][0]
            return Problem("row_inserted", f"row #{row_id} was inserted into a sealed range", stream, row_id)
        if expected[i][1] != actual[j][1][:8]:
            row_id = actual[j][0]
            return Problem("row_modified", f"row #{row_id} does not match its seal (modified)", stream, row_id)
        i += 1
        j += 1
    return Problem("root_mismatch", "rows match their leaves but not the signed root", stream)


def _range_leaves(stream, after_id: int, last_id: int) -> list[tuple[int, bytes]]:
    return [(row_id, leaf_hash(data)) for row_id, data in rows_in_range(stream, after_id, last_id)]


def _range_summary(task: tuple[str, int, int]) -> tuple[str, int]:
    """(Merkle root, row count) of one range; runs in a worker process with its own connection."""
    stream_name, after_id, last_id = task
    hashes = [h for _, h in _range_leaves(STREAMS[stream_name], after_id, last_id)]
    return merkle_root(hashes).hex(), len(hashes)


def _leaf_id_bounds(leaves) -> tuple[int, int]:
    """The first and last row id a checkpoint seals (from its packed leaves, without unpacking them all)."""
    blob = bytes(leaves)
    return (
        int.from_bytes(blob[:8], "big", signed=True),
        int.from_bytes(blob[-LEAF_ENTRY : -LEAF_ENTRY + 8], "big", signed=True),
    )


class _StreamArchives:
    """A stream's archive files, each checked when verification reaches its first checkpoint (so problems
    keep sequence order): whole, as offline, then its checkpoints and its header's predecessor against the
    database's and the external log's. What each file holds of each checkpoint is kept (`held`) for the
    ranges purged from the database."""

    def __init__(self, stream_name: str, report: Report, *, archives: ArchiveIndex, keys, external: dict):
        self.stream_name, self.report, self.keys, self.external = stream_name, report, keys, external
        self.pending = deque(archives.files.get(stream_name, []))
        self.held: dict[int, tuple[Path, ArchivedBatch]] = {}
        self.claimed: dict[int, Path] = {}  # by the file's name
        self.damaged: set[Path] = set()

    def check_through(self, sequence: int) -> None:
        while self.pending and self.pending[0][0] <= sequence:
            self._check_file(*self.pending.popleft())

    def _problem(self, path: Path, code: str, message: str) -> None:
        self.report.problems.append(Problem(code, f"{path.name}: {message}", self.stream_name))
        self.damaged.add(path)

    def _check_file(self, first: int, last: int, path: Path) -> None:
        for sequence in range(first, last + 1):
            self.claimed.setdefault(sequence, path)
        try:
            check = archive_file_check(path, keys=self.keys)
        except (OSError, ValueError, TypeError, KeyError, AttributeError) as exc:  # fields of the wrong shape
            self._problem(path, "archive_unreadable", f"malformed archive ({exc!r})")
            return
        if check.problems:
            self.report.problems += check.problems
            self.damaged.add(path)
        sequences = [*check.batches, first, last]
        low, high = min(sequences), max(sequences)
        checkpoints = AuditCheckpoint.objects.filter(stream=self.stream_name, sequence__gte=low - 1, sequence__lte=high)
        database, ranges = {}, {}
        for sequence, checkpoint_hash, signature, first_id, last_id in checkpoints.values_list(
            "sequence", "checkpoint_hash", "signature", "first_id", "last_id"
        ):
            database[sequence], ranges[sequence] = (checkpoint_hash, signature), f"ids {first_id}-{last_id}"
        previous = check.header.get("previous") if check.header.get("format") == 2 else None
        if isinstance(previous, dict) and low > 1:
            held = (previous.get("checkpoint_hash"), previous.get("signature"))
            for source, lines in (("the database", database), ("the external log", self._logged(low - 1))):
                if low - 1 in lines and lines[low - 1] != held:
                    self._problem(
                        path, "archive_header", f"its header's predecessor is not checkpoint #{low - 1} of {source}"
                    )
        for sequence, batch in sorted(check.batches.items()):
            self.held[sequence] = (path, batch)
            if sequence not in database:
                self._problem(path, "db_missing", f"checkpoint #{sequence} is not in the database")
                continue
            differs = [
                source
                for source, lines in (("the database", database), ("the external log", self._logged(sequence)))
                if sequence in lines and lines[sequence] != (batch.checkpoint_hash, batch.signature)
            ]
            if differs:
                self._problem(
                    path,
                    "archive_checkpoint",
                    f"checkpoint #{sequence} ({ranges[sequence]}) differs from {' and '.join(differs)} (rewritten)",
                )

    def _logged(self, sequence: int) -> dict[int, tuple]:
        line = self.external.get(sequence)
        return {sequence: (line.get("checkpoint_hash"), line.get("signature"))} if line else {}


def _verify_stream(
    stream_name: str, report: Report, *, now, max_unsealed: float, archives: ArchiveIndex, pool=None
) -> None:
    stream = STREAMS[stream_name]
    summaries = None
    if pool is not None:
        # Rows are hashed by the workers, range by range in sequence order; the chain is checked here.
        last_ids = (
            AuditCheckpoint.objects.filter(stream=stream_name).order_by("sequence").values_list("last_id", flat=True)
        )
        bounds = list(last_ids)
        tasks = [(stream_name, after, last) for after, last in zip([0, *bounds], bounds, strict=False)]
        summaries = pool.imap(_range_summary, tasks, chunksize=1)
    keys = signing.trusted_public_keys()
    external = {line["sequence"]: line for line in read_checkpoint_log(stream_name)}
    archived = _StreamArchives(stream_name, report, archives=archives, keys=keys, external=external)
    unheld: list[AuditCheckpoint] = []  # consecutive purged checkpoints whose rows no archive file holds
    previous_hash, previous_last_id, expected_sequence = GENESIS_HASH, 0, 1
    last_checkpoint = None
    first_row_problem_seen = False
    for checkpoint in AuditCheckpoint.objects.filter(stream=stream_name).order_by("sequence").iterator(chunk_size=100):
        report.checkpoints_checked += 1
        archived.check_through(checkpoint.sequence)
        label = f"checkpoint #{checkpoint.sequence}"
        body = checkpoint_body(checkpoint)
        message = canonical_json(body)
        if checkpoint.sequence != expected_sequence:
            report.problems.append(Problem("chain_gap", f"{label} follows #{expected_sequence - 1}", stream_name))
        if checkpoint.prev_hash != previous_hash:
            report.problems.append(Problem("chain_link", f"{label} does not link to its predecessor", stream_name))
        if checkpoint.first_id <= previous_last_id:
            report.problems.append(Problem("chain_overlap", f"{label} overlaps the previous range", stream_name))
        if hashlib.sha256(message).hexdigest() != checkpoint.checkpoint_hash:
            report.problems.append(Problem("checkpoint_hash", f"{label} does not match its hash", stream_name))
        if not signing.signature_valid(
            key_id=checkpoint.key_id, message=message, signature_b64=checkpoint.signature, keys=keys
        ):
            report.problems.append(Problem("signature", f"{label} has no valid signature", stream_name))
        logged = external.get(checkpoint.sequence)
        if logged is None:
            if (now - checkpoint.sealed_at).total_seconds() > max_unsealed:
                report.problems.append(Problem("external_missing", f"{label} is not in the external log", stream_name))
        elif (
            logged.get("checkpoint_hash") != checkpoint.checkpoint_hash
            or logged.get("signature") != checkpoint.signature
        ):
            report.problems.append(
                Problem("external_mismatch", f"{label} differs from the external log (rewritten)", stream_name)
            )

        if summaries is not None:
            root, count = next(summaries)
            actual = None
        else:
            actual = _range_leaves(stream, previous_last_id, checkpoint.last_id)
            root, count = merkle_root([h for _, h in actual]).hex(), len(actual)
        purged = count == 0 and checkpoint.row_count > 0
        unheld_now = purged and checkpoint.sequence not in archived.held
        if unheld and not (unheld_now and _same_claim(archived, unheld[-1], checkpoint)):
            report.problems.append(_unheld_problem(stream_name, unheld, archived))
            unheld, first_row_problem_seen = [], True
        if unheld_now:
            unheld.append(checkpoint)
        elif purged:  # the rows are read from its archive file, checked as a whole when it was reached
            path, batch = archived.held[checkpoint.sequence]
            report.rows_checked += batch.row_count
            intact = batch.merkle_root == checkpoint.merkle_root and batch.row_count == checkpoint.row_count
            if not intact and path not in archived.damaged:
                report.problems.append(
                    Problem("range_mismatch", f"{path.name}: rows of {label} do not match its root", stream_name)
                )
        else:
            report.rows_checked += count
            ids_match = count == checkpoint.row_count
            if (root != checkpoint.merkle_root or not ids_match) and actual is None:
                actual = _range_leaves(stream, previous_last_id, checkpoint.last_id)
            if (root != checkpoint.merkle_root or not ids_match) and not first_row_problem_seen:
                report.problems.append(_locate(stream_name, unpack_leaves(checkpoint.leaves), actual))
                first_row_problem_seen = True
            elif root != checkpoint.merkle_root or not ids_match:
                report.problems.append(Problem("range_mismatch", f"rows of {label} do not match its root", stream_name))
        previous_hash, previous_last_id = checkpoint.checkpoint_hash, checkpoint.last_id
        expected_sequence = checkpoint.sequence + 1
        last_checkpoint = checkpoint

    if unheld:
        report.problems.append(_unheld_problem(stream_name, unheld, archived))
    archived.check_through(2**63)  # files beyond the database's last checkpoint
    for sequence in sorted(s for s in external if s >= expected_sequence):
        report.problems.append(
            Problem(
                "db_missing", f"checkpoint #{sequence} of the external log is missing from the database", stream_name
            )
        )
        break
    oldest_unsealed = (
        stream.model.objects.filter(id__gt=last_checkpoint.last_id if last_checkpoint else 0)
        .order_by("id")
        .values_list("id", "occurred_at")
        .first()
    )
    if oldest_unsealed and (now - oldest_unsealed[1]).total_seconds() > max_unsealed:
        row_id = oldest_unsealed[0]
        report.problems.append(
            Problem(
                "unsealed", f"row #{row_id} has waited unsealed longer than {max_unsealed:.0f} s", stream_name, row_id
            )
        )


def _same_claim(archived: _StreamArchives, before: AuditCheckpoint, checkpoint: AuditCheckpoint) -> bool:
    """Whether two purged, unheld checkpoints are one missing range: consecutive, claimed by the same file (or none)."""
    claimed = archived.claimed
    return checkpoint.sequence == before.sequence + 1 and claimed.get(before.sequence) == claimed.get(
        checkpoint.sequence
    )


def _unheld_problem(stream_name: str, checkpoints: list[AuditCheckpoint], archived: _StreamArchives) -> Problem:
    """Purged rows that no archive file holds: the file that claims them by name, else the file that is missing."""
    first, last = checkpoints[0], checkpoints[-1]
    first_row, last_row = _leaf_id_bounds(first.leaves)[0], _leaf_id_bounds(last.leaves)[1]
    span = f" #{first.sequence}" if first is last else f"s #{first.sequence}-#{last.sequence}"
    claimant = archived.claimed.get(first.sequence)
    if claimant is not None:
        where = f"{claimant.name} should hold them but does not (truncated or altered)"
    else:
        expected = f"{stream_name}-{first.sequence:08d}-{last.sequence:08d}.jsonl.gz"
        where = f"no archive file holds them ({expected} missing from {archive_dir()}, or the rows were deleted)"
    return Problem(
        "row_missing",
        f"the rows of checkpoint{span} (ids {first_row}-{last_row}) are not in the database and {where}",
        stream_name,
        first_row,
    )


def _verify_personal_data(report: Report) -> None:
    """Each remaining personal-data row must match a salted digest its sealed event carries."""
    rows = AuditPersonalData.objects.order_by("id").values_list("event_id", "salt", "data", "event__personal_digests")
    for event_id, salt, data, digests in rows.iterator(chunk_size=5000):
        if personal_digest(salt=salt, data=data) not in (digests or []):
            report.problems.append(
                Problem("personal_modified", f"personal data of event #{event_id} does not match its digest", "events")
            )
            return


def verify_trail(*, now=None, max_unsealed_seconds: float | None = None, streams=None, workers: int = 1) -> Report:
    """Check everything; the report lists problems in the order found (first bad row first).

    `workers` > 1 hashes rows in that many processes (PostgreSQL; they see only committed rows).
    """
    started = time.perf_counter()
    now = now or timezone.now()
    max_unsealed = (
        getattr(settings, "AUDIT_MAX_UNSEALED_SECONDS", 300) if max_unsealed_seconds is None else max_unsealed_seconds
    )
    report = Report()
    report.problems += [Problem("protection", message) for message in protection_problems()]
    archives = ArchiveIndex.load()
    pool = None
    if workers > 1 and connection.vendor == "postgresql":
        connections.close_all()  # each forked worker opens its own connection
        pool = multiprocessing.get_context("fork").Pool(workers)
    try:
        for stream_name in streams or STREAMS:
            _verify_stream(stream_name, report, now=now, max_unsealed=max_unsealed, archives=archives, pool=pool)
        if streams is None or "events" in streams:
            _verify_personal_data(report)
    finally:
        if pool is not None:
            pool.terminate()
            pool.join()
    report.seconds = time.perf_counter() - started
    return report
