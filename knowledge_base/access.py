"""Who may read what: staff roles read internal articles; reps draft, leads and admins review and publish."""

from __future__ import annotations

from tourbrain_support.roles import Role, has_role

# Every staff role whose role matrix grants knowledge_base "view" reads internal articles.
INTERNAL_READER_ROLES = (
    Role.SUPPORT_REP,
    Role.SUPPORT_LEAD,
    Role.ENGINEER,
    Role.BILLING_ADMIN,
    Role.PRODUCT_MANAGER,
    Role.ADMIN,
)
EDITOR_ROLES = (Role.SUPPORT_REP, Role.SUPPORT_LEAD, Role.ADMIN)
PUBLISHER_ROLES = (Role.SUPPORT_LEAD, Role.ADMIN)


def can_read_internal(user) -> bool:
    return user is not None and has_role(user, *INTERNAL_READER_ROLES)


def can_edit(user) -> bool:
    return user is not None and has_role(user, *EDITOR_ROLES)


def can_publish(user) -> bool:
    return user is not None and has_role(user, *PUBLISHER_ROLES)
