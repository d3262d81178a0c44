"""Error-reporting test helpers: an in-memory Sentry transport (no network) and a database that cannot be reached."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import sentry_sdk
from django.db import connections
from django.test import override_settings
from sentry_sdk.scope import Scope, ScopeType, use_isolation_scope, use_scope
from sentry_sdk.transport import Transport

from tourbrain_support.sentry import init_sentry, transfer_log_discard


class MemoryTransport(Transport):
    """Keeps every envelope the SDK would have sent."""

    def __init__(self, options=None):
        super().__init__(options)
        self.envelopes = []

    def capture_envelope(self, envelope):
        self.envelopes.append(envelope)

    def events(self) -> list[dict]:
        return [item.payload.json for envelope in self.envelopes for item in envelope.items if item.type == "event"]

    def raw(self) -> bytes:
        return b"".join(envelope.serialize() for envelope in self.envelopes)


@contextmanager
def fresh_sentry_scopes() -> Iterator[None]:
    """New, empty Sentry isolation and current scopes for the block; the previous ones are back afterwards.

    A real server gives each request its own isolation scope (the SDK's WSGI middleware), but Django's test
    client bypasses it: the Django integration then adds each request's event processor to the one scope the
    test process shares, and a request kept alive by one test is attached to events another test captures.
    (`sentry_sdk.isolation_scope()` would not do: it forks, and a fork copies those processors.)"""
    with use_isolation_scope(Scope(ty=ScopeType.ISOLATION)), use_scope(Scope(ty=ScopeType.CURRENT)):
        yield


@contextmanager
def memory_sentry(*, send_default_pii: bool = False) -> Iterator[MemoryTransport]:
    """Sentry switched on as in production, sending to a MemoryTransport; off again afterwards.

    The transfer spool is a file of this block's own (settings.SENTRY_TRANSFER_SPOOL), so what one test
    leaves undrained never reaches another."""
    transport = MemoryTransport()
    with (
        tempfile.TemporaryDirectory(prefix="sentry-spool-") as spool_dir,
        override_settings(SENTRY_TRANSFER_SPOOL=Path(spool_dir) / "sentry-transfers.jsonl"),
    ):
        assert init_sentry(
            dsn="https://public@sentry.invalid/1",
            environment="test",
            release="tourbrain-support@test",
            send_default_pii=send_default_pii,
            traces_sample_rate=0.0,
            transport=transport,
        )
        try:
            yield transport
        finally:
            sentry_sdk.get_client().close()
            sentry_sdk.init()  # back to a client without a DSN: nothing is sent by later tests
            transfer_log_discard()  # transfers of events captured outside a request stay with this test


@contextmanager
def database_unreachable(alias: str = "default") -> Iterator[None]:
    """This thread's connection points at a server that is not there (PostgreSQL: a closed port; SQLite: a file
    in a folder that does not exist), as when the database is down; the real connection is back afterwards."""
    real = connections[alias]
    settings_dict = dict(real.settings_dict)
    if real.vendor == "sqlite":
        settings_dict["NAME"] = "/nonexistent-folder/unreachable.sqlite3"
    else:
        settings_dict.update(
            HOST="127.0.0.1", PORT="1", OPTIONS={**settings_dict.get("OPTIONS", {}), "connect_timeout": 2}
        )
    broken = type(real)(settings_dict, alias)
    connections[alias] = broken
    try:
        yield
    finally:
        broken.close()
        connections[alias] = real
