"""Database helpers the ORM's public API lacks, for the paths that run on every ticket or widget request."""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, NotSupportedError, connections
from django.db.models import AutoField, Model, QuerySet
from django.db.models.constants import OnConflict
from django.db.models.query import get_related_populators


def insert_new(objs: Sequence[Model], *, key: str, using: str = DEFAULT_DB_ALIAS) -> list[Model]:
    """Insert the objects, skipping any whose unique `key` (a field's attname) already has a row.

    One `INSERT ... ON CONFLICT DO NOTHING RETURNING` statement (PostgreSQL, SQLite >= 3.35): a row that
    exists, even one a concurrent writer has just committed, is skipped rather than raising, so no
    savepoint is needed around it, and the inserted rows come back with their primary key set without a
    second SELECT. `bulk_create(ignore_conflicts=True)` does the same insert but returns no keys; this
    uses the manager's `_insert`, the method `Model.save` and `bulk_create` are built on.
    Returns the objects actually inserted.
    """
    if not objs:
        return []
    model = type(objs[0])
    opts = model._meta
    # As bulk_create: the database numbers an auto-incremented key; any other key is sent.
    fields = [field for field in opts.concrete_fields if not field.generated and not isinstance(field, AutoField)]
    key_field = opts.get_field(key) if key != opts.pk.attname else opts.pk
    rows = model._base_manager.using(using)._insert(
        objs,
        fields=fields,
        returning_fields=[opts.pk, key_field],
        using=using,
        on_conflict=OnConflict.IGNORE,
    )
    # One object, skipped: the backend hands back [None] (no row to fetch).
    inserted = {row[1]: row[0] for row in rows or () if row is not None}
    created = []
    for obj in objs:
        value = getattr(obj, key_field.attname)
        if value in inserted:
            obj.pk = inserted.pop(value)
            obj._state.adding = False
            obj._state.db = using
            created.append(obj)
    return created


_NEVER_BY_REPETITION = 2**31 - 1


@functools.cache
def _prepared_cursor_class():
    from django.db.backends.postgresql.base import ServerBindingCursor

    class PreparedCursor(ServerBindingCursor):
        def execute(self, query, params=None, **kwargs):
            return super().execute(query, params, prepare=True)

    return PreparedCursor


def fetch_one_prepared(db, sql: str, params: Sequence) -> tuple | None:
    """Run one statement and return its first row; on PostgreSQL (with DATABASE_PREPARED_STATEMENTS) the server
    parses and plans it once per connection.

    The project's connections bind parameters on the client and never prepare (Django's default, kept so
    transaction-pooling proxies work). A few statements run on every request or write of a hot path (the audit
    insert, the widget's identity lookup, its intake insert), and planning is a large share of their cost
    (the identity lookup: 0.18 ms planning, 0.04 ms running), so they get their own prepared cursor, kept for the
    life of the connection. Parameters are then typed on the server: a value whose column type cannot be
    inferred from the statement needs a cast in it (`%s::jsonb`). psycopg drops the connection's prepared
    statements on a rollback (they are prepared again on next use).

    As Django's own cursors do, the connection's health check runs first: this may be a request's first query.
    When queries are logged or wrapped (tests, DEBUG, metrics) it goes through Django's cursor wrapper so it
    is counted like any other query; otherwise only the wrapper's checks and error translation remain.
    """
    # The thread's own connection: given the `connection` proxy, each of the dozen attribute reads below would
    # look it up again (about 3 us each).
    db = connections[db.alias]
    if db.vendor != "postgresql" or not settings.DATABASE_PREPARED_STATEMENTS:
        with db.cursor() as cursor:
            cursor.execute(sql, params)
            return cursor.fetchone()
    try:
        return _fetch_one_prepared(db, sql, params)
    except NotSupportedError as error:
        # A migration changed a column this statement returns since it was prepared (a rolling deploy): the
        # server refuses the old plan until the statement is prepared again. Outside a transaction that is a new
        # connection and one more try; inside one, its rollback drops the prepared statements.
        if "cached plan must not change result type" not in str(error) or db.in_atomic_block:
            raise
        db.close()
        return _fetch_one_prepared(db, sql, params)


