"""Sealing: RFC 9162 Merkle roots, signed and chained checkpoints, the external log, the signing key."""

import base64
import hashlib
import itertools
import json
import os
import stat

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from audit import signing
from audit.models import AuditCheckpoint
from audit.sealing import (
    GENESIS_HASH,
    checkpoint_body,
    leaf_hash,
    merkle_root,
    read_checkpoint_log,
    seal_all,
    seal_stream,
    unpack_leaves,
)
from audit.services import audit_record, canonical_json, deployment_record

pytestmark = pytest.mark.django_db


def _rfc_mth(data: list[bytes]) -> bytes:
    """RFC 9162 section 2.1.1, literally."""
    if not data:
        return hashlib.sha256(b"").digest()
    if len(data) == 1:
        return hashlib.sha256(b"\x00" + data[0]).digest()
    k = 1
    while k * 2 < len(data):
        k *= 2
    return hashlib.sha256(b"\x01" + _rfc_mth(data[:k]) + _rfc_mth(data[k:])).digest()


@given(st.lists(st.binary(max_size=8), max_size=70))
def test_merkle_root_follows_rfc_9162(data):
    assert merkle_root([leaf_hash(d) for d in data]) == _rfc_mth(data)


def test_merkle_root_known_values():
    assert merkle_root([]).hex() == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    assert merkle_root([leaf_hash(b"")]).hex() == "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"


def _events(n, **fields):
    return [
        audit_record(actor=None, action="create", resource_type="ticket", resource_id=i, **fields) for i in range(n)
    ]


def test_seal_covers_every_row_once_and_chains(audit_dirs):
    # given five events
    events = _events(5)
    # when sealed twice with new events in between
    first = seal_stream("events", batch_rows=3)
    again = seal_stream("events")
    more = _events(2)
    second = seal_stream("events")
    # then the checkpoints cover every row exactly once, in id order, and each links to the previous
    assert [c.row_count for c in first] == [3, 2]
    assert again == []
    assert [c.row_count for c in second] == [2]
    checkpoints = list(AuditCheckpoint.objects.filter(stream="events").order_by("sequence"))
    sealed_ids = [row_id for c in checkpoints for row_id, _ in unpack_leaves(c.leaves)]
    assert sealed_ids == [e.pk for e in events + more]
    assert checkpoints[0].prev_hash == GENESIS_HASH
    for previous, checkpoint in itertools.pairwise(checkpoints):
        assert checkpoint.prev_hash == previous.checkpoint_hash
        assert checkpoint.first_id > previous.last_id
    for checkpoint in checkpoints:
        message = canonical_json(checkpoint_body(checkpoint))
        assert hashlib.sha256(message).hexdigest() == checkpoint.checkpoint_hash
        assert signing.signature_valid(key_id=checkpoint.key_id, message=message, signature_b64=checkpoint.signature)


def test_every_checkpoint_is_written_to_the_external_log(audit_dirs):
    _events(3)
    deployment_record(version="1.2.3", deployed_by="ci")
    seal_all(wait_seconds=5)
    _events(1)
    seal_all(wait_seconds=5)
    logged = read_checkpoint_log("events")
    stored = AuditCheckpoint.objects.filter(stream="events").order_by("sequence")
    assert [(line["sequence"], line["checkpoint_hash"], line["signature"]) for line in logged] == [
        (c.sequence, c.checkpoint_hash, c.signature) for c in stored
    ]
    assert len(read_checkpoint_log("deployments")) == 1
    assert (audit_dirs / "checkpoints" / "events.jsonl").read_text().count("\n") == len(logged)


