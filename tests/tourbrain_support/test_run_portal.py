"""`make run`'s supervisor: web + worker + beat come up, /readyz turns 200, Ctrl-C stops every process.

Runs the embedded setup (SQLite file, filesystem broker) in a temporary DATA_DIR, whatever the suite's
own database is.
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

pytestmark = pytest.mark.services

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


def test_run_portal_serves_becomes_ready_and_stops_everything_on_ctrl_c(tmp_path):
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
            # then /readyz turns 200 once the worker's heartbeat lands
            deadline, status, body = time.monotonic() + 90, 0, {}
            while time.monotonic() < deadline and status != 200:
                time.sleep(1)
                status, body = _readyz(port)
                assert supervisor.poll() is None, log_path.read_text()[-3000:]
            assert status == 200, (body, log_path.read_text()[-3000:])
            assert all(check["ok"] for check in body["checks"].values())
            assert len(_group_members(supervisor.pid)) >= 4  # supervisor, web, worker, beat

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
