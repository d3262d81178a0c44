"""Fault injection against real, private servers: Redis and PostgreSQL that the tests stop and start.

Every test here is marked `faults` (select with `-m faults`). The portal runs as real processes (gunicorn,
a Celery worker) against a PostgreSQL cluster made for the session (initdb into a temporary folder, then
`migrate`) and a Redis per test, each on a free port, so stopping them disturbs nothing else and works
whatever database and broker the rest of the suite uses. Tests skip when `redis-server` or PostgreSQL's
`initdb` is missing, and fail instead when `FAULTS_REQUIRED=1` (set by `.ci/run`).

Fixtures
--------
``postgres_cluster`` (session): the running private cluster (`PostgresCluster`).
``portal_database`` (session): a migrated database on it with a staff user; `.url`, `.session_cookie`
    (a logged-in session of that user), `.query(sql)`.
``redis_server``: a private `RedisServer`, started.
``task_sender``: a Celery app that sends to `redis_server` (db 0) whatever broker the test process's
    environment names (`send_task(name, ...)`).
``portal``: starts portal processes: `portal.web(env)` (gunicorn) and `portal.worker(env)` (Celery,
    prefork, one child), each stopped at the end of the test; `portal.env(**overrides)` is the environment
    they share (private database, `DEBUG=0`, JSON logs in the test's folder).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest
from celery import Celery
from django.conf import settings

from tests.servers import PostgresCluster, RedisServer, free_port, postgres_bin_dir
from tests.waiting import scaled, wait_until

BASE_DIR = Path(settings.BASE_DIR)
_FAULTS_DIR = Path(__file__).resolve().parent


def pytest_collection_modifyitems(config, items):
    for item in items:
        if _FAULTS_DIR in Path(str(item.fspath)).resolve().parents:
            item.add_marker(pytest.mark.faults)


def _require(found: bool, what: str) -> None:
    if found:
        return
    if os.environ.get("FAULTS_REQUIRED"):  # CI has PostgreSQL and Redis installed: missing is a failure there
        pytest.fail(f"{what} not found; fault tests cannot run")
    pytest.skip(f"{what} not found; fault tests skipped")


@pytest.fixture(scope="session")
def postgres_cluster():
    bin_dir = postgres_bin_dir()
    _require(bin_dir is not None and (bin_dir / "pg_ctl").exists(), "PostgreSQL (initdb, pg_ctl)")
    cluster = PostgresCluster(bin_dir)
    try:
        cluster.init().start()
        yield cluster
    finally:
        cluster.destroy()


@dataclass
class PortalDatabase:
    url: str
    session_cookie: str
    user_email: str

    def query(self, sql: str, params: tuple = ()) -> list[tuple]:
        import psycopg

        with psycopg.connect(self.url.replace("postgres://", "postgresql://")) as conn:
            return conn.execute(sql, params).fetchall()

    def outbox(self, keys: list[str], column: str = "status") -> dict[str, object]:
        """`column` of the outbox rows with these keys, by key (other tests' rows are left out)."""
        sql = f"SELECT idempotency_key, {column} FROM tickets_outboxmessage WHERE idempotency_key = ANY(%s)"  # noqa: S608
        return dict(self.query(sql, (keys,)))


# Run in the portal's environment (one process: Django starts once): migrate, then a staff user and a
# logged-in session for it (the session's key printed).
_SETUP = """
from django.core.management import call_command
call_command("migrate", interactive=False, verbosity=0)
from django.test import Client
from tourbrain_support.models import User
from tourbrain_support.roles import assign_roles
user = User.objects.create_user(email="faults-rep@example.com", password="unused-Password-1", name="Rep")
assign_roles(user, ["support_rep"])
client = Client()
client.force_login(user)
print("SESSION=" + client.cookies["sessionid"].value)
"""


def _base_env(database_url: str, data_dir: Path) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith(("CELERY_", "PYTEST_"))}
    for name in ("REDIS_URL", "SENTRY_DSN", "EMAIL_URL", "SLACK_WEBHOOK_URL", "DJANGO_SETTINGS_MODULE"):
        env.pop(name, None)
    env.update(
        {
            "SECRET_KEY": "faults-test-secret-key",
            "DEBUG": "0",
            "DATABASE_URL": database_url,
            "DATA_DIR": str(data_dir),
            "LOG_JSON": "1",
            "LOG_LEVEL": "INFO",
            "SESSION_COOKIE_SECURE": "0",
            "CSRF_COOKIE_SECURE": "0",
            "PYTHONPATH": str(BASE_DIR),
        }
    )
    return env


