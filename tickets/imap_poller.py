"""The IMAP poller: new mail in the support mailbox goes through `email_ingest`, then is moved or flagged.

`IMAP_URL` names the mailbox: `imaps://user:password@host[:993]/INBOX` (TLS), `imap+starttls://...` or
`imap://...` (plain, for a server on this machine only). Each run (the `imap_poll` beat job every
IMAP_POLL_SECONDS, or `manage.py poll_imap`) reads up to IMAP_BATCH unseen messages, ingests each one's
exact bytes, and then moves it to IMAP_PROCESSED_FOLDER (created when missing) or, when that is empty,
flags it seen. A message is moved only after it was ingested, so a crash in between leaves it unseen in
the folder; the next run ingests it again and `email_ingest` recognises the Message-ID (nothing twice).
Bad mail never stops the run: `email_ingest` quarantines it, and it is moved like the rest.

One pass at a time per mailbox: two beat ticks, or a manual `poll_imap` while the beat's pass runs, would
otherwise read and move the same messages together. A pass takes a lock named after the mailbox (a
PostgreSQL session advisory lock; on SQLite, the embedded single-machine setup, an flock on a file under
DATA_DIR) and a pass that finds it taken does nothing and says so (`{"busy": 1}`). Both locks go with the
process that holds them (its connection or file closes), so a killed worker never leaves the mailbox locked.
"""

from __future__ import annotations

import fcntl
import hashlib
import logging
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit

from django.conf import settings
from django.db import connection
from imap_tools import AND, BaseMailBox, MailBox, MailBoxStartTls, MailBoxUnencrypted, MailMessageFlags

from tickets.email_inbound import email_ingest_many

logger = logging.getLogger(__name__)

DEFAULT_PORTS = {"imaps": 993, "imap": 143, "imap+starttls": 143}
TIMEOUT_SECONDS = 30
BUSY = "busy"  # the outcome of a pass that found another one reading the mailbox


@dataclass(frozen=True)
class ImapSettings:
    scheme: str
    host: str
    port: int
    user: str
    password: str
    folder: str


def imap_settings(url: str) -> ImapSettings:
    """The parts of IMAP_URL; ValueError names what is wrong."""
    parts = urlsplit(url)
    if parts.scheme not in DEFAULT_PORTS:
        raise ValueError(f"IMAP_URL must start with imaps://, imap+starttls:// or imap:// (got {parts.scheme!r}).")
    if not parts.hostname or not parts.username:
        raise ValueError("IMAP_URL needs a user and a host: imaps://user:password@host/INBOX.")
    return ImapSettings(
        scheme=parts.scheme,
        host=parts.hostname,
        port=parts.port or DEFAULT_PORTS[parts.scheme],
        user=unquote(parts.username),
        password=unquote(parts.password or ""),
        folder=unquote(parts.path.strip("/")) or "INBOX",
    )


def _mailbox(config: ImapSettings) -> BaseMailBox:
    if config.scheme == "imaps":
        return MailBox(config.host, config.port, timeout=TIMEOUT_SECONDS)
    if config.scheme == "imap+starttls":
        return MailBoxStartTls(config.host, config.port, timeout=TIMEOUT_SECONDS)
    return MailBoxUnencrypted(config.host, config.port, timeout=TIMEOUT_SECONDS)


def _raw_message(mailbox: BaseMailBox, uid: str) -> bytes | None:
    """The message's exact bytes (BODY.PEEK: reading does not mark it seen)."""
    status, data = mailbox.client.uid("FETCH", uid, "(BODY.PEEK[])")
    if status != "OK":
        return None
    return next((item[1] for item in data if isinstance(item, tuple) and len(item) == 2), None)


def _lock_key(config: ImapSettings) -> int:
    name = f"tickets.imap_poll:{config.host}:{config.port}:{config.user}:{config.folder}"
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)


@contextmanager
def mailbox_pass_lock(config: ImapSettings) -> Iterator[bool]:
    """Whether this pass holds the mailbox (False: another pass does; read nothing). Never waits."""
    key = _lock_key(config)
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_try_advisory_lock(%s)", [key])
            held = bool(cursor.fetchone()[0])
        try:
            yield held
        finally:
            if held:
                with connection.cursor() as cursor:
                    cursor.execute("SELECT pg_advisory_unlock(%s)", [key])
        return
    folder = Path(settings.DATA_DIR) / "locks"
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / f"imap-{key & 0xFFFFFFFFFFFFFFFF:016x}.lock", "a+b") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            held = True
        except BlockingIOError:
            held = False
        try:
            yield held
        finally:
            if held:
                fcntl.flock(handle, fcntl.LOCK_UN)


def imap_poll(*, url: str | None = None, limit: int | None = None) -> dict[str, int]:
    """One pass over the mailbox; returns the outcomes counted (`ticket`, `reply`, `duplicate`, ...).

    A no-op without IMAP_URL. Connection and login errors propagate (the beat job logs them and the next
    run tries again); nothing is moved or flagged that was not ingested. `{"busy": 1}` when another pass
    is reading the same mailbox.
    """
    url = settings.IMAP_URL if url is None else url
    if not url:
        return {}
    config = imap_settings(url)
    limit = limit or settings.IMAP_BATCH
    processed_folder = settings.IMAP_PROCESSED_FOLDER
    with mailbox_pass_lock(config) as held:
        if not held:
            logger.info("imap poll: another pass is reading %s; this one does nothing", config.folder)
            return {BUSY: 1}
        counts = _poll(config, limit, processed_folder)
    if counts:
        logger.info("imap poll: %s", dict(counts))
    return dict(counts)


def _poll(config: ImapSettings, limit: int, processed_folder: str) -> Counter[str]:
    counts: Counter[str] = Counter()
    with _mailbox(config).login(config.user, config.password, initial_folder=config.folder) as mailbox:
        if processed_folder and not mailbox.folder.exists(processed_folder):
            mailbox.folder.create(processed_folder)
        fetched: list[str] = []

        def raws() -> Iterator[bytes]:
            for uid in mailbox.uids(AND(seen=False))[:limit]:
                raw = _raw_message(mailbox, uid)
                if raw is None:
                    counts["unreadable"] += 1  # gone meanwhile (another client moved it): nothing to ingest
                    continue
                fetched.append(uid)
                yield raw

        done: list[str] = []
        # In batches (`email_ingest_many`): the results come in the order the messages were fetched.
        for result in email_ingest_many(raws()):
            counts[result.outcome] += 1
            done.append(fetched[len(done)])
        if done:
            if processed_folder:
                mailbox.move(done, processed_folder)
            else:
                mailbox.flag(done, MailMessageFlags.SEEN, True)
    return counts
