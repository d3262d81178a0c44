"""Monthly partitions of the events table on PostgreSQL (declarative range partitioning on `timestamp`, set up by
migration 0003): a daily beat job makes the partitions of the coming months and drops the months the retention
has passed. Rows that landed in the DEFAULT partition (no month partition yet) move into the month's partition
when it is made. On SQLite the table is plain and expired events are deleted.
"""

from datetime import UTC, date, datetime, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from kpis.models import ProductEvent

TABLE = ProductEvent._meta.db_table
DEFAULT_PARTITION = f"{TABLE}_default"
PREFIX = f"{TABLE}_p"


def month_start(day: date, add: int = 0) -> date:
    index = day.year * 12 + day.month - 1 + add
    return date(index // 12, index % 12 + 1, 1)


def _bound(month: date) -> str:
    # A literal made from a date, never from input.
    return f"'{month.isoformat()}T00:00:00+00:00'"


def events_partitioned() -> bool:
    if connection.vendor != "postgresql":
        return False
    with connection.cursor() as cursor:
        cursor.execute("SELECT relkind FROM pg_class WHERE oid = to_regclass(%s)", [TABLE])
        row = cursor.fetchone()
    return bool(row) and row[0] == "p"


def event_partitions() -> list[date]:
    """The months that have a partition, oldest first."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "WHERE i.inhparent = %s::regclass",
            [TABLE],
        )
        names = [row[0] for row in cursor.fetchall()]
    return sorted(date(int(name[-6:-2]), int(name[-2:]), 1) for name in names if name.startswith(PREFIX))


@transaction.atomic
def partition_create(month: date) -> None:
    """Make the partition of `month`, moving into it the rows the DEFAULT partition holds for that month."""
    name = f"{PREFIX}{month:%Y%m}"
    lower, upper = _bound(month), _bound(month_start(month, 1))
    in_range = f'"timestamp" >= {lower} AND "timestamp" < {upper}'
    with connection.cursor() as cursor:
        # Writers to the default partition wait while its rows of the month move.
        cursor.execute(f"LOCK TABLE {DEFAULT_PARTITION} IN SHARE ROW EXCLUSIVE MODE")
        cursor.execute(f"SELECT EXISTS (SELECT 1 FROM {DEFAULT_PARTITION} WHERE {in_range})")  # noqa: S608
        if not cursor.fetchone()[0]:
            cursor.execute(f"CREATE TABLE {name} PARTITION OF {TABLE} FOR VALUES FROM ({lower}) TO ({upper})")
            return
        cursor.execute(f"CREATE TABLE {name} (LIKE {TABLE} INCLUDING DEFAULTS)")
        cursor.execute(f"INSERT INTO {name} SELECT * FROM {DEFAULT_PARTITION} WHERE {in_range}")  # noqa: S608
        cursor.execute(f"DELETE FROM {DEFAULT_PARTITION} WHERE {in_range}")  # noqa: S608
        cursor.execute(f"ALTER TABLE {TABLE} ATTACH PARTITION {name} FOR VALUES FROM ({lower}) TO ({upper})")


def events_partitions_maintain(*, now: datetime | None = None) -> dict:
    """Partitions for every month from the retention's start to KPI_EVENT_PARTITIONS_AHEAD months ahead; expired
    months dropped (on SQLite: expired rows deleted). Idempotent; returns what it did."""
    now = now or timezone.now()
    cutoff = now - timedelta(days=settings.KPI_EVENT_RETENTION_DAYS)
    if not events_partitioned():
        deleted, _ = ProductEvent.objects.filter(timestamp__lt=cutoff).delete()
        return {"created": [], "dropped": [], "deleted": deleted}
    existing = set(event_partitions())
    created, dropped = [], []
    month = month_start(cutoff.date())
    last = month_start(now.date(), settings.KPI_EVENT_PARTITIONS_AHEAD)
    while month <= last:
        if month not in existing:
            partition_create(month)
            created.append(month)
        month = month_start(month, 1)
    first_kept = datetime.combine(month_start(cutoff.date()), datetime.min.time(), tzinfo=UTC)
    with transaction.atomic(), connection.cursor() as cursor:
        for month in sorted(existing):
            # A month goes once all of it is past the retention.
            if datetime.combine(month_start(month, 1), datetime.min.time(), tzinfo=UTC) <= first_kept:
                cursor.execute(f"DROP TABLE {PREFIX}{month:%Y%m}")
                dropped.append(month)
        cursor.execute(f'DELETE FROM {DEFAULT_PARTITION} WHERE "timestamp" < %s', [cutoff])  # noqa: S608
        deleted = cursor.rowcount
        # The expired events' uuids (a BRIN index on timestamp): a resend of one is refused as too old anyway.
        cursor.execute('DELETE FROM kpis_event_uuid WHERE "timestamp" < %s', [first_kept])
    return {"created": created, "dropped": dropped, "deleted": deleted}
