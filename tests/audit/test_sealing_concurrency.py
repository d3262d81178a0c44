"""The PostgreSQL watermark: concurrent and rolled-back writers, no row sealed twice, none missed."""

import random
import threading
import time

import pytest
from django.db import connection, connections, transaction

from audit.models import AuditCheckpoint, AuditEvent
from audit.sealing import WatermarkNotReached, seal_all, seal_stream, unpack_leaves
from audit.services import audit_record
from audit.verification import verify_trail

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(connection.vendor != "postgresql", reason="the xid watermark is PostgreSQL's"),
]


def _record(tag):
    return audit_record(actor=None, action="create", resource_type="test", resource_id=tag)


def _sealed_ids():
    return [
        i
        for c in AuditCheckpoint.objects.filter(stream="events").order_by("sequence")
        for i, _ in unpack_leaves(c.leaves)
    ]


def test_a_transaction_holding_a_smaller_id_blocks_sealing_until_it_ends(audit_dirs):
    # given a writer that took an id and has not committed, and a later writer that committed
    holding, release = threading.Event(), threading.Event()
    held = {}

    def slow_writer():
        try:
            with transaction.atomic():
                held["id"] = _record("slow").pk
                holding.set()
                release.wait(10)
        finally:
            connections.close_all()

    thread = threading.Thread(target=slow_writer)
    thread.start()
    holding.wait(10)
    fast = _record("fast")
    assert fast.pk > held["id"]
    # when the sealer runs while the slow transaction is open
    # then it seals nothing rather than seal the later row past the open one
    with pytest.raises(WatermarkNotReached):
        seal_stream("events", wait_seconds=0.3)
    assert _sealed_ids() == []
    # when the slow writer commits, then both rows are sealed, in id order
    release.set()
    thread.join()
    seal_stream("events", wait_seconds=5)
    assert _sealed_ids() == [held["id"], fast.pk]


def test_a_long_transaction_without_audit_rows_does_not_hold_sealing_back(audit_dirs, make_user):
    # given a long transaction elsewhere in the portal that holds a transaction id but wrote no audit row
    holding, release = threading.Event(), threading.Event()
    user = make_user()

    def long_report():
        try:
            with transaction.atomic():
                type(user).objects.filter(pk=user.pk).update(name="busy")  # takes a transaction id
                holding.set()
                release.wait(10)
        finally:
            connections.close_all()

    thread = threading.Thread(target=long_report)
    thread.start()
    holding.wait(10)
    try:
        row = _record("while a report runs")
        # when the sealer runs, then it does not wait for that transaction
        started = time.monotonic()
        seal_stream("events", wait_seconds=5)
        assert time.monotonic() - started < 1
        assert row.pk in _sealed_ids()
    finally:
        release.set()
        thread.join()


def _rolled_back_record():
    with transaction.atomic():
        _record("rolled back")
        raise RuntimeError


def test_rolled_back_ids_are_permanent_gaps(audit_dirs):
    first = _record("a")
    with pytest.raises(RuntimeError):
        _rolled_back_record()
    last = _record("b")
    seal_stream("events", wait_seconds=5)
    assert _sealed_ids() == [first.pk, last.pk]
    assert verify_trail().ok


def test_concurrent_writers_with_rollbacks_and_a_running_sealer(audit_dirs):
    # given four writers (own connections), a quarter of their transactions rolled back, and a sealer looping
    committed: list[int] = []
    lock = threading.Lock()
    stop = threading.Event()

    def writer(seed):
        rng = random.Random(seed)
        try:
            for n in range(60):
                try:
                    with transaction.atomic():
                        ids = [_record(f"{seed}-{n}-{k}").pk for k in range(rng.randint(1, 3))]
                        time.sleep(rng.random() / 200)
                        if rng.random() < 0.25:
                            raise RuntimeError("roll back")
                    with lock:
                        committed.extend(ids)
                except RuntimeError:
                    pass
        finally:
            connections.close_all()

    def sealer():
        try:
            while not stop.is_set():
                seal_all(wait_seconds=0.5)
                time.sleep(0.01)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=writer, args=(seed,)) for seed in range(4)]
    sealing = threading.Thread(target=sealer)
    sealing.start()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    stop.set()
    sealing.join()
    seal_all(wait_seconds=5)
    # then every committed row is sealed exactly once, in id order, and nothing else is
    sealed = _sealed_ids()
    assert sealed == sorted(committed)
    assert len(set(sealed)) == len(sealed) == AuditEvent.objects.count()
    assert AuditCheckpoint.objects.filter(stream="events").count() >= 2
    report = verify_trail()
    assert report.ok, report.problems


def test_parallel_verification_agrees_and_names_the_first_bad_row(audit_dirs):
    from audit.immutability import suspended_protection

    events = [_record(f"p{i}") for i in range(30)]
    seal_stream("events", wait_seconds=5, batch_rows=7)
    report = verify_trail(workers=2)
    assert report.ok, report.problems
    assert report.rows_checked >= 30
    with suspended_protection(), connection.cursor() as cursor:
        cursor.execute("UPDATE audit_auditevent SET resource_id = 'x' WHERE id = %s", [events[17].pk])
    report = verify_trail(workers=2)
    assert (report.first_bad_row.code, report.first_bad_row.row_id) == ("row_modified", events[17].pk)
