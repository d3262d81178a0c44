"""A real `celery worker` subprocess against the configured broker: tasks round-trip, ids follow them.

Redis when CELERY_BROKER_URL says so, else kombu's filesystem transport in a temporary folder. The
worker gets its own queue name so no other worker on the same broker can take the test's tasks.
"""

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from urllib.parse import quote

import pytest
from celery import Celery
from django.conf import settings
from django.db import connection

from tourbrain_support import request_context
from tourbrain_support.models import WorkerHeartbeat

pytestmark = [pytest.mark.services, pytest.mark.django_db(transaction=True)]

BASE_DIR = Path(settings.BASE_DIR)
USES_REDIS = settings.CELERY_BROKER_URL.startswith(("redis://", "rediss://"))


def _database_url_for_worker() -> str | None:
    """The URL of the test database, when another process can open it (not in-memory SQLite)."""
    db = connection.settings_dict
    if connection.vendor == "postgresql":
        credentials = quote(db["USER"] or "") + (f":{quote(db['PASSWORD'])}" if db["PASSWORD"] else "")
        return f"postgres://{credentials}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"
    return None


class Worker:
    """A worker on its own queue; `extra_args` go to `celery worker`, `start=False` leaves it to `.start()`
    (to queue tasks before it runs)."""

    def __init__(self, tmp_path: Path, extra_args: tuple[str, ...] = (), start: bool = True):
        self.queue = f"test-{uuid.uuid4().hex[:12]}"
        self.hostname = f"{self.queue}@localhost"
        self.log_path = tmp_path / "worker.log"
        env = {**os.environ, "SECRET_KEY": "worker-test", "LOG_JSON": "1", "DEBUG": "0", "LOG_LEVEL": "INFO"}
        env["DJANGO_SETTINGS_MODULE"] = "tourbrain_support.settings"
        if USES_REDIS:
            self.broker_url, self.transport_options = settings.CELERY_BROKER_URL, {}
            self.result_backend = settings.CELERY_BROKER_URL
        else:
            # The worker's settings make the broker folders under its DATA_DIR; the sender uses the same ones.
            env["DATA_DIR"] = str(tmp_path)
            broker = tmp_path / "broker"
            self.broker_url = "filesystem://localhost//"
            self.transport_options = {
                "data_folder_in": str(broker / "queue"),
                "data_folder_out": str(broker / "queue"),
                "control_folder": str(broker / "control"),
            }
            for folder in ("queue", "processed", "control"):
                (broker / folder).mkdir(parents=True, exist_ok=True)
            (tmp_path / "results").mkdir()
            self.result_backend = f"file://{tmp_path / 'results'}"
        env["CELERY_BROKER_URL"] = self.broker_url
        env["CELERY_RESULT_BACKEND"] = self.result_backend
        self.database_url = _database_url_for_worker()
        if self.database_url:
            env["DATABASE_URL"] = self.database_url
        command = [
            str(Path(sys.executable).with_name("celery")),
            "-A",
            "tourbrain_support",
            "worker",
            "--pool=solo",
            "--loglevel=INFO",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
            f"--queues={self.queue}",
            f"--hostname={self.hostname}",
            *extra_args,
        ]
        self.command, self.env = command, env
        self.log = self.log_path.open("w")
        self.process: subprocess.Popen | None = None
        self.sender = Celery("worker-test", broker=self.broker_url, backend=self.result_backend)
        self.sender.conf.broker_transport_options = self.transport_options
        self.sender.conf.accept_content = ["json"]
        if start:
            self.start()

    def start(self) -> None:
        self.process = subprocess.Popen(  # noqa: S603 - fixed command line
            self.command, cwd=BASE_DIR, env=self.env, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True
        )

    def send(self, name: str, **kwargs):
        return self.sender.send_task(name, kwargs=kwargs, queue=self.queue)

    def log_lines(self) -> list[dict]:
        lines = []
        for line in self.log_path.read_text().splitlines():
            try:
                lines.append(json.loads(line))
            except ValueError:
                continue
        return lines

    def stop(self, grace: float = 15) -> int | None:
        if self.process is None:
            self.log.close()
            return None
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        self.log.close()
        return self.process.returncode


@pytest.fixture
def worker(tmp_path, transactional_db):
    worker = Worker(tmp_path)
    yield worker
    worker.stop()


def test_task_round_trips_through_a_real_worker_with_the_request_id(worker):
    # given a request id current in the enqueuing process
    request_id = f"rt-{uuid.uuid4().hex}"
    request_context.set_request_id(request_id)
    try:
        # when a task is enqueued on the real broker
        result = worker.send("tourbrain_support.tasks.ping", note="hello")
    finally:
        request_context.set_request_id(None)

    # then the worker runs it and answers, under the enqueuing request's id
    try:
        answer = result.get(timeout=60)
    except Exception:
        pytest.fail(f"no answer from the worker; its log:\n{worker.log_path.read_text()[-4000:]}")
    assert answer == {"worker": worker.hostname, "request_id": request_id, "note": "hello"}

    # and the task's log line in the worker is JSON carrying the same request id
    lines = [line for line in worker.log_lines() if line.get("message") == "ping received"]
    assert lines, worker.log_path.read_text()[-4000:]
    assert lines[0]["request_id"] == request_id
    assert lines[0]["note"] == "hello"


def test_worker_heartbeat_lands_in_the_database(worker):
    if worker.database_url is None:
        pytest.skip("the in-memory SQLite test database is invisible to a worker (test_run_portal covers SQLite files)")

    # when the heartbeat task goes through the worker
    worker.send("tourbrain_support.tasks.worker_heartbeat")

    # then the worker writes its heartbeat row into the test database (the worker also enqueues one when ready)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if WorkerHeartbeat.objects.filter(worker=worker.hostname).exists():
            break
        time.sleep(0.25)
    else:
        pytest.fail(f"no heartbeat row; worker log:\n{worker.log_path.read_text()[-4000:]}")


def test_the_first_heartbeat_does_not_wait_behind_queued_tasks(tmp_path, transactional_db):
    # given a worker (one task at a time) whose queue already holds a long task when it starts
    worker = Worker(tmp_path, extra_args=("--include=tests.tourbrain_support.worker_test_tasks",), start=False)
    if worker.database_url is None:
        worker.stop()
        pytest.skip("the in-memory SQLite test database is invisible to a worker (test_run_portal covers SQLite files)")
    worker.send("tests.worker.busy", seconds=120)
    try:
        worker.start()

        # then it reports in while that task still runs: /readyz turns green without waiting for the backlog
        deadline = time.monotonic() + 60
        while not WorkerHeartbeat.objects.filter(worker=worker.hostname).exists():
            assert worker.process.poll() is None, worker.log_path.read_text()[-4000:]
            assert time.monotonic() < deadline, f"no heartbeat; worker log:\n{worker.log_path.read_text()[-4000:]}"
            time.sleep(0.25)
        assert "succeeded" not in worker.log_path.read_text()
    finally:
        worker.stop(grace=0)  # the busy task would hold a warm shutdown for two minutes
