"""audit_verify (database mode) checks every archive file against the checkpoints of the database and the
external log: header, checkpoint lines, packed leaves, every row; a tampered, truncated or missing file of
an archived range is named with its first bad row or range and the command exits non-zero."""

import datetime as dt
import gzip
import hashlib
import json

import pytest
import time_machine
from django.core.management import CommandError, call_command

from audit import signing
from audit.archive import archive_purge, archive_write
from audit.models import AuditEvent, DeploymentRecord
from audit.sealing import seal_all, seal_stream
from audit.services import audit_record, canonical_json
from audit.verification import verify_trail

pytestmark = pytest.mark.django_db


def _events(n):
    return [audit_record(actor=None, action="update", resource_type="ticket", resource_id=i) for i in range(n)]


@pytest.fixture
def archived(audit_dirs):
    """Seven old rows in checkpoints #1-#4, archived in two files (#1-#2, #3-#4) and purged; two recent in #5."""
    with time_machine.travel(dt.datetime(2025, 1, 1, tzinfo=dt.UTC), tick=False):
        old = _events(4)
        seal_stream("events", batch_rows=2)
    with time_machine.travel(dt.datetime(2025, 3, 1, tzinfo=dt.UTC), tick=False):
        old += _events(3)
        seal_stream("events", batch_rows=2)
    _events(2)
    seal_all(wait_seconds=5)
    first = archive_write(stream_name="events", before=dt.datetime(2025, 2, 1, tzinfo=dt.UTC))
    second = archive_write(stream_name="events", before=dt.datetime(2025, 6, 1, tzinfo=dt.UTC))
    assert archive_purge(path=first) + archive_purge(path=second) == 7
    return first, second, old


def _lines(path):
    return [json.loads(line) for line in gzip.decompress(path.read_bytes()).splitlines()]


def _rewrite(path, entries):
    path.write_bytes(gzip.compress(b"".join(canonical_json(entry) + b"\n" for entry in entries)))


def _resign(line):
    """What someone holding the signing key could do: re-hash and re-sign an altered checkpoint line."""
    body = {k: v for k, v in line.items() if k not in ("checkpoint_hash", "signature", "leaves_b64")}
    message = canonical_json(body)
    line["checkpoint_hash"] = hashlib.sha256(message).hexdigest()
    line["key_id"], line["signature"] = signing.sign(message)


def _verify_fails(capsys) -> str:
    with pytest.raises(CommandError, match="FAILED"):
        call_command("audit_verify")
    return capsys.readouterr().err


def test_untouched_archives_pass_and_their_rows_are_counted_once(archived, capsys):
    call_command("audit_verify")
    rows = AuditEvent.objects.count() + 7 + DeploymentRecord.objects.count()
    assert f"audit trail OK: {rows} rows" in capsys.readouterr().out


def test_an_archived_but_not_purged_file_is_checked_too(audit_dirs):
    # given an archive whose rows are still in the database
    with time_machine.travel(dt.datetime(2025, 1, 1, tzinfo=dt.UTC), tick=False):
        old = _events(3)
        seal_all(wait_seconds=5)
    path = archive_write(stream_name="events", before=dt.datetime(2025, 6, 1, tzinfo=dt.UTC))
    assert verify_trail().ok
    # when a row in the file is altered, then the file and the row are named
    entries = _lines(path)
    next(e for e in entries if e.get("record", {}).get("id") == old[1].pk)["record"]["action"] = "delete"
    _rewrite(path, entries)
    problem = verify_trail().first_bad_row
    assert (problem.code, problem.row_id) == ("row_modified", old[1].pk)
    assert path.name in problem.message


def test_a_modified_row_inside_an_archive_is_named(archived, capsys):
    _first, second, old = archived
    entries = _lines(second)
    next(e for e in entries if e.get("record", {}).get("id") == old[5].pk)["record"]["action"] = "delete"
    _rewrite(second, entries)
    report = verify_trail()
    assert (report.first_bad_row.code, report.first_bad_row.row_id) == ("row_modified", old[5].pk)
    assert second.name in report.first_bad_row.message
    err = _verify_fails(capsys)
    assert f"{second.name}: row #{old[5].pk} does not match its seal" in err
    assert f"First bad row: events #{old[5].pk}" in err