def test_the_leaf_is_the_canonical_encoding_with_microseconds_and_version(audit_dirs):
    event = _events(1, changes={"b": 1, "a": "é"})[0]
    (checkpoint,) = seal_stream("events")
    record = {
        "id": event.pk,
        "occurred_at": int(event.occurred_at.timestamp()) * 1_000_000 + event.occurred_at.microsecond,
        "actor_id": None,
        "actor_subject": None,
        "organization_id": None,
        "action": "create",
        "resource_type": "ticket",
        "resource_id": "0",
        "success": True,
        "request_id": "",
        "changes": {"a": "é", "b": 1},
        "personal_digests": [],
        "xid": type(event).objects.get(pk=event.pk).xid,
        "format_version": 1,
        "stream": "events",
    }
    data = json.dumps(record, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    assert checkpoint.merkle_root == hashlib.sha256(b"\x00" + data).hexdigest()


def test_signing_key_file_is_created_once_with_owner_only_permissions(settings, tmp_path):
    settings.AUDIT_SIGNING_KEY = ""
    settings.DATA_DIR = tmp_path
    public = signing.public_key_b64()
    path = tmp_path / signing.KEY_FILE_NAME
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert signing.public_key_b64() == public  # reused, not regenerated


# Seed bytes 0x00..0x1f and the Ed25519 public key derived from it (RFC 8032 key generation).
KNOWN_SEED_B64 = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="
KNOWN_PUBLIC_KEY_HEX = "03a107bff3ce10be1d70dd18e74bc09967e4d6309ba50d5f1ddc8664125531b8"


def test_signing_key_from_the_environment(settings, tmp_path):
    # given the seed in AUDIT_SIGNING_KEY and an empty data folder
    settings.AUDIT_SIGNING_KEY = KNOWN_SEED_B64
    settings.DATA_DIR = str(tmp_path)
    known_public = bytes.fromhex(KNOWN_PUBLIC_KEY_HEX)

    # then the published public key is the one that seed derives, and the key id is its digest
    assert signing.public_key_b64() == base64.b64encode(known_public).decode()
    assert signing.current_key_id() == hashlib.sha256(known_public).hexdigest()[:16]

    # and a signature checks with that public key alone (no key file was made or read)
    key_id, signature = signing.sign(b"checkpoint body")
    Ed25519PublicKey.from_public_bytes(known_public).verify(base64.b64decode(signature), b"checkpoint body")
    assert key_id == hashlib.sha256(known_public).hexdigest()[:16]
    assert list(tmp_path.iterdir()) == []


def test_fast_event_encoding_is_byte_identical_to_the_reference(make_user, organization):
    # given events with every kind of value: unicode, nesting, nulls, personal markers, digests
    from django.test import RequestFactory

    from audit.sealing import STREAMS, rows_in_range, rows_in_range_orm

    user = make_user(name="Zoë")
    request = RequestFactory().get("/", REMOTE_ADDR="192.0.2.1", HTTP_USER_AGENT="ü-agent")
    audit_record(actor=None, action="delete", resource_type="ticket", resource_id=None)
    audit_record(
        actor=user,
        action="update",
        resource_type="article",
        resource_id="slug-✓",
        organization=organization,
        changes={"z": [1, 2.5, None, True], "a": {"nested": 'say "hi"\u2028\t✓'}, "email": "x@example.com"},
        error_message="boom",
        request=request,
    )
    audit_record(actor=user, action="export", resource_type="ticket", resource_id=7, changes={"rows": 10**15})
    stream = STREAMS["events"]
    # then the hand-made encoding matches the canonical JSON of the ORM values, byte for byte
    assert list(rows_in_range(stream, 0, 10**12)) == list(rows_in_range_orm(stream, 0, 10**12))


_json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(10**12), 10**12) | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=8,
)


@given(changes=st.dictionaries(st.text(min_size=1, max_size=8), _json_values, max_size=4))
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_fast_encoding_matches_the_reference_for_any_changes(make_user, changes):
    # given an admin changing another person's account (two personal-data rows: two digests) and any changes
    from audit.sealing import STREAMS, rows_in_range, rows_in_range_orm

    admin, person = make_user(), make_user()
    audit_record(
        actor=admin,
        action="update",
        resource_type="user",
        resource_id=person.pk,
        changes={**changes, "email": ["old@example.com", "new@example.com"]},
        error_message="twice",
    )
    audit_record(actor=None, action="update", resource_type="ticket", resource_id=1, changes=changes)
    stream = STREAMS["events"]
    # then the hand-made encoding (with its shortcuts for digests, pseudonyms and repeated changes) is the
    # canonical JSON of the ORM values, byte for byte
    assert list(rows_in_range(stream, 0, 10**12)) == list(rows_in_range_orm(stream, 0, 10**12))
