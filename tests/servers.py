"""Real local servers for tests: an SMTP server (aiosmtpd) and an HTTP server standing in for webhooks,
and private Redis and PostgreSQL servers that fault-injection tests stop and start.

Each listens on a free 127.0.0.1 port and stops at the end of its test (or session). The root conftest
exposes SMTP and HTTP as the `smtp_server` and `http_server` fixtures (`smtp_server` also points Django's
email backend at itself); tests/faults/conftest.py starts Redis and PostgreSQL.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import glob
import json
import logging
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from aiosmtpd.controller import Controller

from tests.waiting import scaled


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# --- SMTP --------------------------------------------------------------------------------------------


@dataclass
class ReceivedEmail:
    mail_from: str
    rcpt_tos: list[str]
    raw: bytes

    @property
    def message(self) -> EmailMessage:
        return email.message_from_bytes(self.raw, policy=email.policy.default)

    def text(self) -> str:
        part = self.message.get_body(preferencelist=("plain",))
        return part.get_content() if part is not None else ""

    def html(self) -> str:
        part = self.message.get_body(preferencelist=("html",))
        return part.get_content() if part is not None else ""


class _RecordingHandler:
    def __init__(self, server: SMTPServer):
        self.server = server

    async def handle_EHLO(self, server, session, envelope, hostname, responses):
        with self.server.lock:
            self.server.sessions += 1
        session.host_name = hostname
        return responses

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        with self.server.lock:
            self.server.rcpts += 1
            number = self.server.rcpts
            delay = self.server.rcpt_delays.pop(0) if self.server.rcpt_delays else 0.0
        if self.server.on_rcpt:
            self.server.on_rcpt(number)
        if delay:
            await asyncio.sleep(delay)
        answer = self.server.rcpt_answers.get(address)
        if answer:
            return answer
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        with self.server.lock:
            if self.server.data_answers:
                answer = self.server.data_answers.pop(0)
                if not answer.startswith("250"):
                    return answer
            self.server.messages.append(
                ReceivedEmail(mail_from=envelope.mail_from, rcpt_tos=list(envelope.rcpt_tos), raw=envelope.content)
            )
            number = len(self.server.messages)
        return f"250 2.0.0 Ok: queued as TEST{number:06d}"


class SMTPServer:
    """A real SMTP server in a thread. `messages` holds what it accepted, in order.

    `data_answers` is a queue of replies to DATA (e.g. "451 4.3.0 try later"), used before accepting normally;
    `rcpt_answers` maps an address to a fixed reply for RCPT TO (e.g. "550 5.1.1 no such user");
    `rcpt_delays` holds the server's reply to the next RCPT TOs for that many seconds each (a send in flight);
    `on_rcpt(number)` is called on each RCPT TO (1, 2, ...) before it is answered.
    """

    def __init__(self) -> None:
        self.host = "127.0.0.1"
        self.port = free_port()
        self.messages: list[ReceivedEmail] = []
        self.data_answers: list[str] = []
        self.rcpt_answers: dict[str, str] = {}
        self.rcpt_delays: list[float] = []
        self.rcpts = 0  # RCPT TO commands seen, answered or not
        self.sessions = 0  # EHLO greetings seen: one per SMTP connection
        self.on_rcpt: Callable[[int], None] | None = None
        self.lock = threading.Lock()
        self._controller = Controller(_RecordingHandler(self), hostname=self.host, port=self.port)

    def start(self) -> SMTPServer:
        # aiosmtpd logs every SMTP command at INFO; keep test output to warnings.
        logging.getLogger("mail.log").setLevel(logging.WARNING)
        self._controller.start()
        return self

    def stop(self) -> None:
        self._controller.stop()

    @property
    def email_url(self) -> str:
        return f"smtp://{self.host}:{self.port}"

    def wait_for(self, count: int, timeout: float = 10.0) -> list[ReceivedEmail]:
        deadline = time.monotonic() + timeout
        while len(self.messages) < count and time.monotonic() < deadline:
            time.sleep(0.02)
        return list(self.messages)


# --- HTTP --------------------------------------------------------------------------------------------


@dataclass
class ReceivedRequest:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self):
        return json.loads(self.body)


@dataclass
class Reply:
    status: int = 200
    body: str = "ok"
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0


class HTTPServer:
    """A real HTTP server in a thread that records every request and answers from a script.

    `replies` is consumed one per request (then `default` answers): e.g. `[Reply(500), Reply(429,
    headers={"Retry-After": "1"})]` then 200 "ok", like Slack's incoming webhooks.
    """

    def __init__(self, default: Reply | None = None) -> None:
        self.requests: list[ReceivedRequest] = []
        self.replies: list[Reply] = []
        self.default = default or Reply()
        self.lock = threading.Lock()
        self.on_request: Callable[[ReceivedRequest], None] | None = None
        server = self

        class Handler(BaseHTTPRequestHandler):
            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                request = ReceivedRequest(
                    method=self.command, path=self.path, headers=dict(self.headers), body=self.rfile.read(length)
                )
                with server.lock:
                    server.requests.append(request)
                    reply = server.replies.pop(0) if server.replies else server.default
                if server.on_request:
                    server.on_request(request)
                if reply.delay:
                    time.sleep(reply.delay)
                payload = reply.body.encode()
                self.send_response(reply.status)
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Type", "text/plain; charset=utf-8")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = do_PUT = _handle

            def log_message(self, format, *args):
                return

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def start(self) -> HTTPServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def url(self, path: str = "/") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def script(self, replies: Iterable[Reply | int]) -> None:
        with self.lock:
            self.replies = [reply if isinstance(reply, Reply) else Reply(status=reply) for reply in replies]


# --- Redis and PostgreSQL of a test's own ---------------------------------------------------------------


def _wait_for_port(port: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return True
        except OSError:
            time.sleep(0.05)
    return False


class IMAPServer:
    """A real IMAP server (pymap's in-memory backend) in a subprocess on a free port: one account, INBOX only.

    `append(raw)` puts a message in a folder as a mail delivery would; `uids(folder)` and `flags(folder)`
    read the mailbox back through a separate client connection.
    """

    user = "support"
    password = "imap-test-password"

    def __init__(self) -> None:
        self.host = "127.0.0.1"
        self.port = free_port()
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"imap://{self.user}:{self.password}@{self.host}:{self.port}/INBOX"

    def start(self) -> IMAPServer:
        import sys

        command = [sys.executable, "-c", "import sys; from pymap.main import main; sys.exit(main())"]
        command += ["--host", self.host, "--port", str(self.port), "--no-tls"]
        command += ["dict", "--demo-user", self.user, "--demo-password", self.password]
        self.process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # noqa: S603
        if not _wait_for_port(self.port, 15):
            self.stop()
            raise RuntimeError("the IMAP server (pymap) did not start")
        return self

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)
        self.process = None

    def _client(self, folder: str = "INBOX"):
        from imap_tools import MailBoxUnencrypted

        return MailBoxUnencrypted(self.host, self.port).login(self.user, self.password, initial_folder=folder)

    def append(self, raw: bytes, folder: str = "INBOX") -> None:
        with self._client(folder) as mailbox:
            mailbox.append(raw, folder)

    def uids(self, folder: str = "INBOX") -> list[str]:
        with self._client(folder) as mailbox:
            return mailbox.uids() if mailbox.folder.exists(folder) else []

    def seen(self, folder: str = "INBOX") -> list[bool]:
        from imap_tools import MailMessageFlags

        with self._client(folder) as mailbox:
            return [MailMessageFlags.SEEN in msg.flags for msg in mailbox.fetch(mark_seen=False, headers_only=True)]


class DovecotIMAPServer(IMAPServer):
    """Debian's dovecot (`apt-get install dovecot-imapd`, as `.ci/run` does) in the foreground on a free port,
    with a private configuration: its runtime, state, log and maildirs in a temporary directory, one account
    (a static password database), plain IMAP on 127.0.0.1 only. The system's dovecot service is not used.
    As root, the mail and login processes run as the package's `dovecot` and `dovenull` users."""

    executable = shutil.which("dovecot") or ("/usr/sbin/dovecot" if Path("/usr/sbin/dovecot").exists() else None)

    def start(self) -> DovecotIMAPServer:
        import grp
        import pwd

        # A short path: dovecot's UNIX sockets live under base_dir (108 bytes at most).
        self.work_dir = Path(tempfile.mkdtemp(prefix="dovecot-"))
        self.work_dir.chmod(0o755)  # the mail processes (another user when run as root) reach their maildirs
        if os.geteuid() == 0:
            internal, login = "dovecot", "dovenull"
        else:
            internal = login = pwd.getpwuid(os.getuid()).pw_name
        group = grp.getgrgid(pwd.getpwnam(internal).pw_gid).gr_name
        for name in ("mail", "home", "run", "state"):
            (self.work_dir / name).mkdir()
        for name in ("mail", "home"):
            shutil.chown(self.work_dir / name, internal, group)
        config = self.work_dir / "dovecot.conf"
        config.write_text(
            f"""base_dir = {self.work_dir}/run
state_dir = {self.work_dir}/state
log_path = {self.work_dir}/dovecot.log
protocols = imap
listen = {self.host}
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
default_internal_user = {internal}
default_internal_group = {group}
default_login_user = {login}
first_valid_uid = 1
mail_location = maildir:{self.work_dir}/mail/%u
passdb {{
  driver = static
  args = password={self.password}
}}
userdb {{
  driver = static
  args = uid={internal} gid={group} home={self.work_dir}/home/%u
}}
service imap-login {{
  inet_listener imap {{
    address = {self.host}
    port = {self.port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
namespace inbox {{
  inbox = yes
}}
"""
        )
        command = [self.executable, "-F", "-c", str(config)]
        self.process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # noqa: S603
        if not _wait_for_port(self.port, scaled(15)):
            log_file = self.work_dir / "dovecot.log"
            log = log_file.read_text(errors="replace") if log_file.exists() else ""
            self.stop()
            raise RuntimeError(f"dovecot did not start: {log[-2000:]}")
        return self

    def stop(self) -> None:
        super().stop()
        work_dir = getattr(self, "work_dir", None)
        if work_dir is not None:
            shutil.rmtree(work_dir, ignore_errors=True)
            self.work_dir = None


class RedisServer:
    """A `redis-server` subprocess on a free port, without persistence: stopping it loses every key."""

    def __init__(self, work_dir: Path) -> None:
        self.executable = shutil.which("redis-server")
        self.port = free_port()
        self.work_dir = work_dir
        self.process: subprocess.Popen | None = None

    def url(self, db: int = 0) -> str:
        return f"redis://127.0.0.1:{self.port}/{db}"

    def start(self) -> RedisServer:
        command = [self.executable, "--port", str(self.port), "--bind", "127.0.0.1", "--save", ""]
        command += ["--appendonly", "no", "--dir", str(self.work_dir)]
        self.process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # noqa: S603
        if not _wait_for_port(self.port, scaled(10)):
            raise RuntimeError("redis-server did not start")
        return self

    def stop(self, *, graceful: bool = False) -> None:
        """Stopped at once (SIGKILL, as when the host goes away), or `graceful`ly (SIGTERM, a service stop)."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM if graceful else signal.SIGKILL)
            self.process.wait(timeout=scaled(10))
        self.process = None


def postgres_bin_dir() -> Path | None:
    """Where initdb and pg_ctl live: $PG_BIN_DIR, next to initdb on PATH, or Debian's newest version."""
    if os.environ.get("PG_BIN_DIR"):
        return Path(os.environ["PG_BIN_DIR"])
    initdb = shutil.which("initdb")
    if initdb:
        return Path(initdb).resolve().parent
    versions = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda path: int(path.split("/")[4]))
    return Path(versions[-1]).parent if versions else None


