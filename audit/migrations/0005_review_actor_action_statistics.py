# Review page: who did what is strongly correlated (an exporter exports); without multi-column statistics
# PostgreSQL misjudges "actor AND action" and picks a bitmap scan over the (actor, id) index. PostgreSQL only.
from django.db import migrations

CREATE = (
    "CREATE STATISTICS IF NOT EXISTS audit_event_actor_action_stats (dependencies, mcv) "
    "ON actor_id, action FROM audit_auditevent"
)


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(CREATE)


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("DROP STATISTICS IF EXISTS audit_event_actor_action_stats")


class Migration(migrations.Migration):
    dependencies = [("audit", "0004_review_failures_index")]

    operations = [migrations.RunPython(forwards, backwards)]
