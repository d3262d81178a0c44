"""Run web + Celery worker + beat together for local use; Ctrl-C (or SIGTERM) stops all three.

`make run` uses it. Each process is a child of this one. A worker or beat that dies is started again, after
a pause that doubles with each quick death (1 s up to a minute; reset once it has run a while), and logged;
when the web server exits, or this process is interrupted, the others are terminated (then killed after a
grace period) so nothing is left running.
"""

import signal
import subprocess
import sys
import time
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand

GRACE_SECONDS = 10
# Worker and beat are restarted when they die: first after RESTART_DELAY_MIN, doubling up to RESTART_DELAY_MAX
# while they keep dying within RESTART_STABLE_SECONDS of their start.
RESTARTED = ("worker", "beat")
RESTART_DELAY_MIN = 1.0
RESTART_DELAY_MAX = 60.0
RESTART_STABLE_SECONDS = 60.0


class Command(BaseCommand):
    help = "Start the web server, a Celery worker and Celery beat; stop all of them on Ctrl-C."

    def add_arguments(self, parser):
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", default="8000")
        parser.add_argument("--concurrency", default="2", help="Celery worker processes")

    def handle(self, *args, **options):
        python = sys.executable
        celery = str(Path(python).with_name("celery"))
        commands = {
            "worker": [celery, "-A", "tourbrain_support", "worker", "--loglevel=INFO", f"-c{options['concurrency']}"],
            "beat": [celery, "-A", "tourbrain_support", "beat", "--loglevel=INFO"],
            # --noreload: the autoreloader forks a second process that would outlive a plain terminate().
            "web": [python, "manage.py", "runserver", "--noreload", f"{options['host']}:{options['port']}"],
        }
        children: dict[str, subprocess.Popen] = {}
        stopping = False

        def request_stop(signum, _frame):
            nonlocal stopping
            stopping = True

        signal.signal(signal.SIGTERM, request_stop)
        signal.signal(signal.SIGINT, request_stop)
        started: dict[str, float] = {}
        delays = dict.fromkeys(RESTARTED, RESTART_DELAY_MIN)
        restart_at: dict[str, float] = {}

        def start(name: str) -> None:
            # Children ignore the terminal's Ctrl-C; this process stops them in order instead.
            children[name] = subprocess.Popen(  # noqa: S603 - fixed command lines
                commands[name], cwd=settings.BASE_DIR, preexec_fn=_ignore_sigint
            )
            started[name] = time.monotonic()

        try:
            for name in commands:
                start(name)
            self.stdout.write(
                f"\n  TourBrain Support is running at http://{options['host']}:{options['port']}/"
                "  (Ctrl-C stops web, worker and beat)\n"
            )
            while not stopping:
                now = time.monotonic()
                if children["web"].poll() is not None:
                    self.stderr.write("web exited; stopping the others")
                    break
                for name in RESTARTED:
                    if name in restart_at:
                        if now >= restart_at[name]:
                            del restart_at[name]
                            self.stderr.write(f"restarting {name}")
                            start(name)
                        continue
                    code = children[name].poll()
                    if code is None:
                        continue
                    if now - started[name] >= RESTART_STABLE_SECONDS:
                        delays[name] = RESTART_DELAY_MIN
                    restart_at[name] = now + delays[name]
                    self.stderr.write(f"{name} exited with code {code}; restarting it in {delays[name]:g} s")
                    delays[name] = min(delays[name] * 2, RESTART_DELAY_MAX)
                time.sleep(0.5)
        finally:
            _stop(children)
        failed = any(child.returncode not in (0, -signal.SIGTERM) for child in children.values())
        if failed and not stopping:
            raise SystemExit(1)


def _ignore_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _stop(children: dict[str, subprocess.Popen]) -> None:
    for child in children.values():
        if child.poll() is None:
            child.terminate()
    deadline = time.monotonic() + GRACE_SECONDS
    for child in children.values():
        try:
            child.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()
