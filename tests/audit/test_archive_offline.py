"""Archive files check themselves: header, chain to the previous file, signatures, every row; no database."""

import datetime as dt
import gzip
import hashlib
import json

import pytest
import time_machine
from django.core.management import CommandError, call_command

from audit import signing
from audit.archive import archive_header, archive_purge, archive_write
from audit.models import AuditCheckpoint
from audit.proofs import archives_check, public_keys_from
from audit.sealing import seal_all, seal_stream
from audit.services import audit_record, canonical_json
from audit.verification import verify_trail

pytestmark = pytest.mark.django_db


def _events(n):
    return [audit_record(actor=None, action="update", resource_type="ticket", resource_id=i) for i in range(n)]


@pytest.fixture
def two_archives(audit_dirs):
    """Seven old rows in checkpoints #1-#4 (first file: #1-#2, second file: #3-#4), two recent in #5."""
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
    return first, second, old


def _lines(path):
    return [json.loads(line) for line in gzip.decompress(path.read_bytes()).splitlines()]


def _rewrite(path, entries):
    path.write_bytes(gzip.compress(b"".join(canonical_json(entry) + b"\n" for entry in entries)))


def _check(*paths):
    return archives_check(list(paths), keys=public_keys_from([signing.public_key_b64()]))


def test_an_archive_carries_its_header_with_the_preceding_signed_checkpoint(two_archives):
    first, second, _ = two_archives
    assert (first.name, second.name) == ("events-00000001-00000002.jsonl.gz", "events-00000003-00000004.jsonl.gz")
    header = archive_header(second)
    checkpoint_2 = AuditCheckpoint.objects.get(stream="events", sequence=2)
    assert header["format"] == 2
    assert (header["stream"], header["first_sequence"], header["last_sequence"]) == ("events", 3, 4)
    assert header["key_ids"] == [signing.current_key_id()]
    assert header["previous"]["checkpoint_hash"] == checkpoint_2.checkpoint_hash
    assert header["previous"]["signature"] == checkpoint_2.signature
    assert archive_header(first)["previous"] is None  # the file starts the chain


def test_archives_verify_alone_and_across_files_without_the_database(two_archives, capsys, django_assert_num_queries):
    first, second, _ = two_archives
    # when the archive directory is checked offline
    with django_assert_num_queries(0):
        call_command("audit_verify", "--archive", str(first.parent), "--public-key", signing.public_key_b64())
    # then every checkpoint and row of both files verifies
    out = capsys.readouterr().out
    assert "2 archive file(s) checked offline" in out
    assert "audit trail OK: 7 rows in 4 checkpoints" in out
    # and one file alone also checks, its first link included
    report, notes = _check(second)
    assert report.ok, report.problems
    assert notes == []


def test_archives_still_verify_with_the_database_after_purge(two_archives):
    first, second, _ = two_archives
    assert archive_purge(path=first) == 4
    assert archive_purge(path=second) == 3
    report = verify_trail()
    assert report.ok, report.problems


def test_a_modified_archived_row_is_named(two_archives):
    first, second, old = two_archives
    entries = _lines(second)
    row = next(e for e in entries if e["type"] == "row" and e["record"]["id"] == old[5].pk)
    row["record"]["action"] = "delete"
    _rewrite(second, entries)
    report, _ = _check(first, second)
    assert (report.first_bad_row.code, report.first_bad_row.row_id) == ("row_modified", old[5].pk)
    assert second.name in str(report.first_bad_row)
    with pytest.raises(CommandError):
        call_command("audit_verify", "--archive", str(second), "--public-key", signing.public_key_b64())


def test_a_dropped_archived_row_is_named(two_archives):
    _first, second, old = two_archives
    entries = [e for e in _lines(second) if not (e["type"] == "row" and e["record"]["id"] == old[4].pk)]
    _rewrite(second, entries)
    report, _ = _check(second)
    assert (report.first_bad_row.code, report.first_bad_row.row_id) == ("row_missing", old[4].pk)


def test_a_truncated_archive_is_caught_by_its_header_and_name(two_archives):
    _first, second, _ = two_archives
    entries = _lines(second)
    last_checkpoint = max(i for i, e in enumerate(entries) if e["type"] == "checkpoint")
    _rewrite(second, entries[:last_checkpoint])  # the last batch removed, recompressed cleanly
    codes = {p.code for p in _check(second)[0].problems}
    assert {"archive_name", "archive_header"} <= codes
    # a file cut mid-stream is unreadable (gzip's own length and CRC)
    second.write_bytes(second.read_bytes()[:-20])
    problems = _check(second)[0].problems
    assert [p.code for p in problems] == ["archive_unreadable"]
    assert "unreadable or truncated" in problems[0].message


def test_a_forged_checkpoint_or_predecessor_fails(two_archives):
    first, second, _ = two_archives
    entries = _lines(second)
    entries[1]["checkpoint"]["row_count"] = 99
    _rewrite(second, entries)
    assert [p.code for p in _check(second)[0].problems] == ["checkpoint_hash"]
    # a header whose predecessor is not genuine, or not the one the first checkpoint links to
    entries = _lines(first)
    forged = json.loads(json.dumps(entries[1]["checkpoint"]))
    entries[0]["previous"] = forged  # checkpoint #1 offered as its own predecessor
    _rewrite(first, entries)
    codes = [p.code for p in _check(first)[0].problems]
    assert "chain_gap" in codes
    assert "chain_link" in codes


def test_files_that_do_not_continue_each_other_are_caught(two_archives, audit_dirs):
    first, second, _ = two_archives
    # given a second file whose predecessor is a validly signed but different checkpoint #2
    # (what a re-sealed, rewritten history would produce), its own links are re-made to match
    entries = _lines(second)
    previous = entries[0]["previous"]
    previous["sealed_at_us"] += 1
    message = canonical_json({k: v for k, v in previous.items() if k not in ("checkpoint_hash", "signature")})
    previous["checkpoint_hash"] = hashlib.sha256(message).hexdigest()
    previous["key_id"], previous["signature"] = signing.sign(message)
    _rewrite(second, entries)
    problems = _check(first, second)[0].problems
    assert any(p.code == "chain_link" and "does not continue" in p.message for p in problems)


def test_an_unknown_key_and_bad_arguments_are_explained(two_archives, tmp_path):
    first, _second, _ = two_archives
    stranger = "A" * 43 + "="
    report, _ = archives_check([first], keys=public_keys_from([stranger]))
    assert {p.code for p in report.problems} == {"signature_key"}
    assert "no public key with id" in report.problems[0].message
    with pytest.raises(CommandError, match="no such archive file or directory"):
        call_command("audit_verify", "--archive", str(tmp_path / "nowhere.jsonl.gz"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(CommandError, match="no archive files found"):
        call_command("audit_verify", "--archive", str(tmp_path / "empty"))


def test_a_format_1_archive_reads_and_checks_with_a_note(two_archives, capsys):
    first, second, _ = two_archives
    for path in (first, second):
        _rewrite(path, _lines(path)[1:])  # no header: how files were written before format 2
    assert archive_header(second) == {"format": 1}
    report, notes = _check(first, second)
    assert report.ok, report.problems
    assert len(notes) == 2
    assert "format 1" in notes[0]
    assert archive_purge(path=second) == 3
    assert verify_trail().ok