def test_a_header_whose_predecessor_is_not_the_databases_is_caught(archived, capsys):
    # given the second file's header re-made around a validly signed but different checkpoint #2,
    # and its first checkpoint re-linked and re-signed to match (a rewritten history, signing key at hand)
    _first, second, _ = archived
    entries = _lines(second)
    entries[0]["previous"]["sealed_at_us"] += 1
    _resign(entries[0]["previous"])
    entries[1]["checkpoint"]["prev_hash"] = entries[0]["previous"]["checkpoint_hash"]
    _resign(entries[1]["checkpoint"])
    _rewrite(second, entries)
    # then the file alone would look consistent, but not against the database
    err = _verify_fails(capsys)
    assert f"{second.name}: its header's predecessor is not checkpoint #2 of the database" in err
    assert f"{second.name}: checkpoint #3 (ids " in err
    assert "differs from the database" in err


def test_a_header_claiming_another_range_is_caught(archived, capsys):
    first, _second, _ = archived
    entries = _lines(first)
    entries[0]["last_sequence"] = 3
    _rewrite(first, entries)
    err = _verify_fails(capsys)
    assert f"{first.name}: its header does not match the checkpoints it holds" in err


def test_a_forged_checkpoint_signature_in_an_archive_is_caught(archived, capsys):
    first, _second, _ = archived
    entries = _lines(first)
    checkpoint = next(e for e in entries if e["type"] == "checkpoint")["checkpoint"]
    checkpoint["signature"] = checkpoint["signature"][::-1]
    _rewrite(first, entries)
    err = _verify_fails(capsys)
    assert f"{first.name}: checkpoint #1: the Ed25519 signature does not verify" in err


def test_altered_packed_leaves_are_caught(archived, capsys):
    first, _second, _ = archived
    entries = _lines(first)
    checkpoint = next(e for e in entries if e["type"] == "checkpoint")["checkpoint"]
    checkpoint["leaves_b64"] = checkpoint["leaves_b64"][::-1]
    _rewrite(first, entries)
    assert f"{first.name}: checkpoint #1: its packed leaves do not match" in _verify_fails(capsys)


def test_a_truncated_archive_is_named_with_the_range_it_lost(archived, capsys):
    _first, second, old = archived
    # given the second file cut mid-stream
    second.write_bytes(second.read_bytes()[:-20])
    # then verification does not crash: the file is unreadable and the rows it lost are named
    report = verify_trail()
    codes = [p.code for p in report.problems]
    assert "archive_unreadable" in codes
    assert report.first_bad_row.code == "row_missing"
    assert report.first_bad_row.row_id in {e.pk for e in old[4:]}
    err = _verify_fails(capsys)
    assert f"{second.name}: unreadable or truncated archive" in err
    assert f"{second.name} should hold them" in err
    assert f"the rows of checkpoints #3-#4 (ids {old[4].pk}-{old[6].pk}) are not in the database" in err


def test_an_archive_with_its_last_batch_removed_is_caught(archived, capsys):
    _first, second, old = archived
    entries = _lines(second)
    last_checkpoint = max(i for i, e in enumerate(entries) if e["type"] == "checkpoint")
    _rewrite(second, entries[:last_checkpoint])  # recompressed cleanly: only the contents tell
    report = verify_trail()
    assert (report.first_bad_row.code, report.first_bad_row.row_id) == ("row_missing", old[6].pk)
    err = _verify_fails(capsys)
    assert f"the rows of checkpoint #4 (ids {old[6].pk}-{old[6].pk}) are not in the database" in err
    assert f"{second.name} should hold them" in err


def test_a_deleted_archive_file_is_named(archived, capsys):
    first, _second, old = archived
    first.unlink()
    report = verify_trail()
    assert (report.first_bad_row.code, report.first_bad_row.row_id) == ("row_missing", old[0].pk)
    err = _verify_fails(capsys)
    assert f"the rows of checkpoints #1-#2 (ids {old[0].pk}-{old[3].pk}) are not in the database" in err
    assert "no archive file holds them" in err
    assert "events-00000001-00000002.jsonl.gz" in err
