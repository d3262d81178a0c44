"""What PostgreSQL says about the test connection's server-side prepared statements."""

from django.db import connection


def prepared_statement_runs() -> dict[str, int]:
    """This connection's prepared statements: text -> times run (psycopg prepares a statement again for other
    parameter types, e.g. NULL for an int, so the runs of one text are added up)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT statement, sum(generic_plans + custom_plans) FROM pg_prepared_statements GROUP BY statement"
        )
        return dict(cursor.fetchall())
