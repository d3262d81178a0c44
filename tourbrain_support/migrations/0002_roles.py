from django.db import migrations

ROLES = ["support_rep", "support_lead", "engineer", "billing_admin", "product_manager", "auditor", "admin"]


def create_role_groups(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    for name in ROLES:
        Group.objects.get_or_create(name=name)


def remove_role_groups(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name__in=ROLES).delete()


class Migration(migrations.Migration):
    # Permissions are attached after migrate by roles.sync_role_permissions (they only exist then).
    dependencies = [("tourbrain_support", "0001_initial"), ("auth", "0012_alter_user_first_name_max_length")]
    operations = [migrations.RunPython(create_role_groups, remove_role_groups)]
