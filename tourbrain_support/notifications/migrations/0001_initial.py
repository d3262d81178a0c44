# The outbox moved here from the tickets app: this takes over its model state without touching the table
# (tickets_outboxmessage keeps its rows, indexes and sequence). Its content type is renamed, so permissions
# already given on it (a notification operator's) keep working.

import django.utils.timezone
from django.db import migrations, models


def content_type_follows(apps, schema_editor):
    ContentType = apps.get_model("contenttypes", "ContentType")
    db = schema_editor.connection.alias
    if not ContentType.objects.using(db).filter(app_label="notifications", model="outboxmessage").exists():
        ContentType.objects.using(db).filter(app_label="tickets", model="outboxmessage").update(
            app_label="notifications"
        )


def content_type_returns(apps, schema_editor):
    ContentType = apps.get_model("contenttypes", "ContentType")
    db = schema_editor.connection.alias
    if not ContentType.objects.using(db).filter(app_label="tickets", model="outboxmessage").exists():
        ContentType.objects.using(db).filter(app_label="notifications", model="outboxmessage").update(
            app_label="tickets"
        )


class Migration(migrations.Migration):
    initial = True

    dependencies = [
        ("contenttypes", "0002_remove_content_type_name"),
        # The table as the tickets app left it (created in 0001, attachments added in 0007).
        ("tickets", "0009_email_threading_quarantine"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name="OutboxMessage",
                    fields=[
                        ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                        ("kind", models.CharField(help_text="What happened, e.g. ticket.critical, sla.breach.", max_length=64)),
                        ("channel", models.CharField(choices=[("email", "Email"), ("slack", "Slack")], max_length=16)),
                        ("recipient", models.CharField(max_length=254)),
                        ("subject", models.CharField(blank=True, max_length=255)),
                        ("body", models.TextField()),
                        ("html_body", models.TextField(blank=True)),
                        ("attachments", models.JSONField(blank=True, default=list)),
                        ("payload", models.JSONField(blank=True, default=dict)),
                        ("idempotency_key", models.CharField(max_length=200, unique=True)),
                        (
                            "status",
                            models.CharField(
                                choices=[("pending", "Pending"), ("sending", "Sending"), ("sent", "Sent"), ("failed", "Failed")],
                                default="pending",
                                max_length=16,
                            ),
                        ),
                        ("attempts", models.PositiveIntegerField(default=0)),
                        ("next_attempt_at", models.DateTimeField(default=django.utils.timezone.now)),
                        ("last_error", models.TextField(blank=True)),
                        ("provider_response", models.TextField(blank=True)),
                        ("sent_at", models.DateTimeField(blank=True, null=True)),
                        ("created_at", models.DateTimeField(db_index=True, default=django.utils.timezone.now)),
                        ("updated_at", models.DateTimeField(auto_now=True)),
                    ],
                    options={
                        "db_table": "tickets_outboxmessage",
                        "ordering": ["-created_at", "-id"],
                        "indexes": [
                            models.Index(
                                condition=models.Q(("status__in", ["pending", "sending"])),
                                fields=["next_attempt_at"],
                                name="outbox_due_idx",
                            ),
                            models.Index(fields=["status", "-created_at"], name="outbox_status_created_idx"),
                        ],
                    },
                ),
            ],
            database_operations=[],
        ),
        migrations.RunPython(content_type_follows, content_type_returns),
    ]