def _fetch_one_prepared(db, sql: str, params: Sequence) -> tuple | None:
    db.close_if_health_check_failed()
    db.ensure_connection()
    cursor = getattr(db, "_prepared_cursor", None)
    if cursor is None or cursor.connection is not db.connection or cursor.closed:
        # Django opens connections with prepare_threshold=None, which makes psycopg ignore even an explicit
        # prepare=True. A threshold no statement reaches by repetition lets only this cursor prepare:
        # Django's own cursors bind on the client and never prepare.
        if db.connection.prepare_threshold is None:
            db.connection.prepare_threshold = _NEVER_BY_REPETITION
        cursor = db._prepared_cursor = _prepared_cursor_class()(db.connection)
    if db.queries_logged or db.execute_wrappers:
        wrapped = db.make_debug_cursor(cursor) if db.queries_logged else db.make_cursor(cursor)
        wrapped.execute(sql, params)
        return wrapped.fetchone()
    db.validate_no_broken_transaction()
    with db.wrap_database_errors:
        cursor.execute(sql, params)
        return cursor.fetchone()


@dataclass(frozen=True)
class CompiledQuery:
    """A queryset's SQL and what turns its rows into model instances, as the ORM made them once."""

    model: type[Model]
    marks: frozenset[str]
    sql: str
    params: tuple
    compiler: object
    converters: dict
    init_list: list[str]
    fields: slice
    populators: list
    annotations: dict[str, int]


MARK_PREFIX = "\x00"  # no text stored in PostgreSQL can hold it, so no real value is taken for a mark


def _compile(queryset: QuerySet, marks: frozenset[str]) -> CompiledQuery:
    if queryset.query.high_mark != 1 or queryset._prefetch_related_lookups:
        raise ValueError("a compiled query is sliced to one row ([:1]) and prefetches nothing")
    if any(not mark.startswith(MARK_PREFIX) for mark in marks):
        raise ValueError(f"marks start with {MARK_PREFIX!r}: {sorted(marks)!r}")
    compiler = queryset.query.get_compiler(using=queryset.db)
    sql, params = compiler.as_sql()  # also fills compiler.select, klass_info and annotation_col_map
    strings = [value for value in params if isinstance(value, str)]
    if any(strings.count(mark) != 1 for mark in marks):
        raise ValueError(f"each mark must be one parameter of the query: {sorted(marks)!r} in {params!r}")
    klass_info = compiler.klass_info
    first, last = klass_info["select_fields"][0], klass_info["select_fields"][-1] + 1
    return CompiledQuery(
        model=queryset.model,
        marks=marks,
        sql=sql,
        params=tuple(params),
        compiler=compiler,
        converters=compiler.get_converters([column[0] for column in compiler.select[: compiler.col_count]]),
        init_list=[column[0].target.attname for column in compiler.select[first:last]],
        fields=slice(first, last),
        populators=get_related_populators(klass_info, compiler.select, queryset.db),
        annotations=dict(compiler.annotation_col_map),
    )


def compiled_first(db, name: str, build: Callable[[], QuerySet], values: dict[str, str] | None = None) -> Model | None:
    """The first row of the queryset `build()` returns, as `.first()` would give it (its `select_related` objects
    and annotations set), from SQL the ORM compiled once per connection (kept on it under `name`) and run as a
    prepared statement (`fetch_one_prepared`).

    For queries every request or every filed ticket runs: building and compiling one with the ORM cost several
    times what running it does (the widget's identity lookup: about 2.5 ms of CPU against 0.4 ms; the filer's
    claim about a third of a filing). Rows still become model instances the ORM's way (its converters,
    `from_db`, the populators of `select_related`), as `ModelIterable` does. `build` must slice the queryset to
    one row (ordered: `.first()` would order by the primary key) and prefetch nothing; it may use marks (strings
    starting with MARK_PREFIX) for the values that change between runs: each is a key of `values`, replaced by
    its value, and a parameter of the query once. A query built within a transaction (`select_for_update`) must
    be run within one.
    """
    values = values or {}
    db = connections[db.alias]  # the thread's own connection, also when given the `connection` proxy
    cache = db.__dict__.setdefault("_compiled_queries", {})
    query = cache.get(name)
    if query is None:
        query = cache[name] = _compile(build().using(db.alias), frozenset(values))
    if query.marks != values.keys():
        raise ValueError(f"{name} is run with the marks {sorted(query.marks)!r}, not {sorted(values)!r}")
    params = [values.get(value, value) if isinstance(value, str) else value for value in query.params]
    row = fetch_one_prepared(db, query.sql, params)
    if row is None:
        return None
    if query.converters:
        row = next(iter(query.compiler.apply_converters([row], query.converters)))
    obj = query.model.from_db(db.alias, query.init_list, row[query.fields])
    for populator in query.populators:
        populator.populate(row, obj)
    for annotation, position in query.annotations.items():
        setattr(obj, annotation, row[position])
    return obj
