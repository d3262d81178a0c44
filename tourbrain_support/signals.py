"""The one signal the core needs: role permissions are synced after migrate."""

from django.apps import apps
from django.db.models.signals import post_migrate


def _sync_roles(sender, **kwargs):
    # post_migrate fires once per app; permissions of every app exist only after the last one.
    if sender is not list(apps.get_app_configs())[-1]:
        return
    from tourbrain_support.roles import sync_role_permissions

    sync_role_permissions()


def register_signal_handlers() -> None:
    post_migrate.connect(_sync_roles, dispatch_uid="tourbrain_support.sync_roles")
