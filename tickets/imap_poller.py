"""The IMAP poller: new mail in the support mailbox goes through `email_ingest`, then is moved or flagged.

`IMAP_URL` names the mailbox: `imaps://user:password@host[:993]/INBOX` (TLS), `imap+starttls://...` or
`imap://...` (plain, for a server on this machine only). Each run (the `imap_poll` beat job every
IMAP_POLL_SECONDS, or `manage.py poll_imap`) reads up to IMAP_BATCH unseen messages, ingests each one's
exact bytes, and then moves it to IMAP_PROCESSED_FOLDER (created when missing) or, when that is empty,
flags it seen. A message is moved only after it was ingested, so a crash in between leaves it unseen in
the folder; the next run ingests it again and `email_ingest` recognises the Message-ID (nothing twice).
Bad mail never stops the run: `email_ingest` quarantines it, and it is moved like the rest.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

from django.conf import settings
from imap_tools import AND, BaseMailBox, MailBox, MailBoxStartTls, MailBoxUnencrypted, MailMessageFlags

from tickets.email_inbound import email_ingest

logger = logging.getLogger(__name__)

DEFAULT_PORTS = {"imaps": 993, "imap": 143, "imap+starttls": 143}
TIMEOUT_SECONDS = 30


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


def imap_poll(*, url: str | None = None, limit: int | None = None) -> dict[str, int]:
    """One pass over the mailbox; returns the outcomes counted (`ticket`, `reply`, `duplicate`, ...).

    A no-op without IMAP_URL. Connection and login errors propagate (the beat job logs them and the next
    run tries again); nothing is moved or flagged that was not ingested.
    """
    url = settings.IMAP_URL if url is None else url
    if not url:
        return {}
    config = imap_settings(url)
    limit = limit or settings.IMAP_BATCH
    processed_folder = settings.IMAP_PROCESSED_FOLDER
    counts: Counter[str] = Counter()
    with _mailbox(config).login(config.user, config.password, initial_folder=config.folder) as mailbox:
        if processed_folder and not mailbox.folder.exists(processed_folder):
            mailbox.folder.create(processed_folder)
        done: list[str] = []
        for uid in mailbox.uids(AND(seen=False))[:limit]:
            raw = _raw_message(mailbox, uid)
            if raw is None:
                counts["unreadable"] += 1  # gone meanwhile (another client moved it): nothing to ingest
                continue
            counts[email_ingest(raw).outcome] += 1
            done.append(uid)
        if done:
            if processed_folder:
                mailbox.move(done, processed_folder)
            else:
                mailbox.flag(done, MailMessageFlags.SEEN, True)
    if counts:
        logger.info("imap poll: %s", dict(counts))
    return dict(counts)
