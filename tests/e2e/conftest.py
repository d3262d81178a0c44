"""Real-browser test harness: Playwright (sync API) driving Debian's chromium against `live_server`.

Fixtures
--------
``browser`` (session)
    A headless chromium launched from ``/usr/bin/chromium`` (or ``$CHROMIUM_PATH``). Tests that use it
    are skipped with a clear reason when no chromium is installed (``apt-get install chromium``), and
    fail instead when ``E2E_REQUIRED=1`` (set by ``.ci/run``).
``page``
    A fresh browser context + page per test (own cookies), with ``base_url`` set to the live server, so
    ``page.goto("/queue/")`` works. Default timeout 10 s.
``login_as(role=None, **user_fields) -> User``
    Creates a user holding ``role`` (a ``tourbrain_support.roles.Role`` value; ``None`` or ``"customer"``
    makes a customer) in the live server's database, then logs in through the real login form on ``page``.
    Returns the user; its password is ``E2E_PASSWORD``. Extra ``user_fields`` go to ``UserFactory``
    (e.g. ``is_beta=True``). ``login_as(user=existing_user)`` logs in an existing user instead (its
    password must be ``E2E_PASSWORD``, as UserFactory sets it). Call it again to switch users (it clears
    the previous session first).

Every test in ``tests/e2e/`` is marked ``e2e`` automatically (select with ``-m e2e``, skip with
``-m "not e2e"``); mark them explicitly anyway for readability. The live server uses a transactional
test database: data created in the test (factories, services) is visible to the browser. Note: a
transactional test ends with a flush of every table, so rows that data migrations created are gone for
the transactional tests after it; post_migrate handlers (content types, permissions, role groups) run
again after the flush, and ``page`` restores the tickets defaults (SLA policy v1, calendars, teams,
routing rules). Create anything else a test needs in the test itself.
"""

import functools
import http.server
import os
import shutil
import threading
from pathlib import Path

import pytest

from tourbrain_support.roles import CUSTOMER

# live_server runs Django in a thread while Playwright's sync API keeps an event loop running in the
# test thread; Django would otherwise refuse ORM calls from "an async context".
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

E2E_PASSWORD = "correct-horse-battery"  # the UserFactory default
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
_E2E_DIR = Path(__file__).resolve().parent


def chromium_path() -> str | None:
    candidates = [os.environ.get("CHROMIUM_PATH"), "/usr/bin/chromium", shutil.which("chromium")]
    candidates += [shutil.which("chromium-browser")]
    for candidate in candidates:
        if candidate and os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return candidate
    return None


def pytest_collection_modifyitems(config, items):
    for item in items:
        if _E2E_DIR in Path(str(item.fspath)).resolve().parents:
            item.add_marker(pytest.mark.e2e)


@pytest.fixture(scope="session")
def browser():
    executable = chromium_path()
    if executable is None:
        reason = "chromium not found (install Debian's chromium or set CHROMIUM_PATH)"
        if os.environ.get("E2E_REQUIRED"):  # CI installs chromium: a missing browser is a failure there
            pytest.fail(reason)
        pytest.skip(reason + "; browser tests skipped")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, headless=True, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def _plain_http_cookies(settings):
    # The live server speaks plain HTTP; secure-only cookies would never reach it.
    settings.SESSION_COOKIE_SECURE = False
    settings.CSRF_COOKIE_SECURE = False
    settings.SECURE_SSL_REDIRECT = False


@pytest.fixture
def _portal_defaults(live_server):
    # Rows that data migrations create (default SLA policy, calendars, teams, routing, help content) are gone after the
    # previous transactional test's flush; the portal needs them to take tickets.
    from knowledge_base.help_content import load_help_content
    from knowledge_base.models import Article, Category
    from tickets.sla_defaults import ensure_defaults

    ensure_defaults()
    load_help_content(Article, Category)  # the help center's docs pages and videos


@pytest.fixture
def page(browser, live_server, _plain_http_cookies, _portal_defaults):
    context = browser.new_context(base_url=live_server.url)
    context.set_default_timeout(10_000)
    page = context.new_page()
    yield page
    context.close()


@pytest.fixture
def login_as(page, make_user):
    """login_as(role=None, *, user=None, **user_fields): log in through the form as a new user with that role
    (or as `user`, an existing user whose password is E2E_PASSWORD)."""

    def login(role: str | None = None, *, user=None, **user_fields):
        page.context.clear_cookies()
        if user is None:
            user = make_user(None if role == CUSTOMER else role, **user_fields)
        page.goto("/accounts/login/")
        page.fill("#id_username", user.email)
        page.fill("#id_password", E2E_PASSWORD)
        page.click("form button[type=submit]")
        page.wait_for_load_state()
        if "/accounts/login/" in page.url:
            raise AssertionError(f"login as {role or CUSTOMER} ({user.email}) failed; still on {page.url}")
        return user

    return login


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format, *args):
        return


@pytest.fixture
def tourbrain_app(tmp_path):
    """TourBrain's web app: a real static HTTP server on 127.0.0.1 (another origin than the live server on
    localhost, and loopback too, so chromium's private-network rules allow its requests). Files go in `.root`."""
    handler = functools.partial(_QuietHandler, directory=str(tmp_path))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    server.root = tmp_path
    server.origin = f"http://127.0.0.1:{server.server_address[1]}"
    yield server
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)
