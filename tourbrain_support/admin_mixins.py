"""Admin building blocks shared by the apps."""


class ReadOnlyAdminMixin:
    """Nothing can be added, changed or deleted from this admin page (or inline); it only shows rows."""

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
