"""Admin building blocks shared by the apps."""

from django.contrib.admin.utils import quote
from django.core.exceptions import FieldDoesNotExist, ObjectDoesNotExist
from django.urls import NoReverseMatch, reverse
from django.utils.html import format_html


class PermittedRelatedLinksMixin:
    """Read-only relations link to the related admin page only when the viewer may open it.

    Django links every read-only foreign key to the related change page whatever the viewer's
    permissions, so a rep viewing a ticket was shown links to user pages that answer 403. Here such a
    field is shown by a display function that links only when the related admin lets this viewer see
    that object, and shows plain text otherwise.
    """

    def get_form(self, request, obj=None, change=False, **kwargs):
        if "fields" not in kwargs and obj is not None:
            kwargs["fields"] = self._fieldset_names(request, obj)
        return super().get_form(request, obj, change=change, **_without_displays(kwargs))

    def get_formset(self, request, obj=None, **kwargs):  # inlines
        if "fields" not in kwargs and obj is not None:
            kwargs["fields"] = self._fieldset_names(request, obj)
        return super().get_formset(request, obj, **_without_displays(kwargs))

    def _fieldset_names(self, request, obj) -> list:
        return _flatten(name for _, options in self.get_fieldsets(request, obj) for name in options["fields"])

    def get_readonly_fields(self, request, obj=None):
        names = super().get_readonly_fields(request, obj)
        swapped = self._with_permitted_links(request, obj, names, readonly=set(names))
        if obj is not None and not self.has_change_permission(request, obj):
            # A view-only page shows every relation as a display (get_fieldsets); Django's change page reads
            # them from the fieldsets, simple_history's version page from here, so list them here too.
            relations = [field.name for field in self.model._meta.fields if field.many_to_one or field.one_to_one]
            swapped += [self._related_display(request, name) for name in relations]
        return swapped

    def get_fieldsets(self, request, obj=None):
        fieldsets = super().get_fieldsets(request, obj)
        if obj is None:
            return fieldsets
        if self.has_change_permission(request, obj):
            readonly = set(self.get_readonly_fields(request, obj))
        else:  # a view-only page: Django shows every field read-only
            readonly = {name for _, options in fieldsets for name in _flatten(options["fields"])}
        return [
            (title, {**options, "fields": self._with_permitted_links(request, obj, options["fields"], readonly)})
            for title, options in fieldsets
        ]

    def _with_permitted_links(self, request, obj, names, readonly) -> list:
        if obj is None:
            return list(names)
        swapped = []
        for name in names:
            if isinstance(name, list | tuple):
                swapped.append(type(name)(self._with_permitted_links(request, obj, name, readonly)))
            else:
                swapped.append(self._related_display(request, name) if name in readonly else name)
        return swapped

    def _related_display(self, request, name):
        """The display function replacing foreign key `name` (the same object for the whole request)."""
        if not isinstance(name, str):
            return name
        try:
            field = self.model._meta.get_field(name)
        except FieldDoesNotExist:  # a method or an admin attribute: left as is
            return name
        if not (field.many_to_one or field.one_to_one) or field.related_model not in self.admin_site._registry:
            return name
        cache = request.__dict__.setdefault("_permitted_related_displays", {})
        key = (id(self), name)
        if key not in cache:
            cache[key] = self._make_related_display(request, field)
        return cache[key]

    def _make_related_display(self, request, field):
        related_admin = self.admin_site._registry[field.related_model]
        opts = field.related_model._meta

        def display(obj):
            try:
                related = getattr(obj, field.name)
            except ObjectDoesNotExist:
                related = None
            if related is None:
                return self.get_empty_value_display()
            if not related_admin.has_view_or_change_permission(request, related):
                return str(related)
            try:
                url = reverse(
                    f"admin:{opts.app_label}_{opts.model_name}_change",
                    args=[quote(related.pk)],
                    current_app=self.admin_site.name,
                )
            except NoReverseMatch:
                return str(related)
            return format_html('<a href="{}">{}</a>', url, related)

        display.short_description = field.verbose_name
        return display


def _without_displays(kwargs: dict) -> dict:
    # Display functions are not form fields; Django only drops those it finds among the read-only fields.
    if kwargs.get("fields") is not None:
        kwargs = {**kwargs, "fields": [name for name in kwargs["fields"] if not callable(name)]}
    return kwargs


def _flatten(fields) -> list:
    flat = []
    for name in fields:
        flat.extend(name if isinstance(name, list | tuple) else [name])
    return flat


class ReadOnlyAdminMixin(PermittedRelatedLinksMixin):
    """Nothing can be added, changed or deleted from this admin page (or inline); it only shows rows."""

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
