"""Single-row proofs and offline archive checks: a sealed row is provable on its own, without the database.

An inclusion proof (RFC 9162 section 2.1.3) ties one row to the signed checkpoint of its batch: the row's
leaf, its index in the batch, the batch size and the audit path (the sibling hashes from the leaf up to
the root). A proof bundle is a JSON document with that proof, the signed checkpoint body with its hash,
signature and key id, and the signed predecessor checkpoint (the chain link). Checking a bundle needs
nothing but the bundle and the Ed25519 public key (`HOW_TO_VERIFY`, which each bundle carries).

Archive files (format 2, see `audit.archive`) are checked the same way, whole: every checkpoint line,
every row against its root, and the chain from the checkpoint before the file through its last one.
"""

from __future__ import annotations

import base64
import binascii
import gzip
import hashlib
import itertools
import json
import zlib
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from django.conf import settings

from audit import signing
from audit.archive import FILE_PATTERN, ArchiveIndex
from audit.models import AuditCheckpoint
from audit.sealing import (
    GENESIS_HASH,
    STREAMS,
    checkpoint_line,
    leaf_hash,
    merkle_root,
    rows_in_range,
    unpack_leaves,
)
from audit.services import canonical_json

PROOF_FORMAT = "tourbrain-audit-proof"
PROOF_VERSION = 1
HOW_TO_VERIFY = [
    "leaf_hash = SHA-256(0x00 || leaf as UTF-8); `leaf` is the row exactly as it was hashed",
    "from leaf_hash at leaf_index in a tree of tree_size leaves, audit_path leads to checkpoint.merkle_root "
    "(RFC 9162 section 2.1.3.2; node = SHA-256(0x01 || left || right))",
    "checkpoint_hash = SHA-256(canonical JSON of checkpoint: sorted keys, no whitespace, UTF-8); the Ed25519 "
    "signature (base64) over those same bytes verifies with the public key of key_id",
    "checkpoint.prev_hash is the checkpoint_hash of previous_checkpoint (checked the same way), or 64 zeros "
    "for sequence 1",
]
# A checkpoint line is its signed body plus these; whatever else it holds is signed (`sealing.checkpoint_body`).
UNSIGNED_FIELDS = ("checkpoint_hash", "signature", "leaves_b64")
# The body fields these checks read.
BODY_FIELDS = (
    "stream",
    "sequence",
    "first_id",
    "last_id",
    "row_count",
    "merkle_root",
    "leaves_sha256",
    "prev_hash",
    "key_id",
)


def signed_body(line: dict) -> dict:
    return {name: value for name, value in line.items() if name not in UNSIGNED_FIELDS}


class ProofError(Exception):
    """No proof can be made, or a proof or archive does not verify; the message says what and where."""

    def __init__(self, message: str, *, code: str = "invalid", status: int = 409):
        super().__init__(message)
        self.code = code
        self.status = status


# --- RFC 9162 inclusion proofs ------------------------------------------------------------------


