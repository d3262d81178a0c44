"""`fetch_one_prepared` (`tourbrain_support/db.py`): the hot paths' statements are prepared once per connection on
PostgreSQL, bound on the client when DATABASE_PREPARED_STATEMENTS is off (a transaction-pooling proxy) and on
SQLite; logged with their parameters; a new connection prepares them again; a failing one rolls back cleanly;
a terminated connection is replaced (the health check runs first); a statement whose result columns a migration
changed is prepared again. `compiled_first`: a queryset compiled once per connection gives what the ORM gives."""

import threading
import time

import pytest
from django.db import IntegrityError, NotSupportedError, connection, connections, transaction
from django.db.models.functions import Upper
from django.test.utils import CaptureQueriesContext

from tests.prepared_statements import prepared_statement_runs
from tourbrain_support.db import MARK_PREFIX, compiled_first, fetch_one_prepared
from tourbrain_support.models import ExternalIdentity

pytestmark = pytest.mark.django_db


ISSUER, SUBJECT_MARK = "https://clerk.test", MARK_PREFIX + "subject"
STATEMENT = "SELECT CAST(%s AS bigint) + 1, CAST(%s AS text) /* prepared test */"


def _prepared_runs() -> int:
    """How often this connection ran the test statement as a prepared statement."""
    if connection.vendor != "postgresql":
        return 0
    return sum(runs for text, runs in prepared_statement_runs().items() if "/* prepared test */" in text)


@pytest.mark.parametrize("enabled", [True, False])
def test_the_statement_answers_the_same_prepared_or_not(settings, enabled):
    settings.DATABASE_PREPARED_STATEMENTS = enabled

    rows = [fetch_one_prepared(connection, STATEMENT, [number, "x"]) for number in (1, 2, None)]

    assert rows == [(2, "x"), (3, "x"), (None, "x")]
    prepared = enabled and connection.vendor == "postgresql"
    assert _prepared_runs() == (3 if prepared else 0)


def test_a_prepared_run_is_logged_with_its_parameters(settings):
    settings.DATABASE_PREPARED_STATEMENTS = True
    with CaptureQueriesContext(connection) as queries:
        fetch_one_prepared(connection, STATEMENT, [41, "it's"])

    [query] = queries.captured_queries
    assert "41" in query["sql"]
    assert "it''s" in query["sql"]  # quoted as a literal, as Django logs client-bound queries


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif("connection.vendor != 'postgresql'", reason="server-side prepared statements")
def test_a_new_connection_prepares_the_statement_again(settings):
    settings.DATABASE_PREPARED_STATEMENTS = True
    assert fetch_one_prepared(connection, STATEMENT, [1, "a"]) == (2, "a")

    connection.close()

    assert fetch_one_prepared(connection, STATEMENT, [2, "b"]) == (3, "b")
    assert _prepared_runs() == 1  # the new connection's own prepared statement


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif("connection.vendor != 'postgresql'", reason="server-side prepared statements")
def test_a_failing_prepared_statement_raises_djangos_error_and_the_connection_goes_on(settings):
    settings.DATABASE_PREPARED_STATEMENTS = True
    with connection.cursor() as cursor:
        cursor.execute("CREATE TEMPORARY TABLE IF NOT EXISTS prepared_test_row (id int PRIMARY KEY)")
        cursor.execute("TRUNCATE prepared_test_row")
    insert = "INSERT INTO prepared_test_row (id) VALUES (CAST(%s AS int)) RETURNING id"
    assert fetch_one_prepared(connection, insert, [1]) == (1,)

    with pytest.raises(IntegrityError), transaction.atomic():
        fetch_one_prepared(connection, insert, [1])

    assert fetch_one_prepared(connection, insert, [2]) == (2,)


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif("connection.vendor != 'postgresql'", reason="server-side prepared statements")
def test_a_request_whose_first_query_is_prepared_replaces_a_terminated_connection(
    settings, other_postgresql_connection
):
    settings.DATABASE_PREPARED_STATEMENTS = True
    assert fetch_one_prepared(connection, STATEMENT, [1, "a"]) == (2, "a")
    pid = fetch_one_prepared(connection, "SELECT pg_backend_pid()", [])[0]
    # given the server ended this connection's session (a restart, a failover) between two requests
    other_postgresql_connection.execute("SELECT pg_terminate_backend(%s)", [pid])
    time.sleep(0.2)  # the termination reaches the socket
    connection.close_if_unusable_or_obsolete()  # a request starts: its health check is due again

    # when the request's first statement is a prepared one, then it runs on a new connection
    assert fetch_one_prepared(connection, STATEMENT, [2, "b"]) == (3, "b")
    assert fetch_one_prepared(connection, "SELECT pg_backend_pid()", [])[0] != pid


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif("connection.vendor != 'postgresql'", reason="server-side prepared statements")
def test_a_statement_prepared_before_a_migration_changed_its_columns_is_prepared_again(
    settings, other_postgresql_connection
):
    settings.DATABASE_PREPARED_STATEMENTS = True
    other_postgresql_connection.execute("CREATE TABLE prepared_test_plan (id int PRIMARY KEY, name varchar(10))")
    try:
        other_postgresql_connection.execute("INSERT INTO prepared_test_plan VALUES (1, 'a')")
        select = "SELECT id, name FROM prepared_test_plan WHERE id = CAST(%s AS int)"
        assert fetch_one_prepared(connection, select, [1]) == (1, "a")
        # given another process's migration changed a column the prepared statement returns (a rolling deploy)
        other_postgresql_connection.execute("ALTER TABLE prepared_test_plan ALTER COLUMN name TYPE varchar(20)")

        # then the statement is prepared again, outside a transaction at once
        assert fetch_one_prepared(connection, select, [1]) == (1, "a")
        other_postgresql_connection.execute("ALTER TABLE prepared_test_plan ALTER COLUMN name TYPE varchar(30)")
        # and inside one, the transaction fails and its rollback lets the next run prepare it again
        with pytest.raises(NotSupportedError), transaction.atomic():
            fetch_one_prepared(connection, select, [1])
        assert fetch_one_prepared(connection, select, [1]) == (1, "a")
    finally:
        connection.close()  # its prepared statement would hold nothing, but leave no session on the table
        other_postgresql_connection.execute("DROP TABLE prepared_test_plan")


