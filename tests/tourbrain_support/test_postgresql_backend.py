"""The PostgreSQL backend's health check (`tourbrain_support/postgresql`): no query for a quiet connection checked
a moment ago; Django's `SELECT 1` inside a transaction, after a pause, and when the server has said something (a
terminated backend is replaced, not used)."""

import time

import pytest
from django.db import connection

pytestmark = [
    pytest.mark.django_db(transaction=True),  # the health check runs outside transactions, as in a request
    pytest.mark.skipif("connection.vendor != 'postgresql'", reason="the PostgreSQL backend"),
]

MARKER = "SELECT pg_backend_pid() /* marker */"


def _last_statement(other_postgresql_connection, pid: int) -> str:
    return other_postgresql_connection.execute("SELECT query FROM pg_stat_activity WHERE pid = %s", [pid]).fetchone()[0]


def _backend_pid() -> int:
    with connection.cursor() as cursor:
        cursor.execute(MARKER)
        return cursor.fetchone()[0]


def _checked_just_now() -> int:
    """The connection's pid, after a health check (a request's start) and a query of the request."""
    _backend_pid()
    assert connection.is_usable()
    return _backend_pid()


def test_a_quiet_connection_checked_a_moment_ago_is_usable_without_a_query(other_postgresql_connection):
    pid = _checked_just_now()

    assert connection.is_usable()

    assert _last_statement(other_postgresql_connection, pid) == MARKER


def test_after_a_pause_the_check_is_a_query(other_postgresql_connection):
    pid = _checked_just_now()
    connection.checked_at -= 60  # the last check, a minute ago

    assert connection.is_usable()

    assert _last_statement(other_postgresql_connection, pid) == "SELECT 1"


def test_a_connection_inside_a_transaction_is_checked_with_a_query(other_postgresql_connection):
    _checked_just_now()
    connection.set_autocommit(False)
    try:
        pid = _backend_pid()  # the transaction's first statement
        assert connection.is_usable()
        assert _last_statement(other_postgresql_connection, pid) == "SELECT 1"
    finally:
        connection.rollback()
        connection.set_autocommit(True)


def test_a_terminated_backend_is_unusable_and_the_next_request_reconnects(other_postgresql_connection):
    pid = _checked_just_now()

    other_postgresql_connection.execute("SELECT pg_terminate_backend(%s)", [pid])

    deadline = time.monotonic() + 5
    while connection.is_usable():  # until the server's goodbye has reached the socket
        assert time.monotonic() < deadline, "a terminated backend still looked usable"
        time.sleep(0.02)
    # as at the start of a request: the failed check closes the connection, and the first query opens a new one
    connection.health_check_done = False
    connection.close_if_health_check_failed()
    assert _backend_pid() != pid
