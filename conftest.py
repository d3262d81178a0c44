"""Root fixtures: a logged-in client per role, and the switch that keeps tests off the network."""

import os

import pytest

from tests.celery_utils import broker_down, eager_tasks
from tests.factories import OrganizationFactory, UserFactory
from tests.sentry_utils import fresh_sentry_scopes
from tests.servers import HTTPServer, SMTPServer
from tourbrain_support.roles import Role, assign_roles

# Under pytest -n, settings.py (loaded by pytest-django before this file) gave this worker a DATA_DIR of its
# own; the processes tests start are given theirs explicitly and must not be moved under a worker's.
os.environ.pop("PYTEST_XDIST_WORKER", None)


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def _widget_files_in_request(settings):
    """Widget tickets are filed within the request, so a test sees the ticket the moment it is answered;
    the accept-now, file-later path (`tickets/intake.py`) has tests of its own that turn it on."""
    settings.WIDGET_BACKGROUND_FILING = False


@pytest.fixture(autouse=True)
def _customer_notices_cached():
    """Each test starts as a running portal does: the maintenance notices cached (none), so a customer page's query
    count does not depend on whether an earlier test, or one more than a minute ago, filled the cache. The alerting
    tests start without a copy (their own fixture) and the banner tests refresh it as the evaluation tick does."""
    from django.core.cache import cache

    from tourbrain_support.alerting.selectors import NOTICES_CACHE_KEY

    cache.set(NOTICES_CACHE_KEY, [], 3600)


@pytest.fixture(autouse=True)
def _sentry_scope_per_test():
    """Each test reports to Sentry from scopes of its own: nothing an earlier test left there (a request, a tag,
    a user) is attached to its events."""
    with fresh_sentry_scopes():
        yield


@pytest.fixture
def make_user(db):
    """make_user(role=None, **fields): a user holding the given staff role (None = customer)."""

    def factory(role: str | None = None, **fields):
        user = UserFactory(**fields)
        if role:
            assign_roles(user, [role])
        return user

    return factory


@pytest.fixture
def client_as(client, make_user):
    """client_as(role): the test client logged in as a fresh user with that role."""

    def login(role: str | None = None, **fields):
        user = make_user(role, **fields)
        client.force_login(user)
        client.user = user
        return client

    return login


@pytest.fixture
def client_as_rep(client_as):
    return client_as(Role.SUPPORT_REP)


@pytest.fixture
def client_as_admin(client_as):
    return client_as(Role.ADMIN)


@pytest.fixture
def organization(db):
    return OrganizationFactory()


@pytest.fixture
def smtp_server(settings):
    """A real SMTP server on a free localhost port; Django's email backend sends to it (`.messages`)."""
    server = SMTPServer().start()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = server.host, server.port
    settings.EMAIL_HOST_USER = settings.EMAIL_HOST_PASSWORD = ""
    settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
    yield server
    server.stop()


@pytest.fixture
def http_server():
    """A real HTTP server on a free localhost port recording requests; `.script([500, 429, 200])` sets replies."""
    server = HTTPServer().start()
    yield server
    server.stop()


@pytest.fixture
def celery_eager():
    """Tasks run inline when enqueued (`.delay()` inside on_commit callbacks delivers at once)."""
    with eager_tasks():
        yield


@pytest.fixture
def celery_broker_down():
    """The Celery app publishes to a closed port (as with Redis stopped) until the end of the test."""
    with broker_down():
        yield


@pytest.fixture
def other_postgresql_connection():
    """A second PostgreSQL session (autocommit) to the test database, beside Django's: to hold a lock, end a
    backend, or change a table as another process would."""
    import psycopg
    from django.db import connection

    params = connection.get_connection_params()
    with psycopg.connect(**{key: value for key, value in params.items() if key != "cursor_factory"}) as other:
        other.autocommit = True
        yield other