def _identities_with_user():
    return (
        ExternalIdentity.objects.select_related("user", "organization")
        .annotate(user_email_upper=Upper("user__email"))
        .filter(issuer=ISSUER, subject=SUBJECT_MARK)[:1]
    )


def test_a_compiled_query_gives_what_the_orm_gives_for_each_value(make_user, organization):
    identities = [
        ExternalIdentity.objects.create(
            issuer=ISSUER, subject=f"user_{n}", user=make_user(email=f"c{n}@example.test"), organization=org
        )
        for n, org in ((1, organization), (2, None))
    ]

    compiled = []
    for identity in [*identities, None]:
        subject = identity.subject if identity else "user_unknown"
        found = compiled_first(connection, "test_identity", _identities_with_user, {SUBJECT_MARK: subject})
        compiled.append(connections["default"].__dict__["_compiled_queries"]["test_identity"])
        expected = ExternalIdentity.objects.filter(issuer=ISSUER, subject=subject)
        expected = expected.select_related("user", "organization").annotate(user_email_upper=Upper("user__email"))
        expected = expected.first()
        if identity is None:
            assert found is None
            assert expected is None
            continue
        assert (found.pk, found.user, found.organization) == (expected.pk, expected.user, expected.organization)
        assert found.user.email == identity.user.email
        assert found.created_at == expected.created_at  # the backend's converters applied
        assert found.user_email_upper == identity.user.email.upper()
        assert not found._state.adding
        assert found._state.db == connection.alias
    assert compiled[0] is compiled[1] is compiled[2]  # compiled once for the connection, run three times


def test_marks_and_queries_that_cannot_be_compiled_are_refused():
    def unmarked():
        return ExternalIdentity.objects.filter(subject="user_1")[:1]

    def unsliced():
        return ExternalIdentity.objects.filter(subject=SUBJECT_MARK)

    with pytest.raises(ValueError, match="mark"):
        compiled_first(connection, "test_unmarked", unmarked, {SUBJECT_MARK: "user_1"})
    with pytest.raises(ValueError, match="marks start with"):
        compiled_first(connection, "test_plain_mark", unmarked, {"user_1": "user_2"})
    with pytest.raises(ValueError, match="one row"):
        compiled_first(connection, "test_unsliced", unsliced, {SUBJECT_MARK: "user_1"})
    assert compiled_first(connection, "test_identity", _identities_with_user, {SUBJECT_MARK: "user_1"}) is None
    with pytest.raises(ValueError, match="run with the marks"):
        compiled_first(connection, "test_identity", _identities_with_user, {})


@pytest.mark.django_db(transaction=True)
def test_each_thread_compiles_on_its_own_connection():
    compiled_first(connection, "test_identity", _identities_with_user, {SUBJECT_MARK: "user_1"})
    mine = connections["default"].__dict__["_compiled_queries"]["test_identity"]
    theirs = []

    def other_thread():
        try:
            compiled_first(connection, "test_identity", _identities_with_user, {SUBJECT_MARK: "user_1"})
            theirs.append(connections["default"].__dict__["_compiled_queries"]["test_identity"])
        finally:
            connections.close_all()

    thread = threading.Thread(target=other_thread)
    thread.start()
    thread.join()

    [other] = theirs
    assert other is not mine
    assert other.compiler.connection is not mine.compiler.connection
