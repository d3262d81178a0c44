"""Single-row proofs: RFC 9162 audit paths against the RFC's own definition, proof bundles, offline checks."""

import base64
import copy
import datetime as dt
import hashlib
import json
import os
import random
import re
import subprocess
import sys
from functools import cache
from pathlib import Path

import pytest
import time_machine
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from django.conf import settings as django_settings
from django.core.management import CommandError, call_command
from django.db import connection, transaction
from hypothesis import given, settings
from hypothesis import strategies as st

from audit import signing
from audit.archive import archive_purge, archive_write
from audit.immutability import suspended_protection
from audit.models import AuditCheckpoint, AuditEvent, DeploymentRecord
from audit.proofs import (
    MerkleTree,
    ProofError,
    inclusion_path,
    inclusion_verify,
    proof_for_row,
    proof_from_archive,
    proof_verify,
    public_keys_from,
    root_from_path,
)
from audit.sealing import leaf_hash, seal_all, seal_stream
from audit.services import audit_record, deployment_record

# --- RFC 9162, literally (section 2.1.1 MTH, section 2.1.3.1 PATH), as the independent reference ---------


def _rfc_tree(data: list[bytes]):
    """MTH and PATH over D[lo:hi] exactly as the RFC defines them (memoised per range: same definition)."""

    def k_of(n):
        k = 1
        while k * 2 < n:
            k *= 2
        return k

    @cache
    def mth(lo, hi):
        if hi - lo == 1:
            return hashlib.sha256(b"\x00" + data[lo]).digest()
        k = k_of(hi - lo)
        return hashlib.sha256(b"\x01" + mth(lo, lo + k) + mth(lo + k, hi)).digest()

    def path(m, lo, hi):
        n = hi - lo
        if n == 1:
            return []
        k = k_of(n)
        if m < k:
            return [*path(m, lo, lo + k), mth(lo + k, hi)]
        return [*path(m - k, lo + k, hi), mth(lo, lo + k)]

    return (lambda: mth(0, len(data))), (lambda m: path(m, 0, len(data)))


def _flip(value: bytes, bit: int) -> bytes:
    flipped = bytearray(value)
    flipped[bit // 8] ^= 1 << (bit % 8)
    return bytes(flipped)


@st.composite
def leaf_lists(draw):
    """1..300 leaves, the size drawn first so that big trees are as likely as small ones."""
    size = draw(st.integers(1, 300))
    return draw(st.lists(st.binary(max_size=12), min_size=size, max_size=size))


@settings(max_examples=60, deadline=None)
@given(leaf_lists())
def test_every_audit_path_matches_the_rfc_and_verifies(data):
    # given any tree of 1..300 leaves
    rfc_root, rfc_path = _rfc_tree(data)
    tree = MerkleTree([leaf_hash(d) for d in data])
    assert tree.root == rfc_root()
    # then for every index the audit path is the RFC's PATH and leads back to the root
    for m in range(len(data)):
        path = tree.path(m)
        assert path == rfc_path(m)
        assert inclusion_verify(leaf=data[m], index=m, tree_size=len(data), path=path, root=rfc_root())


def test_every_tree_size_up_to_300_and_every_index():
    rng = random.Random(9162)
    for n in range(1, 301):
        data = [rng.randbytes(rng.randrange(0, 6)) for _ in range(n)]
        rfc_root, rfc_path = _rfc_tree(data)
        tree = MerkleTree([leaf_hash(d) for d in data])
        for m in range(n):
            path = tree.path(m)
            assert path == rfc_path(m), (n, m)
            assert root_from_path(leaf_hash(data[m]), m, n, path) == rfc_root(), (n, m)


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_any_flipped_bit_in_leaf_path_or_root_fails(draw):
    data = draw.draw(leaf_lists().filter(lambda d: any(d)), label="leaves")
    m = draw.draw(st.integers(0, len(data) - 1), label="index")
    if not data[m]:
        m = next(i for i, d in enumerate(data) if d)
    tree = MerkleTree([leaf_hash(d) for d in data])
    leaf, path, root = data[m], tree.path(m), tree.root
    where = draw.draw(st.sampled_from(["leaf", "path", "root"] if path else ["leaf", "root"]), label="where")
    if where == "leaf":
        leaf = _flip(leaf, draw.draw(st.integers(0, len(leaf) * 8 - 1), label="bit"))
    elif where == "path":
        i = draw.draw(st.integers(0, len(path) - 1), label="entry")
        path = [*path[:i], _flip(path[i], draw.draw(st.integers(0, 255), label="bit")), *path[i + 1 :]]
    else:
        root = _flip(root, draw.draw(st.integers(0, 255), label="bit"))
    assert not inclusion_verify(leaf=leaf, index=m, tree_size=len(data), path=path, root=root)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.binary(min_size=1, max_size=8), min_size=2, max_size=80, unique=True), st.data())
