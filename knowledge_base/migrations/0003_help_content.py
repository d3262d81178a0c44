"""The seven docs pages and six video tutorials (`knowledge_base.help_content`), added when missing."""

from django.db import migrations


def load(apps, schema_editor):
    from knowledge_base.help_content import load_help_content

    load_help_content(apps.get_model("knowledge_base", "Article"), apps.get_model("knowledge_base", "Category"))


class Migration(migrations.Migration):
    dependencies = [("knowledge_base", "0002_search_trigger_and_indexes")]

    operations = [migrations.RunPython(load, migrations.RunPython.noop)]
