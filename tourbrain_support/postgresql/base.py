"""Django's PostgreSQL backend, whose per-request health check sends a query only when it has to.

With `CONN_HEALTH_CHECKS` Django checks a reused connection at the start of each request with `SELECT 1`:
one more round trip for every request that reads the database (a third of the widget API's). Here a connection
checked a moment ago (`QUIET_CHECK_SECONDS`: under load, by the request before) is first looked at without
sending anything, as pgx's `CheckConn` does: with no transaction open and nothing to read on its socket, it is
used as it is. Django's `SELECT 1` decides as before when the server has sent something while the connection
sat idle (a closed socket after a restart or `pg_terminate_backend`, its termination notice, a notification),
and after a longer pause, when a peer that vanished without closing the socket (a failover, a dropped NAT
entry) would not show on it.

Logged queries (DEBUG, tests) show a server-side prepared statement (`tourbrain_support.db.fetch_one_prepared`)
with its parameters, where Django's backend has nothing to show for it.
"""

import select
import time

import psycopg
from django.db.backends.postgresql.base import DatabaseWrapper as PostgreSQLDatabaseWrapper
from django.db.backends.postgresql.operations import DatabaseOperations as PostgreSQLDatabaseOperations
from psycopg import pq

QUIET_CHECK_SECONDS = 5.0


class DatabaseOperations(PostgreSQLDatabaseOperations):
    def last_executed_query(self, cursor, sql, params):
        executed = super().last_executed_query(cursor, sql, params)
        if executed is None and params is not None:  # psycopg keeps no text of a prepared statement's run
            # Quoted on the client, on the cursor's own connection (Django's compose_sql would open a cursor,
            # running the health check in the middle of logging a query).
            try:
                return psycopg.ClientCursor(cursor.connection).mogrify(sql, params)
            except Exception:  # logging must not hide the query's own outcome
                return None
        return executed


class DatabaseWrapper(PostgreSQLDatabaseWrapper):
    ops_class = DatabaseOperations
    checked_at = float("-inf")  # when this connection was last found usable (monotonic)

    def is_usable(self) -> bool:
        connection = self.connection
        if connection is None or connection.closed:
            return False
        now = time.monotonic()
        if now - self.checked_at < QUIET_CHECK_SECONDS and self._quiet(connection):
            usable = True
        else:
            usable = super().is_usable()
        if usable:
            self.checked_at = now
        return usable

    @staticmethod
    def _quiet(connection) -> bool:
        """No transaction open and nothing to read: the server has not said anything since the last exchange."""
        if connection.info.transaction_status != pq.TransactionStatus.IDLE:
            return False
        try:
            poller = select.poll()  # not select(): it refuses descriptors above 1023
            poller.register(connection.fileno(), select.POLLIN)
            return not poller.poll(0)
        except (OSError, ValueError, psycopg.Error):
            return False