def test_a_proof_does_not_hold_at_another_index_size_or_with_a_path_entry_missing(data, draw):
    tree = MerkleTree([leaf_hash(d) for d in data])
    m = draw.draw(st.integers(0, len(data) - 1))
    other = draw.draw(st.integers(0, len(data) - 1).filter(lambda i: i != m))
    path = tree.path(m)
    assert not inclusion_verify(leaf=data[m], index=other, tree_size=len(data), path=path, root=tree.root)
    assert not inclusion_verify(leaf=data[m], index=m, tree_size=len(data), path=path[:-1], root=tree.root)
    assert not inclusion_verify(leaf=data[m], index=m, tree_size=len(data), path=[*path, path[0]], root=tree.root)
    assert not inclusion_verify(leaf=data[m], index=len(data), tree_size=len(data), path=path, root=tree.root)


def test_single_leaf_and_bad_indices():
    assert inclusion_path([leaf_hash(b"x")], 0) == []
    assert inclusion_verify(leaf=b"x", index=0, tree_size=1, path=[], root=leaf_hash(b"x"))
    with pytest.raises(IndexError):
        inclusion_path([leaf_hash(b"x")], 1)
    with pytest.raises(ValueError, match="empty"):
        MerkleTree([])


# --- proof bundles from the database ------------------------------------------------------------------

pytestmark = pytest.mark.django_db


def _events(n, **fields):
    return [
        audit_record(actor=None, action="update", resource_type="ticket", resource_id=i, **fields) for i in range(n)
    ]


@pytest.fixture
def public_key(audit_dirs):
    return signing.public_key_b64()


@pytest.fixture
def key_file(public_key, tmp_path, capsys):
    """The `manage.py audit_public_key` output, kept in a file as an auditor would."""
    call_command("audit_public_key")
    path = tmp_path / "audit-public-key.txt"
    path.write_text(capsys.readouterr().out)
    return path


def _prove(row_id, *args, capsys) -> dict:
    call_command("audit_proof", str(row_id), *args)
    return json.loads(capsys.readouterr().out)


def test_every_row_of_several_batches_has_a_proof_that_verifies_offline(audit_dirs, public_key, capsys):
    # given 17 events sealed in batches of 7, 7 and 3
    events = _events(17, changes={"note": "é ünïcode", "n": 1.5})
    seal_stream("events", batch_rows=7)
    keys = public_keys_from([public_key])
    for event in events:
        # when the proof of each row is made
        bundle = _prove(event.pk, capsys=capsys)
        # then it is self-contained and verifies with nothing but the public key
        assert bundle["record"]["id"] == event.pk
        assert bundle["tree_size"] in (7, 3)
        assert bundle["leaf_hash"] == leaf_hash(bundle["leaf"].encode()).hex()
        assert bundle["key_id"] == signing.current_key_id()
        checks = proof_verify(bundle, keys=keys)
        assert len(checks) == 4
    first = _prove(events[0].pk, capsys=capsys)
    last = _prove(events[-1].pk, capsys=capsys)
    assert first["previous_checkpoint"] is None
    assert first["prev_hash"] == "0" * 64
    assert last["checkpoint"]["sequence"] == 3
    assert last["previous_checkpoint"]["checkpoint_hash"] == last["prev_hash"]
    assert last["previous_checkpoint"]["sequence"] == 2


def test_the_leaf_is_exactly_the_sealed_bytes(audit_dirs, capsys):
    (event,) = _events(1, changes={"z": [1, {"b": None, "a": "x"}]})
    (checkpoint,) = seal_stream("events")
    bundle = _prove(event.pk, capsys=capsys)
    # a single-row batch: the leaf hash is the root, and the path is empty
    assert hashlib.sha256(b"\x00" + bundle["leaf"].encode()).hexdigest() == checkpoint.merkle_root
    assert bundle["audit_path"] == []
    assert bundle["checkpoint_hash"] == checkpoint.checkpoint_hash
    assert bundle["signature"] == checkpoint.signature


