"""The one signal the core needs: role permissions are synced after migrate (and after a test flush)."""

from django.apps import apps
from django.db.models.signals import post_migrate


def _last_migrated_app():
    # emit_post_migrate_signal skips apps without a models module; the last one it sends for is the cue.
    return [config for config in apps.get_app_configs() if config.models_module is not None][-1]


def _sync_roles(sender, using="default", **kwargs):
    # post_migrate fires once per app; permissions of every app exist only after the last one.
    if sender is not _last_migrated_app():
        return
    from tourbrain_support.roles import sync_role_permissions

    sync_role_permissions(using=using)


def register_signal_handlers() -> None:
    post_migrate.connect(_sync_roles, dispatch_uid="tourbrain_support.sync_roles")
