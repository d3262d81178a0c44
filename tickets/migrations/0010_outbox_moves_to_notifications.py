# The outbox moved to the notification core (tourbrain_support.notifications): the model leaves this app's
# state only; its table, rows and indexes stay where they are (notifications 0001 takes them over).

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("tickets", "0009_email_threading_quarantine"),
        ("notifications", "0001_initial"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[migrations.DeleteModel(name="OutboxMessage")],
            database_operations=[],
        ),
    ]
