"""On PostgreSQL, one row per stored event uuid in kpis_event_uuid (uuid primary key): the partitioned events
table can only be unique on (uuid, timestamp), so an event resent with another timestamp is found here. Filled
from the stored events; a BRIN index on `timestamp` serves the retention's deletes. SQLite keeps its plain events
table, unique on uuid (nothing to do)."""

from django.db import migrations

CREATE = """
CREATE TABLE IF NOT EXISTS kpis_event_uuid (uuid uuid PRIMARY KEY, "timestamp" timestamp with time zone NOT NULL);
CREATE INDEX IF NOT EXISTS kpis_event_uuid_timestamp_brin ON kpis_event_uuid USING brin ("timestamp");
INSERT INTO kpis_event_uuid (uuid, "timestamp")
    SELECT DISTINCT ON (uuid) uuid, "timestamp" FROM kpis_productevent ORDER BY uuid, "timestamp"
    ON CONFLICT DO NOTHING;
"""


def create(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(CREATE)


def drop(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("DROP TABLE IF EXISTS kpis_event_uuid")


class Migration(migrations.Migration):
    dependencies = [("kpis", "0006_marketing_spend")]

    operations = [migrations.RunPython(create, drop, elidable=False)]
