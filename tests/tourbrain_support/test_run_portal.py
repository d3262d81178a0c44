"""`make run`'s supervisor: web (gunicorn, warmed) + worker + beat come up, the URL is printed once /readyz
answers 200, the children link to the server they run (SITE_URL), Ctrl-C stops every process.

The end-to-end test runs the embedded setup (SQLite file, filesystem broker) in a temporary DATA_DIR,
whatever the suite's own database is.
"""

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from django.conf import settings
from django.utils import timezone

from tests.servers import Reply
from tourbrain_support.demo import DEMO_PASSWORD, demo_logins
from tourbrain_support.management.commands.run_portal import child_environment, readiness, site_url
from tourbrain_support.models import User, WorkerHeartbeat

BASE_DIR = Path(settings.BASE_DIR)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _group_members(pgid: int) -> list[int]:
    members = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[2]) == pgid and fields[0] != "Z":  # field 5 of stat is the process group
            members.append(int(entry.name))
    return members


def _readyz(port: int) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=5) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())
    except OSError:
        return 0, {}


def _environment(pid: int) -> dict[str, str]:
    raw = Path(f"/proc/{pid}/environ").read_bytes()
    return dict(entry.split("=", 1) for entry in raw.decode(errors="replace").split("\0") if "=" in entry)


def _wait_for_line(path: Path, text: str, supervisor: subprocess.Popen, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while text not in path.read_text():
        assert supervisor.poll() is None, path.read_text()[-3000:]
        assert time.monotonic() < deadline, f"no {text!r} after {timeout} s:\n{path.read_text()[-3000:]}"
        time.sleep(0.1)


@pytest.mark.services
def test_run_portal_announces_once_ready_links_to_itself_and_stops_everything_on_ctrl_c(tmp_path):
    # given a migrated embedded setup in its own data folder
    env = {
        **os.environ,
        "DEBUG": "1",
        "DATA_DIR": str(tmp_path),
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
    }
    env["CELERY_BROKER_URL"] = "filesystem://localhost//"
    for name in ("REDIS_URL", "CELERY_RESULT_BACKEND", "SENTRY_DSN"):
        env.pop(name, None)
    manage = [sys.executable, "manage.py"]
    subprocess.run([*manage, "migrate", "--noinput", "-v0"], cwd=BASE_DIR, env=env, check=True, timeout=180)  # noqa: S603
    port = _free_port()
    log_path = tmp_path / "run.log"

    # when the supervisor starts web, worker and beat in their own process group (like a terminal)
    with log_path.open("w") as log:
        supervisor = subprocess.Popen(  # noqa: S603 - fixed command line
            [*manage, "run_portal", "--port", str(port), "--concurrency", "1"],
            cwd=BASE_DIR,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            # then it prints the URL only once /readyz answers 200 (the worker's first heartbeat has landed)
            _wait_for_line(log_path, "TourBrain Support is running at", supervisor, timeout=120)
            status, body = _readyz(port)
            assert status == 200, (body, log_path.read_text()[-3000:])
            assert all(check["ok"] for check in body["checks"].values())
            assert log_path.read_text().index("waiting for") < log_path.read_text().index("running at")
            assert f"running at http://127.0.0.1:{port}/" in log_path.read_text()
            members = _group_members(supervisor.pid)
            assert len(members) >= 5  # supervisor, gunicorn master and worker, celery worker, beat

            # and web, worker and beat were told to link to this server, not to the default port
            children = [pid for pid in members if pid != supervisor.pid]
            assert {_environment(pid).get("SITE_URL") for pid in children} == {f"http://127.0.0.1:{port}"}
            assert f"Links in notifications point at http://127.0.0.1:{port}" in log_path.read_text()
            # and each gunicorn worker was warmed before it took traffic
            assert "worker ready" in log_path.read_text()
            assert "warm-up on" in log_path.read_text()

            # and Ctrl-C (SIGINT to the whole foreground group) stops every one of them
            os.killpg(supervisor.pid, signal.SIGINT)
            supervisor.wait(timeout=30)
            deadline = time.monotonic() + 10
            while _group_members(supervisor.pid) and time.monotonic() < deadline:
                time.sleep(0.2)
            assert _group_members(supervisor.pid) == [], log_path.read_text()[-3000:]
        finally:
            if _group_members(supervisor.pid):
                os.killpg(supervisor.pid, signal.SIGKILL)
            supervisor.wait(timeout=10)


def test_children_link_to_the_served_host_and_port_unless_site_url_is_set():
    assert child_environment("127.0.0.1", 8123, {"PATH": "/bin"}) == {
        "PATH": "/bin",
        "SITE_URL": "http://127.0.0.1:8123",
    }
    assert child_environment("0.0.0.0", "8000", {})["SITE_URL"] == "http://localhost:8000"  # noqa: S104
    assert child_environment("::1", "8000", {})["SITE_URL"] == "http://[::1]:8000"
    assert child_environment("127.0.0.1", 8123, {"SITE_URL": ""})["SITE_URL"] == "http://127.0.0.1:8123"
    # a SITE_URL from the environment (or .env) wins
    kept = child_environment("127.0.0.1", 8123, {"SITE_URL": "https://support.example.test"})
    assert kept["SITE_URL"] == "https://support.example.test"
    assert site_url("support.local", 80) == "http://support.local:80"


@pytest.mark.django_db
def test_readiness_waits_for_the_worker_then_reports_the_failing_checks(http_server):
    base_url = http_server.url("").rstrip("/")
    # no heartbeat yet: not ready, and /readyz is not even asked (it could only answer 503 and log an error)
    assert readiness(base_url) == (False, {"worker": "no worker heartbeat yet"})
    assert http_server.requests == []

    # with a heartbeat, /readyz decides: a 503 names its failing checks
    WorkerHeartbeat.objects.create(worker="celery@test", beat_at=timezone.now())
    unready = {"status": "unavailable", "checks": {"database": {"ok": True}, "broker": {"ok": False, "detail": "down"}}}
    http_server.script([Reply(503, body=json.dumps(unready)), Reply(200, body="{}")])
    assert readiness(base_url) == (False, {"broker": "down"})
    assert readiness(base_url) == (True, {})
    assert [request.path for request in http_server.requests] == ["/readyz", "/readyz"]


def test_readiness_when_the_web_server_does_not_answer(db):
    WorkerHeartbeat.objects.create(worker="celery@test", beat_at=timezone.now())
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    ready, failing = readiness(f"http://127.0.0.1:{port}")
    assert not ready
    assert failing["web"].startswith("not answering yet")


def test_demo_logins_lists_the_demo_users_present(db):
    assert demo_logins() == []
    User.objects.create_user(email="rep@tourbrain.test", password=DEMO_PASSWORD, name="Rita Rep")
    User.objects.create_user(email="beta@roadcase.test", password=DEMO_PASSWORD, name="Bo Beta")
    User.objects.create_user(email="someone@tourbrain.test", password="x", name="Not a demo user")
    assert demo_logins() == [("support_rep", "rep@tourbrain.test"), ("customer (beta)", "beta@roadcase.test")]