def test_verify_command_with_a_key_file_needs_no_database(
    audit_dirs, key_file, tmp_path, capsys, django_assert_num_queries
):
    events = _events(5)
    seal_all(wait_seconds=5)
    call_command("audit_proof", str(events[3].pk), "--output", str(tmp_path / "proof.json"))
    with django_assert_num_queries(0):
        call_command("audit_proof", "--verify", str(tmp_path / "proof.json"), "--public-key", str(key_file))
    out = capsys.readouterr().out
    assert f"proof OK: events #{events[3].pk} is in the signed audit trail" in out
    assert "ok  inclusion: leaf 3 of 5" in out


def test_verify_runs_in_a_separate_process_with_no_database_reachable(audit_dirs, public_key, tmp_path, capsys):
    # given a proof and the public key, on a machine whose database cannot be reached
    events = _events(3)
    seal_all(wait_seconds=5)
    proof = tmp_path / "proof.json"
    call_command("audit_proof", str(events[1].pk), "--output", str(proof))
    env = {
        **os.environ,
        "SECRET_KEY": "offline",
        "DATABASE_URL": "postgres://nobody@127.0.0.1:9/unreachable",
        "DATA_DIR": str(tmp_path / "elsewhere"),
        "AUDIT_SIGNING_KEY": "",
    }
    manage = Path(django_settings.BASE_DIR) / "manage.py"

    def run(*args):
        return subprocess.run(  # noqa: S603 - our own manage.py with fixed arguments
            [sys.executable, str(manage), "audit_proof", "--verify", str(proof), *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    # when it is verified there, then it passes with the key and fails clearly without it
    ok = run("--public-key", public_key)
    assert ok.returncode == 0, ok.stderr
    assert "proof OK" in ok.stdout
    missing = run()
    assert missing.returncode != 0
    assert f"no public key with id {signing.current_key_id()} was given" in missing.stderr
    assert not (tmp_path / "elsewhere" / signing.KEY_FILE_NAME).exists()  # verifying never makes a key


def _tampered(bundle, change):
    bundle = copy.deepcopy(bundle)
    change(bundle)
    return bundle


def _set_leaf(bundle, leaf: str):
    bundle["leaf"] = leaf
    bundle["record"] = json.loads(leaf)
    bundle["leaf_hash"] = leaf_hash(leaf.encode()).hex()


TAMPERINGS = {
    "record": (lambda b: b["record"].update(action="delete"), "record: the readable record differs"),
    "leaf": (lambda b: b.update(leaf=b["leaf"].replace('"update"', '"delete"')), "record: the readable record"),
    "leaf+record": (
        lambda b: (b.update(leaf=b["leaf"].replace('"update"', '"delete"')), b["record"].update(action="delete")),
        "leaf_hash: it is not SHA-256(0x00 || leaf)",
    ),
    "leaf+record+hash": (
        lambda b: _set_leaf(b, b["leaf"].replace('"update"', '"delete"')),
        "audit path: leaf, index and path do not lead to the merkle_root of checkpoint #1",
    ),
    "index": (lambda b: b.update(leaf_index=b["leaf_index"] ^ 1), "audit path"),
    "path": (lambda b: b["audit_path"].__setitem__(0, "00" * 32), "audit path"),
    "tree_size": (lambda b: b.update(tree_size=b["tree_size"] + 1), "tree_size: checkpoint #1 seals 6 rows, not 7"),
    "root": (
        lambda b: b["checkpoint"].update(merkle_root="ab" * 32),
        "audit path: leaf, index and path do not lead to the merkle_root",
    ),
    "body": (lambda b: b["checkpoint"].update(sealed_at_us=1), "checkpoint #1: the body does not match"),
    "checkpoint_hash": (lambda b: b.update(checkpoint_hash="cd" * 32), "checkpoint #1: the body does not match"),
    "signature": (
        lambda b: b.update(signature=base64.b64encode(b"\x01" * 64).decode()),
        "checkpoint #1: the Ed25519 signature does not verify",
    ),
    "row_id": (lambda b: b.update(row_id=b["row_id"] + 1), "leaf: it is not the record of events"),
    "prev_hash": (lambda b: b.update(prev_hash="ef" * 32), "prev_hash: it is not the prev_hash signed"),
    "format": (lambda b: b.update(format="something-else"), "not an audit proof"),
    "missing": (lambda b: b.pop("audit_path"), "malformed proof: missing audit_path"),
    "shape": (lambda b: b["checkpoint"].update(first_id="one"), "malformed proof"),
    "hex": (lambda b: b["audit_path"].__setitem__(0, "zz"), "malformed proof: an audit path entry is not hex"),
}


@pytest.mark.parametrize("name", TAMPERINGS)
def test_a_tampered_bundle_fails_naming_what(audit_dirs, public_key, tmp_path, capsys, name):
    # given a valid proof of the 3rd of 6 rows
    events = _events(6)
    seal_all(wait_seconds=5)
    bundle = _prove(events[2].pk, capsys=capsys)
    proof_verify(bundle, keys=public_keys_from([public_key]))
    # when one part is changed
    change, message = TAMPERINGS[name]
    path = tmp_path / "proof.json"
    path.write_text(json.dumps(_tampered(bundle, change)))
    # then verification exits non-zero with a message naming what failed
    with pytest.raises(CommandError, match="proof FAILED") as failure:
        call_command("audit_proof", "--verify", str(path), "--public-key", public_key)
    assert message in str(failure.value)


def test_a_tampered_previous_checkpoint_breaks_the_chain(audit_dirs, public_key, capsys):
    events = _events(4)
    seal_stream("events", batch_rows=2)
    bundle = _prove(events[3].pk, capsys=capsys)
    keys = public_keys_from([public_key])
    forged = _tampered(bundle, lambda b: b["previous_checkpoint"].update(row_count=99))
    with pytest.raises(ProofError, match="previous_checkpoint: the body does not match"):
        proof_verify(forged, keys=keys)
    other = _tampered(bundle, lambda b: b["previous_checkpoint"].update(sequence=5))
    with pytest.raises(ProofError, match="previous_checkpoint: the body does not match"):
        proof_verify(other, keys=keys)
    # a first checkpoint must start from the genesis hash
    first = _prove(events[0].pk, capsys=capsys)
    with pytest.raises(ProofError, match="chain: checkpoint #1 is the first"):
        proof_verify(_tampered(first, lambda b: b.update(previous_checkpoint=bundle["previous_checkpoint"])), keys=keys)


def test_a_proof_signed_by_another_key_fails(audit_dirs, tmp_path, capsys):
    (event,) = _events(1)
    seal_all(wait_seconds=5)
    path = tmp_path / "proof.json"
    call_command("audit_proof", str(event.pk), "--output", str(path))
    stranger = Ed25519PrivateKey.from_private_bytes(bytes(range(1, 33))).public_key()
    raw = stranger.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    with pytest.raises(CommandError, match=r"no public key with id \w+ was given"):
        call_command("audit_proof", "--verify", str(path), "--public-key", base64.b64encode(raw).decode())
    with pytest.raises(CommandError, match="not an Ed25519 public key"):
        call_command("audit_proof", "--verify", str(path), "--public-key", "not-a-key")
    path.write_text("{")
    with pytest.raises(CommandError, match="is not JSON"):
        call_command("audit_proof", "--verify", str(path))


def test_no_proof_for_unsealed_unknown_or_tampered_rows(audit_dirs, capsys):
    events = _events(3)
    seal_all(wait_seconds=5)
    (unsealed,) = _events(1)
    with pytest.raises(CommandError, match=f"no proof: events #{unsealed.pk} is not sealed yet"):
        call_command("audit_proof", str(unsealed.pk))
    with pytest.raises(CommandError, match="no proof: no sealed events row #999999"):
        call_command("audit_proof", "999999")
    with pytest.raises(CommandError, match="give a row id"):
        call_command("audit_proof")
    # a row changed by an owner behind the guards: its batch no longer matches the signed root
    with suspended_protection(), connection.cursor() as cursor:
        cursor.execute("UPDATE audit_auditevent SET action = 'share' WHERE id = %s", [events[0].pk])
    with pytest.raises(CommandError, match=re.escape("no longer match its signed root; run `manage.py audit_verify`")):
        call_command("audit_proof", str(events[2].pk))


def test_a_rolled_back_id_inside_a_sealed_range_has_no_proof(audit_dirs):
    if connection.vendor != "postgresql":
        pytest.skip("SQLite hands a rolled-back id out again: no gap")
    first = _events(1)[0]
    try:
        with transaction.atomic():
            _events(1)
            raise RuntimeError("roll back")
    except RuntimeError:
        pass
    last = _events(1)[0]
    seal_all(wait_seconds=5)
    gap = next(i for i in range(first.pk + 1, last.pk) if not AuditEvent.objects.filter(pk=i).exists())
    with pytest.raises(ProofError, match="never committed") as failure:
        proof_for_row(stream_name="events", row_id=gap)
    assert failure.value.status == 404


def test_deployment_rows_are_provable_too(audit_dirs, public_key, capsys):
    record = deployment_record(version="9.9.9", deployed_by="ci")
    seal_all(wait_seconds=5)
    bundle = _prove(record.pk, "--stream", "deployments", capsys=capsys)
    assert bundle["record"]["version"] == "9.9.9"
    assert bundle["stream"] == "deployments"
    proof_verify(bundle, keys=public_keys_from([public_key]))
    assert DeploymentRecord.objects.filter(pk=record.pk).exists()


# --- purged rows: proofs from the archive ------------------------------------------------------------


def _old_and_recent():
    with time_machine.travel(dt.datetime(2025, 1, 1, tzinfo=dt.UTC), tick=False):
        old = _events(5)
        seal_stream("events", batch_rows=2)
    recent = _events(2)
    seal_all(wait_seconds=5)
    return old, recent


def test_a_purged_row_is_proved_from_the_archive_file_alone(audit_dirs, public_key, capsys, django_assert_num_queries):
    # given old rows archived and purged
    old, _ = _old_and_recent()
    path = archive_write(stream_name="events", before=dt.datetime(2025, 6, 1, tzinfo=dt.UTC))
    assert archive_purge(path=path) == 5
    assert not AuditEvent.objects.filter(pk=old[3].pk).exists()
    # when the proof is made from the archive file (no database needed)
    with django_assert_num_queries(0):
        bundle = proof_from_archive(path=path, row_id=old[3].pk)
    # then it verifies, chained to the checkpoint before it
    assert bundle["source"] == f"archive {path.name}"
    assert bundle["checkpoint"]["sequence"] == 2
    assert bundle["previous_checkpoint"]["sequence"] == 1
    proof_verify(bundle, keys=public_keys_from([public_key]))
    # and the command builds the same from the archive, or finds the archive on its own
    assert _prove(old[3].pk, "--archive", str(path), capsys=capsys) == bundle
    from_database = _prove(old[3].pk, capsys=capsys)
    assert from_database["source"] == f"archive {path.name}"
    assert from_database["audit_path"] == bundle["audit_path"]
    with pytest.raises(CommandError, match=re.escape("no checkpoint in events-00000001-00000003.jsonl.gz covers row")):
        call_command("audit_proof", "999999", "--archive", str(path))
    with pytest.raises(CommandError, match="no such archive file"):
        call_command("audit_proof", "1", "--archive", str(path) + ".missing")


def test_a_row_of_a_later_archive_file_chains_to_the_earlier_one(audit_dirs, public_key, capsys):
    _old, recent = _old_and_recent()
    first = archive_write(stream_name="events", before=dt.datetime(2025, 6, 1, tzinfo=dt.UTC))
    second = archive_write(stream_name="events", before=dt.datetime(2100, 1, 1, tzinfo=dt.UTC))
    bundle = proof_from_archive(path=second, row_id=recent[0].pk)
    last_of_first = AuditCheckpoint.objects.get(stream="events", sequence=3)
    assert bundle["previous_checkpoint"]["checkpoint_hash"] == last_of_first.checkpoint_hash
    proof_verify(bundle, keys=public_keys_from([public_key]))
    assert first != second


def test_a_format_1_archive_still_yields_proofs(audit_dirs, public_key):
    import gzip

    old, _ = _old_and_recent()
    path = archive_write(stream_name="events", before=dt.datetime(2025, 6, 1, tzinfo=dt.UTC))
    lines = gzip.decompress(path.read_bytes()).splitlines(keepends=True)
    assert json.loads(lines[0])["format"] == 2
    path.write_bytes(gzip.compress(b"".join(lines[1:])))  # what archives written before format 2 look like
    bundle = proof_from_archive(path=path, row_id=old[0].pk)
    proof_verify(bundle, keys=public_keys_from([public_key]))
    bundle = proof_from_archive(path=path, row_id=old[4].pk)
    assert bundle["previous_checkpoint"]["sequence"] == 2
    proof_verify(bundle, keys=public_keys_from([public_key]))
