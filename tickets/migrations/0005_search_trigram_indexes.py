"""Trigram indexes for the queue's text search (`tickets.search`), PostgreSQL only.

Django's `icontains` compiles to `UPPER("col"::text) LIKE UPPER('%term%')` on PostgreSQL, so each index is
built on that same expression with `gin_trgm_ops`; a plain trigram index on the column would never be
used by those queries. The requester's email and name live on the user table and get the same kind of
index (the search looks the people up first).

Not in `Meta.indexes`: the same migrations run on SQLite, which has neither pg_trgm nor GIN, so this
migration acts only when the database is PostgreSQL and is a no-op elsewhere. The indexes are built
CONCURRENTLY (hence a non-atomic migration) so a deploy does not block ticket writes while a large table
is indexed. pg_trgm is a trusted extension: the database owner may create it.
"""

from django.conf import settings
from django.db import migrations

# (index name, model, column)
INDEXES = [
    ("ticket_subject_upper_trgm", "tickets.Ticket", "subject"),
    ("user_email_upper_trgm", settings.AUTH_USER_MODEL, "email"),
    ("user_name_upper_trgm", settings.AUTH_USER_MODEL, "name"),
]


def create_indexes(apps, schema_editor):
    connection = schema_editor.connection
    if connection.vendor != "postgresql":
        return
    quote = schema_editor.quote_name
    with connection.cursor() as cursor:
        cursor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
        tables = set()
        for name, model, column in INDEXES:
            table = apps.get_model(model)._meta.db_table
            tables.add(table)
            # An interrupted CONCURRENTLY build leaves an invalid index that IF NOT EXISTS would keep.
            cursor.execute("SELECT NOT indisvalid FROM pg_index WHERE indexrelid = to_regclass(%s)", [name])
            row = cursor.fetchone()
            if row and row[0]:
                cursor.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {quote(name)}")
            cursor.execute(
                f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {quote(name)} ON {quote(table)} "
                f"USING gin (UPPER({quote(column)}::text) gin_trgm_ops)"
            )
        # Statistics on the indexed expressions let the planner tell a rare term (bitmap scan of the
        # index) from a common one (walk the queue order and stop after a page); ANALYZE gathers them.
        for table in sorted(tables):
            cursor.execute(f"ANALYZE {quote(table)}")


def drop_indexes(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    with schema_editor.connection.cursor() as cursor:
        for name, *_ in INDEXES:
            cursor.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {schema_editor.quote_name(name)}")
    # The pg_trgm extension stays: other indexes or queries may use it.


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("tickets", "0004_queue_order_all_statuses"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [migrations.RunPython(create_indexes, drop_indexes, elidable=False)]