def _node(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


class MerkleTree:
    """The levels of an RFC 9162 tree over leaf hashes; any leaf's audit path in O(log n) after O(n).

    Carrying a level's odd last node up unpaired builds the same tree as the RFC's split at the largest
    power of two below n (as `sealing.merkle_root` does), so a node's sibling at each level is its RFC
    sibling, and a carried node has none at that level.
    """

    def __init__(self, leaf_hashes: Sequence[bytes]):
        if not leaf_hashes:
            raise ValueError("an empty tree has no leaves to prove")
        self.levels: list[list[bytes]] = [list(leaf_hashes)]
        while len(self.levels[-1]) > 1:
            level = self.levels[-1]
            paired = [_node(level[i], level[i + 1]) for i in range(0, len(level) - 1, 2)]
            if len(level) % 2:
                paired.append(level[-1])
            self.levels.append(paired)

    @property
    def size(self) -> int:
        return len(self.levels[0])

    @property
    def root(self) -> bytes:
        return self.levels[-1][0]

    def path(self, index: int) -> list[bytes]:
        """PATH(index, D[n]) of RFC 9162 section 2.1.3.1: sibling hashes, leaf level first."""
        if not 0 <= index < self.size:
            raise IndexError(f"leaf index {index} is outside a tree of {self.size}")
        path = []
        for level in self.levels[:-1]:
            sibling = index ^ 1
            if sibling < len(level):
                path.append(level[sibling])
            index //= 2
        return path


def inclusion_path(leaf_hashes: Sequence[bytes], index: int) -> list[bytes]:
    return MerkleTree(leaf_hashes).path(index)


def root_from_path(leaf: bytes, index: int, tree_size: int, path: Sequence[bytes]) -> bytes | None:
    """The root an audit path leads to from a leaf hash (RFC 9162 section 2.1.3.2); None if it cannot."""
    if not 0 <= index < tree_size:
        return None
    fn, sn = index, tree_size - 1
    r = leaf
    for p in path:
        if sn == 0:
            return None
        if fn & 1 or fn == sn:
            r = _node(p, r)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            r = _node(r, p)
        fn >>= 1
        sn >>= 1
    return r if sn == 0 else None


def inclusion_verify(*, leaf: bytes, index: int, tree_size: int, path: Sequence[bytes], root: bytes) -> bool:
    """Whether `leaf` (the bytes that were hashed, not their hash) is leaf `index` of the tree with `root`."""
    return root_from_path(leaf_hash(leaf), index, tree_size, path) == root


# --- public keys --------------------------------------------------------------------------------


def public_keys_from(values: Iterable[str]) -> dict[str, Ed25519PublicKey]:
    """Keys by id from base64 raw public keys or files holding one (`manage.py audit_public_key` output)."""
    keys = {}
    for value in values:
        text = value.strip()
        if Path(text).is_file():
            text = Path(text).read_text().strip()
        token = text.split()[0] if text else ""
        try:
            raw = base64.b64decode(token, validate=True)
            key = Ed25519PublicKey.from_public_bytes(raw)
        except (binascii.Error, ValueError) as exc:
            raise ProofError(f"not an Ed25519 public key (base64 of 32 raw bytes): {value!r}", code="key") from exc
        keys[signing.key_id_of(raw)] = key
    return keys


def configured_public_keys() -> dict[str, Ed25519PublicKey]:
    """This installation's trusted keys, without creating a signing key on a machine that has none."""
    if getattr(settings, "AUDIT_SIGNING_KEY", "") or (Path(settings.DATA_DIR) / signing.KEY_FILE_NAME).exists():
        return signing.trusted_public_keys()
    return public_keys_from(getattr(settings, "AUDIT_VERIFY_PUBLIC_KEYS", []) or [])


# --- checkpoint lines ---------------------------------------------------------------------------


def checkpoint_line_problem(line: dict, keys: dict[str, Ed25519PublicKey], *, label: str) -> tuple[str, str] | None:
    """(code, message) saying why a signed checkpoint line (body, checkpoint_hash, signature) is not genuine."""
    if not isinstance(line, dict) or any(name not in line for name in (*BODY_FIELDS, "checkpoint_hash", "signature")):
        return "checkpoint_incomplete", f"{label} is incomplete (body fields, checkpoint_hash and signature needed)"
    message = canonical_json(signed_body(line))
    if hashlib.sha256(message).hexdigest() != line["checkpoint_hash"]:
        return "checkpoint_hash", f"{label}: the body does not match its checkpoint_hash (altered)"
    if line["key_id"] not in keys:
        return "signature_key", f"{label}: no public key with id {line['key_id']} was given (pass --public-key)"
    if not signing.signature_valid(
        key_id=line["key_id"], message=message, signature_b64=str(line["signature"]), keys=keys
    ):
        return "signature", f"{label}: the Ed25519 signature does not verify with key {line['key_id']}"
    return None


# --- proof bundles ------------------------------------------------------------------------------


def _bundle(*, stream_name: str, row_id: int, batch: list[tuple[int, bytes]], line: dict, previous, source: str):
    ids = [row_id_ for row_id_, _ in batch]
    hashes = [leaf_hash(data) for _, data in batch]
    label = f"checkpoint #{line['sequence']}"
    tree = MerkleTree(hashes) if hashes else None
    if tree is None or tree.size != line["row_count"] or tree.root.hex() != line["merkle_root"]:
        raise ProofError(
            f"the rows of {label} no longer match its signed root; run `manage.py audit_verify`", code="mismatch"
        )
    try:
        index = ids.index(row_id)
    except ValueError:
        raise ProofError(
            f"{stream_name} #{row_id} is not among the rows of {label} (an id that was never committed)",
            code="not_found",
            status=404,
        ) from None
    data = batch[index][1]
    body = signed_body(line)
    return {
        "format": PROOF_FORMAT,
        "version": PROOF_VERSION,
        "stream": stream_name,
        "row_id": row_id,
        "record": json.loads(data),
        "leaf": data.decode("utf-8"),
        "leaf_hash": hashes[index].hex(),
        "leaf_index": index,
        "tree_size": tree.size,
        "audit_path": [h.hex() for h in tree.path(index)],
        "checkpoint": body,
        "checkpoint_hash": line["checkpoint_hash"],
        "signature": line["signature"],
        "key_id": line["key_id"],
        "prev_hash": line["prev_hash"],
        "previous_checkpoint": previous,
        "source": source,
        "how_to_verify": HOW_TO_VERIFY,
    }


def proof_for_row(*, stream_name: str, row_id: int) -> dict:
    """The proof bundle of one sealed row, from the database (or the archive files once it is purged)."""
    if stream_name not in STREAMS:
        raise ProofError(f"unknown stream {stream_name!r}; one of {sorted(STREAMS)}", code="invalid", status=400)
    stream = STREAMS[stream_name]
    if not 0 < row_id < 2**63:
        raise ProofError(f"no sealed {stream_name} row #{row_id}", code="not_found", status=404)
    checkpoint = AuditCheckpoint.objects.filter(stream=stream_name, first_id__lte=row_id, last_id__gte=row_id).first()
    if checkpoint is None:
        if stream.model.objects.filter(pk=row_id).exists():
            raise ProofError(f"{stream_name} #{row_id} is not sealed yet; try again shortly", code="not_sealed")
        raise ProofError(f"no sealed {stream_name} row #{row_id}", code="not_found", status=404)
    previous = AuditCheckpoint.objects.filter(stream=stream_name, sequence=checkpoint.sequence - 1).first()
    batch = list(rows_in_range(stream, checkpoint.first_id - 1, checkpoint.last_id))
    source = "database"
    if not batch:  # purged: the archive holds the rows
        index = ArchiveIndex.load()
        batch = index.rows(stream_name, checkpoint.sequence)
        files = index.files.get(stream_name, [])
        names = [path.name for first, last, path in files if first <= checkpoint.sequence <= last]
        source = f"archive {names[0]}" if names else "archive"
        if not batch:
            raise ProofError(
                f"the rows of checkpoint #{checkpoint.sequence} are neither in the database nor in an archive file",
                code="mismatch",
            )
    return _bundle(
        stream_name=stream_name,
        row_id=row_id,
        batch=batch,
        line=checkpoint_line(checkpoint),
        previous=checkpoint_line(previous) if previous else None,
        source=source,
    )


def proof_from_archive(*, path: Path, row_id: int) -> dict:
    """The proof bundle of one row read from an archive file alone (for a row purged from the database)."""
    entries = archive_entries(path)
    previous = next(entries).get("previous")
    for line, rows in entries:
        if line["first_id"] <= row_id <= line["last_id"]:
            if previous is None and line["sequence"] > 1:
                previous = _previous_from_database(line)
            return _bundle(
                stream_name=line["stream"],
                row_id=row_id,
                batch=rows,
                line=line,
                previous=previous,
                source=f"archive {path.name}",
            )
        previous = {key: value for key, value in line.items() if key != "leaves_b64"}
    raise ProofError(f"no checkpoint in {path.name} covers row #{row_id}", code="not_found", status=404)


def _previous_from_database(line: dict) -> dict | None:
    """A format 1 archive has no header: its first checkpoint's predecessor comes from the database."""
    previous = AuditCheckpoint.objects.filter(stream=line["stream"], sequence=line["sequence"] - 1).first()
    return checkpoint_line(previous) if previous else None


def _hex_bytes(value, name: str) -> bytes:
    try:
        raw = bytes.fromhex(value)
    except (TypeError, ValueError) as exc:
        raise ProofError(f"malformed proof: {name} is not hexadecimal", code="malformed") from exc
    if len(raw) != 32:
        raise ProofError(f"malformed proof: {name} is not a SHA-256 hash", code="malformed")
    return raw


def proof_verify(bundle: dict, *, keys: dict[str, Ed25519PublicKey]) -> list[str]:
    """Check a proof bundle offline; returns the checks passed, raises ProofError naming the first that failed."""
    try:
        return _proof_checks(bundle, keys)
    except (TypeError, KeyError, AttributeError, ValueError) as exc:  # a field of the wrong shape
        raise ProofError(f"malformed proof: a field has the wrong type ({exc!r})", code="malformed") from exc


def _proof_checks(bundle: dict, keys: dict[str, Ed25519PublicKey]) -> list[str]:
    passed = []
    if not isinstance(bundle, dict) or bundle.get("format") != PROOF_FORMAT:
        raise ProofError(f"not an audit proof (format is not {PROOF_FORMAT!r})", code="malformed")
    if bundle.get("version") != PROOF_VERSION:
        raise ProofError(f"unsupported proof version {bundle.get('version')!r}", code="malformed")
    required = ("stream", "row_id", "leaf", "leaf_index", "tree_size", "audit_path", "checkpoint")
    required += ("checkpoint_hash", "signature", "key_id", "prev_hash")
    missing = [name for name in required if name not in bundle]
    if missing:
        raise ProofError(f"malformed proof: missing {', '.join(missing)}", code="malformed")
    body = bundle["checkpoint"]
    if not isinstance(body, dict) or any(name not in body for name in BODY_FIELDS):
        raise ProofError("malformed proof: the checkpoint body is incomplete", code="malformed")
    if any(name in body for name in UNSIGNED_FIELDS):
        raise ProofError("malformed proof: the checkpoint body holds unsigned fields", code="malformed")
    if not isinstance(bundle["leaf"], str) or not isinstance(bundle["audit_path"], list):
        raise ProofError("malformed proof: leaf must be a string and audit_path a list", code="malformed")
    for name in ("row_id", "leaf_index", "tree_size"):
        if type(bundle[name]) is not int:
            raise ProofError(f"malformed proof: {name} must be an integer", code="malformed")
    stream, row_id, label = bundle["stream"], bundle["row_id"], f"checkpoint #{body['sequence']}"

    leaf = bundle["leaf"].encode("utf-8")
    try:
        record = json.loads(leaf)
    except ValueError as exc:
        raise ProofError("leaf: not the JSON record of a row", code="leaf") from exc
    if "record" in bundle and bundle["record"] != record:
        raise ProofError("record: the readable record differs from the hashed leaf", code="leaf")
    if not isinstance(record, dict) or record.get("id") != row_id or record.get("stream") != stream:
        raise ProofError(f"leaf: it is not the record of {stream} #{row_id}", code="leaf")
    computed_leaf = leaf_hash(leaf)
    if "leaf_hash" in bundle and bundle["leaf_hash"] != computed_leaf.hex():
        raise ProofError("leaf_hash: it is not SHA-256(0x00 || leaf) (leaf or hash altered)", code="leaf")
    passed.append(f"leaf: {stream} #{row_id}, leaf hash {computed_leaf.hex()}")

    if body["stream"] != stream or not body["first_id"] <= row_id <= body["last_id"]:
        raise ProofError(f"checkpoint: {label} does not cover {stream} #{row_id}", code="checkpoint")
    if bundle["tree_size"] != body["row_count"]:
        raise ProofError(f"tree_size: {label} seals {body['row_count']} rows, not {bundle['tree_size']}", code="path")
    path = [_hex_bytes(value, "an audit path entry") for value in bundle["audit_path"]]
    root = root_from_path(computed_leaf, bundle["leaf_index"], bundle["tree_size"], path)
    if root is None or root.hex() != body["merkle_root"]:
        raise ProofError(
            f"audit path: leaf, index and path do not lead to the merkle_root of {label} (one of them is altered)",
            code="path",
        )
    passed.append(f"inclusion: leaf {bundle['leaf_index']} of {bundle['tree_size']} leads to root {root.hex()}")

    line = {**body, "checkpoint_hash": bundle["checkpoint_hash"], "signature": bundle["signature"]}
    if bundle["key_id"] != body["key_id"]:
        raise ProofError(f"key_id: {bundle['key_id']} is not the key id signed in {label}", code="signature")
    problem = checkpoint_line_problem(line, keys, label=label)
    if problem:
        raise ProofError(problem[1], code=problem[0])
    passed.append(f"checkpoint: {label} hash {bundle['checkpoint_hash']}, signed by key {body['key_id']}")

    if bundle["prev_hash"] != body["prev_hash"]:
        raise ProofError(f"prev_hash: it is not the prev_hash signed in {label}", code="chain")
    previous = bundle.get("previous_checkpoint")
    if body["sequence"] == 1:
        if body["prev_hash"] != GENESIS_HASH or previous is not None:
            raise ProofError(f"chain: {label} is the first and must link to the genesis hash", code="chain")
        passed.append(f"chain: {label} is the first of the {stream} chain")
    elif previous is None:
        passed.append(f"chain: prev_hash {body['prev_hash']} (the previous checkpoint is not included)")
    else:
        problem = checkpoint_line_problem(previous, keys, label="previous_checkpoint")
        if problem:
            raise ProofError(problem[1], code="chain")
        if (
            previous["checkpoint_hash"] != body["prev_hash"]
            or previous["sequence"] != body["sequence"] - 1
            or previous["stream"] != stream
            or previous["last_id"] >= body["first_id"]
        ):
            raise ProofError(f"chain: {label} does not link to the included previous checkpoint", code="chain")
        passed.append(f"chain: {label} links to checkpoint #{previous['sequence']} ({previous['checkpoint_hash']})")
    return passed


# --- archive files, checked alone ----------------------------------------------------------------


# How `archive.archive_write` frames a row's canonical bytes (also what canonical JSON of the entry gives).
_ROW_PREFIX, _ROW_SUFFIX = b'{"record":', b',"type":"row"}\n'


def archive_entries(path: Path, *, raw_rows: bool = False) -> Iterator:
    """Stream an archive: first its header (`{"format": 1}` when it has none), then (checkpoint line, rows)
    per checkpoint, rows as (id, canonical bytes). One batch in memory at a time; ProofError if unreadable.

    `raw_rows`: a row written in the usual framing comes as (None, the bytes inside it), unparsed (about ten
    times faster); `parsed_rows` turns them into (id, canonical bytes) when they are needed.
    """
    header, line, rows = None, None, []
    try:
        with gzip.open(path, "rb") as handle:
            for raw in handle:
                if raw_rows and line is not None and raw.startswith(_ROW_PREFIX) and raw.endswith(_ROW_SUFFIX):
                    rows.append((None, raw[len(_ROW_PREFIX) : -len(_ROW_SUFFIX)]))
                    continue
                entry = json.loads(raw)
                kind = entry.get("type")
                if header is None:
                    header = entry if kind == "header" else {"format": 1}
                    yield header
                    if kind == "header":
                        continue
                if kind == "checkpoint":
                    if line is not None:
                        yield line, rows
                    line, rows = entry["checkpoint"], []
                elif kind == "row":
                    if line is None:
                        raise ProofError(f"{path.name}: a row precedes every checkpoint", code="archive")
                    rows.append((entry["record"]["id"], canonical_json(entry["record"])))
    except (OSError, EOFError, zlib.error, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise ProofError(f"{path.name}: unreadable or truncated archive ({exc})", code="archive") from exc
    if header is None:
        yield {"format": 1}
    if line is not None:
        yield line, rows


def parsed_rows(rows: list[tuple[int | None, bytes]], path: Path) -> list[tuple[int, bytes]]:
    """Rows from `archive_entries(raw_rows=True)` as (id, canonical bytes), as the parsing reader gives them."""
    try:
        records = [json.loads(data) if row_id is None else None for row_id, data in rows]
        return [
            (record["id"], canonical_json(record)) if record is not None else (row_id, data)
            for record, (row_id, data) in zip(records, rows, strict=True)
        ]
    except (ValueError, KeyError, TypeError) as exc:
        raise ProofError(f"{path.name}: unreadable or truncated archive ({exc})", code="archive") from exc


@dataclass(frozen=True)
class ArchivedBatch:
    """One checkpoint as an archive file holds it; `merkle_root` is what its rows hash to (None: not checked)."""

    checkpoint_hash: str
    signature: str
    row_count: int
    merkle_root: str | None


@dataclass
class ArchiveCheck:
    path: Path
    problems: list = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    rows: int = 0
    checkpoints: int = 0
    first_sequence: int = 0
    last_line: dict | None = None
    header: dict = field(default_factory=dict)
    # By sequence, every checkpoint line the file holds (for comparing it with the database's checkpoints).
    batches: dict[int, ArchivedBatch] = field(default_factory=dict)


def _packed_leaves(line: dict) -> bytes | None:
    try:
        return base64.b64decode(line.get("leaves_b64", ""), validate=True)
    except (binascii.Error, TypeError, ValueError):
        return None


def archive_file_check(path: Path, *, keys: dict[str, Ed25519PublicKey]) -> ArchiveCheck:
    """Check one archive file alone: its header and chain, every checkpoint's signature, every row."""
    from audit.verification import Problem, _locate

    check = ArchiveCheck(path=path)
    match = FILE_PATTERN.match(path.name)
    stream = match["stream"] if match else None

    def fail(code: str, message: str) -> None:
        check.problems.append(Problem(code, f"{path.name}: {message}", stream))

    entries = archive_entries(path, raw_rows=True)
    first_line = previous = None
    try:
        header = check.header = next(entries)
        if header.get("format") == 1:
            check.notes.append(f"{path.name}: format 1 (no header): the link before its first checkpoint is not held")
        elif header.get("format") == 2:
            previous = header.get("previous")
            if previous is not None:
                problem = checkpoint_line_problem(previous, keys, label="the checkpoint before the file")
                if problem:
                    fail("chain_link", problem[1])
        else:
            fail("archive_format", f"unknown archive format {header.get('format')!r}")
        for line, rows in entries:
            check.checkpoints += 1
            check.rows += len(rows)
            label = f"checkpoint #{line.get('sequence') if isinstance(line, dict) else '?'}"
            problem = checkpoint_line_problem(line, keys, label=label)
            if problem:
                fail(*problem)
                previous = line if isinstance(line, dict) and "sequence" in line else previous
                first_line = first_line or previous
                if isinstance(line, dict) and isinstance(line.get("sequence"), int):
                    check.batches[line["sequence"]] = ArchivedBatch(
                        str(line.get("checkpoint_hash")), str(line.get("signature")), len(rows), None
                    )
                continue
            if first_line is None:
                first_line = line
                if header.get("format") == 2 and header.get("previous") is None and line["sequence"] != 1:
                    fail("chain_link", f"its header holds no predecessor for {label}")
            if line["stream"] != stream:
                fail("archive_stream", f"{label} belongs to stream {line['stream']}")
            if previous is not None:
                if line["sequence"] != previous["sequence"] + 1:
                    fail("chain_gap", f"{label} follows #{previous['sequence']}")
                if line["prev_hash"] != previous["checkpoint_hash"]:
                    fail("chain_link", f"{label} does not link to its predecessor")
                if line["first_id"] <= previous["last_id"]:
                    fail("chain_overlap", f"{label} overlaps the previous range")
            elif line["sequence"] == 1 and line["prev_hash"] != GENESIS_HASH:
                fail("chain_link", f"{label} is the first and does not link to the genesis hash")
            leaves = _packed_leaves(line)
            if leaves is None or hashlib.sha256(leaves).hexdigest() != line["leaves_sha256"]:
                fail("leaves", f"{label}: its packed leaves do not match the signed leaves_sha256")
                leaves = b""
            hashes = [leaf_hash(data) for _, data in rows]
            root = merkle_root(hashes).hex()
            if len(rows) != line["row_count"] or root != line["merkle_root"]:
                # Rows that hash to the signed root are the sealed records, ids included; only rows that do
                # not are parsed, to compare them in canonical form and name the first bad one.
                rows = parsed_rows(rows, path)
                hashes = [leaf_hash(data) for _, data in rows]
                ids = [row_id for row_id, _ in rows]
                root = merkle_root(hashes).hex()
                in_range = bool(ids) and ids[0] == line["first_id"] and ids[-1] == line["last_id"]
                if len(rows) != line["row_count"] or not in_range or root != line["merkle_root"]:
                    problem = _locate(stream, unpack_leaves(leaves), list(zip(ids, hashes, strict=True)))
                    problem.message = f"{path.name}: {problem.message}"
                    check.problems.append(problem)
            check.batches[line["sequence"]] = ArchivedBatch(line["checkpoint_hash"], line["signature"], len(rows), root)
            previous = line
    except ProofError as exc:
        check.problems.append(Problem("archive_unreadable", str(exc), stream))
        return check
    if first_line is None:
        if not check.problems:
            fail("archive_empty", "holds no checkpoint")
        return check
    check.first_sequence, check.last_line = first_line["sequence"], previous
    held = (first_line["sequence"], previous["sequence"])
    if match and (int(match["first"]), int(match["last"])) != held:
        fail("archive_name", "its name does not match the checkpoints it holds (renamed or truncated)")
    if header.get("format") == 2 and (
        header.get("stream"),
        header.get("first_sequence"),
        header.get("last_sequence"),
    ) != (stream, *held):
        fail("archive_header", "its header does not match the checkpoints it holds (truncated or spliced)")
    return check


def archive_paths(values: Iterable[str]) -> list[Path]:
    """Archive files named directly or found in the named directories."""
    paths = []
    for value in values:
        path = Path(value)
        if path.is_dir():
            paths += sorted(p for p in path.iterdir() if FILE_PATTERN.match(p.name))
        elif path.exists():
            paths.append(path)
        else:
            raise ProofError(f"{value}: no such archive file or directory", code="archive", status=404)
    return paths


def archives_check(paths: Sequence[Path], *, keys: dict[str, Ed25519PublicKey]):
    """Check archive files alone, and the chain across consecutive files of one stream.

    Returns a verification `Report` and notes (what a format 1 file cannot show).
    """
    from audit.verification import Problem, Report

    report = Report()
    checks = [archive_file_check(path, keys=keys) for path in paths]
    by_stream: dict[str, list[ArchiveCheck]] = {}
    for check in checks:
        report.problems += check.problems
        report.rows_checked += check.rows
        report.checkpoints_checked += check.checkpoints
        if check.last_line is not None:
            by_stream.setdefault(check.last_line["stream"], []).append(check)
    for stream, stream_checks in by_stream.items():
        ordered = sorted(stream_checks, key=lambda c: c.first_sequence)
        for before, after in itertools.pairwise(ordered):
            predecessor = after.header.get("previous")
            if predecessor is None or predecessor["sequence"] != before.last_line["sequence"]:
                continue  # not adjacent (or format 1): nothing to link
            if predecessor["checkpoint_hash"] != before.last_line["checkpoint_hash"]:
                report.problems.append(
                    Problem(
                        "chain_link",
                        f"{after.path.name} does not continue {before.path.name} "
                        f"(checkpoint #{predecessor['sequence']} differs)",
                        stream,
                    )
                )
    return report, [note for check in checks for note in check.notes]
