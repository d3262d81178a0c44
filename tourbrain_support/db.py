"""Database helpers the ORM's public API lacks, for the write paths that run on every ticket."""

from __future__ import annotations

from collections.abc import Sequence

from django.db import DEFAULT_DB_ALIAS
from django.db.models import AutoField, Model
from django.db.models.constants import OnConflict


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
