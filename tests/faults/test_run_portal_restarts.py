"""`make run`'s supervisor restarts a worker or beat that dies (logged, after a pause), and still stops
everything on Ctrl-C. Runs the embedded setup (SQLite file, filesystem broker) in a temporary DATA_DIR."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.conf import settings

from tests.servers import free_port
from tests.waiting import scaled

BASE_DIR = Path(settings.BASE_DIR)


def _children(pid: int) -> dict[int, str]:
    """Direct children of `pid`: their command lines."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if int(fields[1]) == pid and fields[0] != "Z":
            found[int(entry.name)] = command
    return found


def _one(children: dict[int, str], word: str) -> int | None:
    pids = [pid for pid, command in children.items() if f" {word} " in f"{command} "]
    return pids[0] if len(pids) == 1 else None


def _wait_for(log_path: Path, text: str, count: int = 1, timeout: float = 45) -> None:
    deadline = time.monotonic() + scaled(timeout)
    while time.monotonic() < deadline:
        if log_path.read_text(errors="replace").count(text) >= count:
            return
        time.sleep(0.2)
    pytest.fail(f"no {text!r} (x{count}) in the log:\n{log_path.read_text(errors='replace')[-4000:]}")


def test_run_portal_restarts_a_worker_and_beat_that_die(tmp_path):
    env = {**os.environ, "DEBUG": "1", "DATA_DIR": str(tmp_path)}
    env["DATABASE_URL"] = f"sqlite:///{tmp_path / 'db.sqlite3'}"
    env["CELERY_BROKER_URL"] = "filesystem://localhost//"
    env["LOG_JSON"] = "0"
    env["WEB_WARMUP"] = "0"
    for name in ("REDIS_URL", "CELERY_RESULT_BACKEND", "SENTRY_DSN"):
        env.pop(name, None)
    manage = [sys.executable, "manage.py"]
    subprocess.run([*manage, "migrate", "--noinput", "-v0"], cwd=BASE_DIR, env=env, check=True, timeout=scaled(180))  # noqa: S603
    log_path = tmp_path / "run.log"
    with log_path.open("w") as log:
        supervisor = subprocess.Popen(  # noqa: S603 - fixed command line
            # One web worker, not warmed: the web server only has to be there, untouched by the restarts.
            [*manage, "run_portal", "--port", str(free_port()), "--concurrency", "1", "--web-workers", "1"],
            cwd=BASE_DIR,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            # given web, worker and beat started by the supervisor
            deadline, children = time.monotonic() + scaled(30), {}
            while time.monotonic() < deadline:
                children = _children(supervisor.pid)
                if all(_one(children, word) for word in ("worker", "beat", "gunicorn")):
                    break
                time.sleep(0.1)
            worker, beat = _one(children, "worker"), _one(children, "beat")
            assert worker is not None, children
            assert beat is not None, children

            # when the worker and beat are killed (as by the kernel's OOM killer)
            os.kill(worker, signal.SIGKILL)
            os.kill(beat, signal.SIGKILL)

            # then the supervisor logs it and starts new ones after a pause; the new worker comes up
            _wait_for(log_path, "worker exited with code -9; restarting it in 1 s")
            _wait_for(log_path, "beat exited with code -9; restarting it in 1 s")
            _wait_for(log_path, " ready.")
            children = _children(supervisor.pid)
            new_worker, new_beat = _one(children, "worker"), _one(children, "beat")
            assert new_worker not in (None, worker)
            assert new_beat not in (None, beat)
            # and the web server and the supervisor were not touched
            assert _one(children, "gunicorn") is not None
            assert supervisor.poll() is None

            # and Ctrl-C still stops every process
            os.killpg(supervisor.pid, signal.SIGINT)
            supervisor.wait(timeout=scaled(30))
            assert _children(supervisor.pid) == {}
        finally:
            if supervisor.poll() is None:
                os.killpg(supervisor.pid, signal.SIGKILL)
                supervisor.wait(timeout=10)
