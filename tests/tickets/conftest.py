"""Ticket tests: the default SLA policy, teams and routing rules exist in every database test.

They come from a data migration; a transactional test (live server, concurrency) flushes the tables at
its end, so the tests after it would otherwise start without them.
"""

import pytest

from tickets.sla_defaults import ensure_defaults


@pytest.fixture(autouse=True)
def _ticket_defaults(request):
    marker = request.node.get_closest_marker("django_db")
    if marker is None:
        return
    request.getfixturevalue("transactional_db" if marker.kwargs.get("transaction") else "db")
    ensure_defaults()


@pytest.fixture
def imap_server():
    """A real IMAP server on a free localhost port; `.url` is its IMAP_URL. Debian's dovecot when it is
    installed (`.ci/run` installs it), else pymap (a pure-Python server, in-memory) from the test extras."""
    from tests.servers import DovecotIMAPServer, IMAPServer

    server = (DovecotIMAPServer() if DovecotIMAPServer.executable else IMAPServer()).start()
    yield server
    server.stop()


from tests.widget_tokens import jwks, widget_settings  # noqa: E402, F401  (widget API fixtures)
