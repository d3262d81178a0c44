"""The transfer of an event to Sentry is logged exactly once even when its transaction rolls back, the database
is down when it is reported, or the process dies before the log is written (the spool in tourbrain_support.sentry).

Events go to tests.sentry_utils.MemoryTransport: no network.
"""

import logging
import os
import subprocess
import sys
import textwrap

import pytest
import sentry_sdk
from django.conf import settings as django_settings
from django.db import connection, transaction

from audit.models import CrossBorderTransfer
from tests.sentry_utils import database_unreachable, memory_sentry
from tourbrain_support import sentry as sentry_module
from tourbrain_support.sentry import transfer_log_drain, transfer_log_flush
from tourbrain_support.tasks import sentry_transfer_log_drain

pytestmark = pytest.mark.django_db


class ReportedError(Exception):
    pass


@pytest.fixture
def sentry_events():
    with memory_sentry() as transport:
        yield transport


def _spool_files() -> list[str]:
    spool = django_settings.SENTRY_TRANSFER_SPOOL
    return sorted(path.name for path in spool.parent.iterdir() if path.name.startswith(spool.name))


@pytest.mark.django_db(transaction=True)
def test_a_transfer_reported_in_a_transaction_that_rolls_back_is_recorded(sentry_events):
    # given an error reported inside a transaction that is then rolled back
    reported = []

    def import_that_fails_half_way():
        with transaction.atomic():
            reported.append(sentry_sdk.capture_message("import failed half-way", level="error"))
            raise ReportedError

    with pytest.raises(ReportedError):
        import_that_fails_half_way()
    [event_id] = reported

    # then nothing is lost with the rollback: the periodic drain records the transfer
    assert not CrossBorderTransfer.objects.exists()
    assert sentry_transfer_log_drain.apply().successful()
    transfer = CrossBorderTransfer.objects.get()
    assert transfer.reference == f"sentry:{event_id}"
    assert (transfer.recipient, transfer.country, transfer.data_categories) == ("sentry", "US", ["technical"])
    # and the spool is empty again (only its lock files remain)
    assert not [name for name in _spool_files() if not name.endswith(".lock")]


def test_with_the_database_down_the_transfer_waits_in_the_spool(sentry_events, caplog):
    # given an error reported inside a transaction, with the database gone by the time the request ends
    with transaction.atomic():
        event_id = sentry_sdk.capture_message("lookup failed", level="error")
    with database_unreachable(), caplog.at_level(logging.WARNING, logger="tourbrain_support.sentry"):
        # when the end-of-request flush runs
        assert transfer_log_flush() == 0

    # then it failed with a warning and kept the entry
    assert any("not recorded yet" in record.getMessage() for record in caplog.records)
    assert not CrossBorderTransfer.objects.exists()
    # and the next drain, with the database back, records it
    assert transfer_log_drain() == 1
    assert CrossBorderTransfer.objects.get().reference == f"sentry:{event_id}"


@pytest.mark.django_db(transaction=True)
def test_draining_twice_records_once(sentry_events):
    # given two events reported inside a transaction
    with transaction.atomic():
        first = sentry_sdk.capture_message("one", level="error")
        second = sentry_sdk.capture_message("two", level="warning")
    spooled = django_settings.SENTRY_TRANSFER_SPOOL.read_bytes()

    # when the spool is drained, twice
    assert transfer_log_drain() == 2
    assert transfer_log_drain() == 0
    # and again after the same lines come back (a drain that died between its commit and removing the batch)
    django_settings.SENTRY_TRANSFER_SPOOL.write_bytes(spooled)
    assert transfer_log_drain() == 0

    # then each transfer is in the log once
    references = sorted(CrossBorderTransfer.objects.values_list("reference", flat=True))
    assert references == sorted([f"sentry:{first}", f"sentry:{second}"])
    assert sorted(CrossBorderTransfer.objects.values_list("purpose", flat=True)) == [
        "error report (error)",
        "error report (warning)",
    ]


@pytest.mark.django_db(transaction=True)
def test_a_full_spool_drops_new_transfers_with_a_warning_and_still_sends(sentry_events, monkeypatch, caplog):
    # given a spool with room for one entry
    monkeypatch.setattr(sentry_module, "SPOOL_MAX_BYTES", 400)
    with caplog.at_level(logging.WARNING, logger="tourbrain_support.sentry"), transaction.atomic():
        # when two events are reported before any drain
        kept = sentry_sdk.capture_message("one", level="error")
        sentry_sdk.capture_message("two", level="error")

    # then both were sent, the second transfer was dropped with a warning, the first is recorded
    sentry_sdk.flush()
    assert len(sentry_events.events()) == 2
    assert any("is full" in record.getMessage() for record in caplog.records)
    assert transfer_log_drain() == 1
    assert CrossBorderTransfer.objects.get().reference == f"sentry:{kept}"


_DYING_PROCESS = textwrap.dedent(
    """
    import os

    import django

    django.setup()

    import sentry_sdk
    from django.db import connection, transaction

    from tests.sentry_utils import MemoryTransport
    from tourbrain_support.sentry import init_sentry

    init_sentry(
        dsn="https://public@sentry.invalid/1", environment="test", release="", send_default_pii=False,
        traces_sample_rate=0.0, transport=MemoryTransport(),
    )
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        event_id = sentry_sdk.capture_message("the worker is about to be killed", level="error")
        print(event_id, flush=True)
        os._exit(0)  # killed: no request end, no task end, no rollback, no flush
    """
)


def _child_database_url(tmp_path) -> str:
    db = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{tmp_path / 'child.sqlite3'}"
    credentials = db["USER"] + (f":{db['PASSWORD']}" if db["PASSWORD"] else "")
    return f"postgres://{credentials}@{db['HOST'] or 'localhost'}:{db['PORT'] or 5432}/{db['NAME']}"


def test_a_process_that_dies_before_flushing_leaves_the_transfer_for_the_drain(settings, tmp_path):
    # given a process (its DATA_DIR, hence its spool, is ours) that reports an error inside a transaction
    # and exits at once
    settings.SENTRY_TRANSFER_SPOOL = tmp_path / "sentry-transfers.jsonl"
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tourbrain_support.settings",
        "DATA_DIR": str(tmp_path),
        "DATABASE_URL": _child_database_url(tmp_path),
        "SENTRY_DSN": "",
    }
    child = subprocess.run(  # noqa: S603 - our own interpreter and script
        [sys.executable, "-c", _DYING_PROCESS],
        cwd=django_settings.BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert child.returncode == 0, child.stderr
    event_id = child.stdout.strip().splitlines()[-1]
    assert not CrossBorderTransfer.objects.exists()

    # when the drain runs here
    assert transfer_log_drain() == 1

    # then the transfer it made is in the log
    transfer = CrossBorderTransfer.objects.get()
    assert transfer.reference == f"sentry:{event_id}"
    assert transfer.purpose == "error report (error)"
