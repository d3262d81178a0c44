"""Signal handlers that turn framework events into audit events (the only place the audit app uses signals).

Login, failed login and logout come from django.contrib.auth; Django admin actions come from LogEntry
rows; the system log gets a deployment row after migrations. Each handler only calls a service.
"""

from __future__ import annotations

import logging

from django.contrib.admin.models import ADDITION, CHANGE, DELETION, LogEntry
from django.contrib.auth import get_user_model
from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
from django.db.models.signals import post_migrate, post_save

logger = logging.getLogger(__name__)

ADMIN_ACTIONS = {ADDITION: "create", CHANGE: "update", DELETION: "delete"}


def _on_login(sender, request, user, **kwargs):
    from audit.services import audit_record

    audit_record(actor=user, action="login", resource_type="user", resource_id=user.pk, request=request)


def _on_logout(sender, request, user, **kwargs):
    from audit.services import audit_record

    if user is not None:
        audit_record(actor=user, action="logout", resource_type="user", resource_id=user.pk, request=request)


def _on_login_failed(sender, credentials, request=None, **kwargs):
    from audit.services import audit_record

    login_name = str(credentials.get("username") or credentials.get("email") or "")
    known = get_user_model().objects.filter(email__iexact=login_name).first() if login_name else None
    audit_record(
        actor=None,
        action="login_failed",
        resource_type="user",
        resource_id=known.pk if known else None,
        success=False,
        # The attempted login name is personal data: it goes to the personal store, not the sealed row.
        error_message=f"failed login for {login_name}" if login_name else "failed login",
        request=request,
    )


def _on_admin_log_entry(sender, instance: LogEntry, created: bool, **kwargs):
    from audit.services import audit_record

    if not created:
        return
    audit_record(
        actor=instance.user,
        action=ADMIN_ACTIONS.get(instance.action_flag, "update"),
        resource_type=f"admin:{instance.content_type.app_label}.{instance.content_type.model}"
        if instance.content_type_id
        else "admin",
        resource_id=instance.object_id or "",
        changes={"admin_change_message": instance.get_change_message()} if instance.change_message else {},
    )


def _after_migrate(sender, app_config=None, using="default", plan=None, **kwargs):
    from django.apps import apps
    from django.conf import settings

    from audit.immutability import install_protection
    from audit.services import deployment_record

    # Only once per migrate run: after the last installed app has had its post_migrate.
    if app_config is None or app_config.label != list(apps.get_app_configs())[-1].label:
        return
    install_protection(using)  # table rebuilds (SQLite ALTERs) drop triggers; put them back
    applied = [f"{migration.app_label}.{migration.name}" for migration, backwards in (plan or []) if not backwards]
    if not applied:  # a flush, or a migrate with nothing to apply
        return
    deployment_record(
        version=getattr(settings, "SENTRY_RELEASE", "") or "unknown",
        deployed_by="migrate",
        migration_status="complete",
        configuration_changes=[f"migration {name}" for name in applied[:200]],
        source="migrate",
    )


def _audit_bulk_admin_log_entries() -> None:
    """The admin logs a multi-object action (e.g. "delete selected") with bulk_create, which sends no
    post_save; audit those entries right after they are written."""
    from django.contrib.admin.models import LogEntryManager

    original = LogEntryManager.log_actions
    if getattr(original, "audited", False):
        return

    def log_actions(self, *args, **kwargs):
        result = original(self, *args, **kwargs)
        if isinstance(result, list) and len(result) > 1:
            for entry in result:
                _on_admin_log_entry(LogEntry, entry, created=True)
        return result

    log_actions.audited = True
    LogEntryManager.log_actions = log_actions


def register_signal_handlers() -> None:
    user_logged_in.connect(_on_login, dispatch_uid="audit.login")
    user_logged_out.connect(_on_logout, dispatch_uid="audit.logout")
    user_login_failed.connect(_on_login_failed, dispatch_uid="audit.login_failed")
    post_save.connect(_on_admin_log_entry, sender=LogEntry, dispatch_uid="audit.admin_log_entry")
    post_migrate.connect(_after_migrate, dispatch_uid="audit.after_migrate")
    _audit_bulk_admin_log_entries()
