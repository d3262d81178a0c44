"""Run web + Celery worker + beat together for local use; Ctrl-C (or SIGTERM) stops all three.

`make run` uses it. Each process is a child of this one. A worker or beat that dies is started again, after
a pause that doubles with each quick death (1 s up to a minute; reset once it has run a while), and logged;
when the web server exits, or this process is interrupted, the others are terminated (then killed after a
grace period) so nothing is left running.

The web server is gunicorn with the production settings (`tourbrain_support.gunicorn_conf`: each worker is
warmed before it takes traffic). The children get `SITE_URL=http://<host>:<port>` unless SITE_URL is set,
so links in notifications point at this server. The URL, and the demo logins when there are any, are printed
once `/readyz` answers 200 (the worker has reported in); if it does not within `--ready-timeout` seconds, a
warning names the checks that fail and the portal keeps running.
"""

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand
from django.db import connections

GRACE_SECONDS = 10
POLL_SECONDS = 0.5
WILDCARD_HOSTS = {"", "0.0.0.0", "::"}  # noqa: S104 - names of "every interface", compared, not bound
# Worker and beat are restarted when they die: first after RESTART_DELAY_MIN, doubling up to RESTART_DELAY_MAX
# while they keep dying within RESTART_STABLE_SECONDS of their start.
RESTARTED = ("worker", "beat")
RESTART_DELAY_MIN = 1.0
RESTART_DELAY_MAX = 60.0
RESTART_STABLE_SECONDS = 60.0


def site_url(host: str, port: int | str) -> str:
    """The base URL people reach the server at (a wildcard bind is reached as localhost)."""
    if host in WILDCARD_HOSTS:
        host = "localhost"
    elif ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{port}"


def child_environment(host: str, port: int | str, environ: dict[str, str]) -> dict[str, str]:
    """The children's environment: this one, with SITE_URL pointing at this server unless already set."""
    env = dict(environ)
    if not env.get("SITE_URL", "").strip():
        env["SITE_URL"] = site_url(host, port)
    return env


def readiness(base_url: str) -> tuple[bool, dict[str, str]]:
    """Whether `/readyz` answers 200, else the failing checks ({"web": ...} when it does not answer)."""
    from tourbrain_support.health import check_worker

    # Ask the database first: until the worker has reported in, /readyz can only answer 503 (and log it).
    worker_ok, worker_detail = check_worker()
    if not worker_ok:
        return False, {"worker": worker_detail}
    try:
        with urllib.request.urlopen(f"{base_url}/readyz", timeout=5) as response:  # noqa: S310 - our own URL
            return response.status == 200, {}
    except urllib.error.HTTPError as error:
        try:
            checks = json.loads(error.read()).get("checks", {})
        except ValueError:
            checks = {}
        failing = {name: check.get("detail", "") for name, check in checks.items() if not check.get("ok")}
        return False, failing or {"web": f"/readyz answered {error.code}"}
    except OSError as error:
        return False, {"web": f"not answering yet ({error.__class__.__name__})"}


class Command(BaseCommand):
    help = "Start the web server, a Celery worker and Celery beat; stop all of them on Ctrl-C."

    def add_arguments(self, parser):
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", default="8000")
        parser.add_argument("--concurrency", default="2", help="Celery worker processes")
        parser.add_argument("--web-workers", default="2", help="gunicorn worker processes")
        parser.add_argument(
            "--ready-timeout", type=float, default=120.0, help="seconds to wait for /readyz before warning"
        )

    def handle(self, *args, **options):
        host, port = options["host"], options["port"]
        python = sys.executable
        celery = str(Path(python).with_name("celery"))
        bind_host = f"[{host}]" if ":" in host else host
        commands = {
            "worker": [celery, "-A", "tourbrain_support", "worker", "--loglevel=INFO", f"-c{options['concurrency']}"],
            "beat": [celery, "-A", "tourbrain_support", "beat", "--loglevel=INFO"],
            "web": [
                python,
                "-m",
                "gunicorn",
                "-c",
                "python:tourbrain_support.gunicorn_conf",
                f"--bind={bind_host}:{port}",
                f"--workers={options['web_workers']}",
            ],
        }
        env = child_environment(host, port, os.environ)
        url = site_url(host, port)
        probe_url = site_url("127.0.0.1" if host in WILDCARD_HOSTS else host, port)
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
                commands[name], cwd=settings.BASE_DIR, env=env, preexec_fn=_ignore_sigint
            )
            started[name] = time.monotonic()

        try:
            for name in commands:
                start(name)
            self.stdout.write(f"Starting web, worker and beat; waiting for {probe_url}/readyz ...")
            self.stdout.flush()
            deadline = time.monotonic() + options["ready_timeout"]
            announced = False
            while not stopping:
                now = time.monotonic()
                if children["web"].poll() is not None:
                    self.stderr.write("web exited; stopping the others")
                    break
                self._restart_dead(children, start, started, delays, restart_at, now)
                if not announced:
                    ready, failing = readiness(probe_url)
                    if ready or time.monotonic() >= deadline:
                        self._announce(url, env["SITE_URL"], None if ready else failing, options["ready_timeout"])
                        announced = True
                        connections.close_all()  # this process needs the database no more
                time.sleep(POLL_SECONDS)
        finally:
            _stop(children)
        failed = any(child.returncode not in (0, -signal.SIGTERM) for child in children.values())
        if failed and not stopping:
            raise SystemExit(1)

    def _restart_dead(self, children, start, started, delays, restart_at, now: float) -> None:
        """Start a dead worker or beat again once its pause is over; the pause doubles while it keeps dying."""
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

    def _announce(self, url: str, links_url: str, failing: dict[str, str] | None, timeout: float) -> None:
        if failing is not None:
            details = "; ".join(f"{name}: {detail}" for name, detail in failing.items())
            self.stderr.write(
                self.style.WARNING(f"\n  /readyz is still not ready after {timeout:.0f} s ({details}).")
                + "\n  The portal keeps running; see the worker's log above."
            )
        self.stdout.write(
            f"\n  TourBrain Support is running at {url}/  (Ctrl-C stops web, worker and beat)"
            f"\n  Links in notifications point at {links_url}"
        )
        if settings.DEBUG:
            from tourbrain_support.demo import DEMO_PASSWORD, demo_logins

            logins = demo_logins()
            if logins:
                self.stdout.write(f"  Demo logins (password: {DEMO_PASSWORD}):")
                for role, email in logins:
                    self.stdout.write(f"    {role:<28} {email}")
                self.stdout.write(f"  Customers: {url}/portal/ (password) and the in-app widget at {url}/widget/demo/")
        self.stdout.write("")
        self.stdout.flush()  # a log file or pipe sees it now, not when the buffer fills


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