@pytest.fixture(scope="session")
def portal_database(postgres_cluster, tmp_path_factory):
    url = postgres_cluster.create_database("tourbrain")
    env = _base_env(url, tmp_path_factory.mktemp("faults-setup"))
    manage = [sys.executable, "manage.py"]
    command = [*manage, "shell", "--no-imports", "-c", _SETUP]
    # About 20 s idle; minutes when the full suite shares the cores.
    done = subprocess.run(command, cwd=BASE_DIR, env=env, timeout=scaled(300), capture_output=True, text=True)  # noqa: S603
    assert done.returncode == 0, done.stderr[-3000:]
    session = next(line.split("=", 1)[1] for line in done.stdout.splitlines() if line.startswith("SESSION="))
    return PortalDatabase(url=url, session_cookie=session, user_email="faults-rep@example.com")


@pytest.fixture
def redis_server(tmp_path):
    _require(shutil.which("redis-server") is not None, "redis-server")
    server = RedisServer(tmp_path).start()
    yield server
    server.stop()


# Celery takes these from the environment before any broker or backend an app is configured with: in a test
# process run with CELERY_BROKER_URL set (the suite on Redis), an app made with the private server's URL
# would send to the suite's broker instead, where no worker of the test ever looks.
_CELERY_ENVIRONMENT = (
    "CELERY_BROKER_URL",
    "CELERY_BROKER_READ_URL",
    "CELERY_BROKER_WRITE_URL",
    "CELERY_RESULT_BACKEND",
)


@pytest.fixture
def task_sender(redis_server, monkeypatch):
    for name in _CELERY_ENVIRONMENT:
        monkeypatch.delenv(name, raising=False)
    sender = Celery("faults-sender", broker=redis_server.url(0))
    sender.conf.broker_connection_retry_on_startup = True
    assert (sender.conf.broker_read_url, sender.conf.broker_write_url) == (redis_server.url(0),) * 2
    yield sender
    sender.close()


class PortalProcess:
    """A portal process in its own process group, logging to a file."""

    def __init__(self, name: str, command: list[str], env: dict[str, str], log_path: Path):
        self.name = name
        self.log_path = log_path
        self._log = log_path.open("w")
        self.process = subprocess.Popen(  # noqa: S603 - fixed command lines
            command, cwd=BASE_DIR, env=env, stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True
        )
        self._terminated = False

    def alive(self) -> bool:
        return self.process.poll() is None

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace")

    def log_messages(self) -> list[str]:
        messages = []
        for line in self.log_text().splitlines():
            try:
                messages.append(json.loads(line).get("message", ""))
            except ValueError:
                messages.append(line)
        return messages

    def wait_for_log(self, text: str, budget: float = 30, count: int = 1) -> None:
        """Until `text` is in the log `count` times; `budget` idle seconds without it and without the log
        growing (scaled by the load) fail, as does the process exiting."""
        wait_until(
            lambda: self.log_text().count(text) >= count or not self.alive(),
            budget=budget,
            what=f"{self.name}: {text!r} x{count} in its log",
            progress=lambda: self.log_path.stat().st_size,
            details=lambda: self.log_text()[-4000:],
            interval=0.1,
        )
        if self.log_text().count(text) < count:
            pytest.fail(f"{self.name} exited before {text!r} x{count} was in its log:\n{self.log_text()[-4000:]}")

    def terminate(self) -> None:
        """Ask it to stop (SIGTERM), without waiting: `stop()` waits."""
        if self.alive() and not self._terminated:
            os.killpg(self.process.pid, signal.SIGTERM)
            self._terminated = True

    def stop(self) -> None:
        if self.alive():
            self.terminate()
            try:
                self.process.wait(timeout=scaled(15))
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        self._log.close()


