"""Real local servers for tests: an SMTP server (aiosmtpd) and an HTTP server standing in for webhooks.

Both listen on a free 127.0.0.1 port, record what they receive, and stop at the end of the test. The root
conftest exposes them as the `smtp_server` and `http_server` fixtures; `smtp_server` also points Django's
email backend at itself.
"""

from __future__ import annotations

import email
import email.policy
import json
import logging
import socket
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from aiosmtpd.controller import Controller


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
    `rcpt_answers` maps an address to a fixed reply for RCPT TO (e.g. "550 5.1.1 no such user").
    """

    def __init__(self) -> None:
        self.host = "127.0.0.1"
        self.port = free_port()
        self.messages: list[ReceivedEmail] = []
        self.data_answers: list[str] = []
        self.rcpt_answers: dict[str, str] = {}
        self.sessions = 0  # EHLO greetings seen: one per SMTP connection
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
