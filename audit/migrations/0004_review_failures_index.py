# Review page: "failures only" (success = false) newest first, without scanning the successes.
# A partial index in raw SQL (same statement on PostgreSQL and SQLite); the model state is unchanged.
from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("audit", "0003_personal_data_no_constraint")]

    operations = [
        migrations.RunSQL(
            "CREATE INDEX IF NOT EXISTS audit_event_failures_idx ON audit_auditevent (id DESC) WHERE success = false",
            reverse_sql="DROP INDEX IF EXISTS audit_event_failures_idx",
        ),
    ]