class Portal:
    def __init__(self, database: PortalDatabase, tmp_path: Path):
        self.database = database
        self.tmp_path = tmp_path
        self.processes: list[PortalProcess] = []

    def env(self, **overrides: str) -> dict[str, str]:
        return {**_base_env(self.database.url, self.tmp_path / "data"), **overrides}

    def web(self, env: dict[str, str], name: str = "web") -> WebServer:
        port = free_port()
        gunicorn = str(Path(sys.executable).with_name("gunicorn"))
        command = [gunicorn, "tourbrain_support.wsgi", "--bind", f"127.0.0.1:{port}", "--workers", "1"]
        command += ["--timeout", "60"]
        process = PortalProcess(name, command, env, self.tmp_path / f"{name}.log")
        self.processes.append(process)
        server = WebServer(process, port, self.database.session_cookie)
        server.wait_until_up()
        return server

    def worker(self, env: dict[str, str], name: str = "worker") -> PortalProcess:
        celery = str(Path(sys.executable).with_name("celery"))
        command = [celery, "-A", "tourbrain_support", "worker", "--loglevel=INFO", "--concurrency=1"]
        command += ["--without-gossip", "--without-mingle", f"--hostname={name}-{uuid.uuid4().hex[:8]}@localhost"]
        process = PortalProcess(name, command, env, self.tmp_path / f"{name}.log")
        self.processes.append(process)
        process.wait_for_log(" ready.")
        return process

    def writer(self, env: dict[str, str]) -> Writer:
        writer = Writer(env, self.tmp_path / "writer.log")
        self.processes.append(writer)
        return writer

    def stop(self) -> None:
        # All asked at once, then waited for: their shutdowns overlap.
        for process in self.processes:
            process.terminate()
        for process in self.processes:
            process.stop()


class Writer:
    """tests/faults/writer.py in its own process: `emails(n)` / `burst(n)` / `slack()` return the keys written
    and how long each write (its transaction and the publish after commit) took."""

    def __init__(self, env: dict[str, str], log_path: Path):
        self._log = log_path.open("w")
        self.log_path = log_path
        code = "from tests.faults.writer import main; main()"
        self.process = subprocess.Popen(  # noqa: S603 - fixed command line
            [sys.executable, "manage.py", "shell", "--no-imports", "-c", code],
            cwd=BASE_DIR,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._log,
            text=True,
            start_new_session=True,
        )

    def _command(self, line: str) -> tuple[list[str], list[float]]:
        self.process.stdin.write(line + "\n")
        self.process.stdin.flush()
        answer = self.process.stdout.readline()
        assert answer, f"the writer died:\n{self.log_path.read_text()[-3000:]}"
        result = json.loads(answer)
        return result["keys"], result["seconds"]

    def emails(self, count: int) -> tuple[list[str], list[float]]:
        return self._command(f"email {count}")

    def burst(self, count: int) -> tuple[list[str], list[float]]:
        return self._command(f"burst {count}")

    def slack(self) -> tuple[list[str], list[float]]:
        return self._command("slack")

    def terminate(self) -> None:
        """Ask it to stop (end of its input), without waiting: `stop()` waits."""
        if self.process.poll() is None and not self.process.stdin.closed:
            self.process.stdin.close()

    def stop(self) -> None:
        if self.process.poll() is None:
            self.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._log.close()


@pytest.fixture
def portal(portal_database, tmp_path):
    (tmp_path / "data").mkdir()
    portal = Portal(portal_database, tmp_path)
    yield portal
    portal.stop()


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes
    seconds: float

    def json(self):
        return json.loads(self.body)


class WebServer:
    def __init__(self, process: PortalProcess, port: int, session_cookie: str):
        self.process = process
        self.port = port
        self.session_cookie = session_cookie

    def get(self, path: str, *, signed_in: bool = True, timeout: float = 30) -> Answer:
        headers = {"Cookie": f"sessionid={self.session_cookie}"} if signed_in else {}
        request = urllib.request.Request(f"http://127.0.0.1:{self.port}{path}", headers=headers)
        started = time.monotonic()
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 - local server
                status, answer_headers, body = response.status, dict(response.headers), response.read()
        except urllib.error.HTTPError as error:
            status, answer_headers, body = error.code, dict(error.headers), error.read()
        return Answer(status, answer_headers, body, time.monotonic() - started)

    def wait_until_up(self, budget: float = 30) -> None:
        def up() -> bool:
            try:
                return self.get("/healthz", signed_in=False, timeout=scaled(2)).status == 200
            except OSError:
                return False

        wait_until(
            lambda: not self.process.alive() or up(),
            budget=budget,
            what=f"{self.process.name} answering /healthz",
            progress=lambda: self.process.log_path.stat().st_size,
            details=lambda: self.process.log_text()[-4000:],
            interval=0.2,
        )
        if not self.process.alive():
            pytest.fail(f"{self.process.name} exited before it came up:\n{self.process.log_text()[-4000:]}")