class PostgresCluster:
    """A private PostgreSQL cluster (initdb into a temporary folder) on a free port, trust authentication.

    `stop()`/`start()` take it down and up like a server restart; `pause()`/`resume()` freeze the postmaster
    (SIGSTOP), so new connections are accepted by the kernel and never answered, as with a host that hangs.
    As root, the server runs as the `postgres` user (PostgreSQL refuses to run as root).
    """

    def __init__(self, bin_dir: Path) -> None:
        self.bin_dir = bin_dir
        self.port = free_port()
        self.user = "postgres" if os.geteuid() == 0 else None
        self.base_dir = Path(tempfile.mkdtemp(prefix="tb-faults-pg-"))
        self.data_dir = self.base_dir / "data"
        if self.user:
            shutil.chown(self.base_dir, user=self.user)

    def _run(self, *command: str) -> None:
        subprocess.run(  # noqa: S603 - fixed command lines
            command, check=True, capture_output=True, user=self.user, cwd=self.base_dir, timeout=scaled(120)
        )

    def url(self, database: str) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/{database}"

    def init(self) -> PostgresCluster:
        self._run(str(self.bin_dir / "initdb"), "-D", str(self.data_dir), "-A", "trust", "-U", "postgres")
        return self

    def start(self) -> PostgresCluster:
        # A throwaway cluster: no fsync, no crash safety needed.
        options = f"-p {self.port} -k {self.data_dir} -c listen_addresses=127.0.0.1 -c fsync=off"
        options += " -c synchronous_commit=off -c full_page_writes=off"
        self._run(
            str(self.bin_dir / "pg_ctl"), "-D", str(self.data_dir), "-o", options, "-l",
            str(self.base_dir / "server.log"), "-w", "start",
        )  # fmt: skip
        return self

    def stop(self) -> None:
        if (self.data_dir / "postmaster.pid").exists():
            self.resume()
            self._run(str(self.bin_dir / "pg_ctl"), "-D", str(self.data_dir), "-m", "fast", "-w", "stop")

    def _postmaster_pid(self) -> int:
        return int((self.data_dir / "postmaster.pid").read_text().splitlines()[0])

    def pause(self) -> None:
        os.kill(self._postmaster_pid(), signal.SIGSTOP)

    def resume(self) -> None:
        os.kill(self._postmaster_pid(), signal.SIGCONT)

    def create_database(self, name: str) -> str:
        import psycopg

        with psycopg.connect(self.url("postgres").replace("postgres://", "postgresql://"), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def destroy(self) -> None:
        try:
            self.stop()
        finally:
            shutil.rmtree(self.base_dir, ignore_errors=True)
