"""The events table: monthly range partitions on PostgreSQL (made ahead, expired ones dropped, rows of the
DEFAULT partition moved into their month), a plain table with row deletion on SQLite; the migration reverses."""

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from django.core.management import call_command
from django.db import connection
from django.utils import timezone

from kpis.models import ProductEvent
from kpis.partitions import event_partitions, events_partitioned, events_partitions_maintain, month_start

pytestmark = pytest.mark.django_db

postgres_only = pytest.mark.skipif(connection.vendor != "postgresql", reason="partitions are PostgreSQL's")


def _event(at: datetime) -> ProductEvent:
    return ProductEvent.objects.create(
        uuid=uuid.uuid4(), name="pageView", distinct_id="u1", timestamp=at, received_at=timezone.now()
    )


def _partition_of(event: ProductEvent) -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT tableoid::regclass::text FROM kpis_productevent WHERE id = %s", [event.id])
        return cursor.fetchone()[0]


@postgres_only
def test_events_land_in_their_month_partition_from_the_retention_start_to_three_months_ahead(settings):
    assert events_partitioned()
    today = timezone.now().date()
    months = event_partitions()
    assert months[0] <= month_start(today - timedelta(days=settings.KPI_EVENT_RETENTION_DAYS))
    assert months[-1] == month_start(today, 3)
    assert months == sorted(set(months))
    event = _event(datetime(today.year, today.month, 1, 0, 0, tzinfo=UTC))
    assert _partition_of(event) == f"kpis_productevent_p{today:%Y%m}"


@postgres_only
def test_maintenance_makes_months_ahead_drops_expired_ones_and_moves_default_rows(settings):
    settings.KPI_EVENT_RETENTION_DAYS = 90
    now = timezone.now()
    later = now + timedelta(days=190)  # about six months on
    stray = _event(later + timedelta(days=20))  # no partition for that month yet: the DEFAULT one holds it
    assert _partition_of(stray) == "kpis_productevent_default"
    expired = _event(later - timedelta(days=200))
    kept = _event(later - timedelta(days=10))

    result = events_partitions_maintain(now=later)

    months = event_partitions()
    assert months[0] == month_start((later - timedelta(days=90)).date())
    assert months[-1] == month_start(later.date(), 3)
    assert result["created"]
    assert result["dropped"]
    moved_month = month_start((later + timedelta(days=20)).date())
    assert _partition_of(stray) == f"kpis_productevent_p{moved_month:%Y%m}"
    assert not ProductEvent.objects.filter(pk=expired.pk).exists()
    assert ProductEvent.objects.filter(pk__in=[kept.pk, stray.pk]).count() == 2
    # The expired event's uuid leaves the uuid table (kpis 0007) with it; the kept ones stay.
    with connection.cursor() as cursor:
        cursor.execute("INSERT INTO kpis_event_uuid SELECT uuid, timestamp FROM kpis_productevent")
        cursor.execute("INSERT INTO kpis_event_uuid VALUES (%s, %s)", [expired.uuid, expired.timestamp])
        events_partitions_maintain(now=later)
        cursor.execute("SELECT uuid FROM kpis_event_uuid")
        assert {row[0] for row in cursor.fetchall()} == {kept.uuid, stray.uuid}
    # A second run changes nothing.
    assert events_partitions_maintain(now=later) == {"created": [], "dropped": [], "deleted": 0}


@pytest.mark.skipif(connection.vendor == "postgresql", reason="SQLite keeps a plain table")
def test_sqlite_deletes_expired_events(settings):
    settings.KPI_EVENT_RETENTION_DAYS = 30
    now = timezone.now()
    _event(now - timedelta(days=31))
    kept = _event(now - timedelta(days=29))
    assert not events_partitioned()
    assert events_partitions_maintain(now=now)["deleted"] == 1
    assert list(ProductEvent.objects.values_list("pk", flat=True)) == [kept.pk]


@pytest.mark.django_db(transaction=True)
def test_the_partitioning_migration_reverses_with_the_rows():
    event = _event(timezone.now() - timedelta(days=3))
    call_command("migrate", "kpis", "0002", verbosity=0)
    try:
        assert not events_partitioned()
        assert ProductEvent.objects.get().uuid == event.uuid
    finally:
        call_command("migrate", "kpis", verbosity=0)
    assert events_partitioned() == (connection.vendor == "postgresql")
    assert ProductEvent.objects.get().uuid == event.uuid
    assert _event(timezone.now()).pk > event.pk  # the id sequence went on
