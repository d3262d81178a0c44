"""The hourly lockout summary is gone (the LoginLockouts alert rule repeats hourly instead): drop its beat entry,
which django-celery-beat keeps after it leaves CELERY_BEAT_SCHEDULE, so beat stops sending an unknown task."""

from django.db import migrations


def remove(apps, schema_editor):
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    PeriodicTask.objects.filter(task="audit.tasks.lockout_summaries").delete()


class Migration(migrations.Migration):
    dependencies = [
        ("audit", "0010_deployment_freeze"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(remove, migrations.RunPython.noop)]
