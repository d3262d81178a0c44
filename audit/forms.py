"""Forms of the audit pages and the login form that explains a lockout."""

from datetime import timedelta
from math import ceil

from django import forms
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth.forms import AuthenticationForm
from django.core.validators import MaxLengthValidator
from django.utils import timezone

from audit.models import DataSubjectRequest

LOCKED_OUT_MESSAGE = (
    "Too many failed login attempts. For your security, logging in is paused; "
    "try again in %(minutes)s minute(s) or ask an administrator."
)


class LockoutMessageMixin:
    """When the account or IP is locked out, the form says so (and when to retry).

    The message is the same whether or not the email belongs to an account. An email longer than the
    field is a form error before any query (AuthenticationForm sets max_length after the field was built,
    so Django adds no length validator itself).
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        username = self.fields["username"]
        username.validators.append(MaxLengthValidator(username.max_length or 254))

    def get_invalid_login_error(self):
        until = getattr(self.request, "login_locked_until", None)
        if until is not None:
            minutes = max(1, ceil((until - timezone.now()).total_seconds() / 60))
            return forms.ValidationError(LOCKED_OUT_MESSAGE, code="locked_out", params={"minutes": minutes})
        return super().get_invalid_login_error()


class LockoutAuthenticationForm(LockoutMessageMixin, AuthenticationForm):
    """The portal's login form."""


class LockoutAdminAuthenticationForm(LockoutMessageMixin, AdminAuthenticationForm):
    """The admin site's login form (the same lockout applies there)."""


class EventFilterForm(forms.Form):
    """Filters of the review page; every field optional. The actor is a user id or an exact email."""

    actor = forms.CharField(required=False, max_length=254, help_text="User id or email")
    organization = forms.IntegerField(required=False, min_value=1, help_text="Organization id")
    action = forms.ChoiceField(required=False)
    resource_type = forms.CharField(required=False, max_length=40)
    resource_id = forms.CharField(required=False, max_length=64)
    success = forms.ChoiceField(required=False, choices=[("", "Any"), ("yes", "Succeeded"), ("no", "Failed")])
    since = forms.DateTimeField(required=False, widget=forms.DateTimeInput(attrs={"type": "datetime-local"}))
    until = forms.DateTimeField(required=False, widget=forms.DateTimeInput(attrs={"type": "datetime-local"}))

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        from audit.models import AuditEvent

        self.fields["action"].choices = [("", "Any"), *AuditEvent.Action.choices]

    def clean_actor(self):
        value = self.cleaned_data["actor"].strip()
        if not value:
            return None
        if value.isdigit():
            return int(value)
        from django.contrib.auth import get_user_model

        user_id = get_user_model().objects.filter(email__iexact=value).values_list("pk", flat=True).first()
        # An unknown email filters to nothing rather than to everything.
        return user_id if user_id is not None else -1

    def clean(self):
        cleaned = super().clean()
        since, until = cleaned.get("since"), cleaned.get("until")
        if since and until and since >= until:
            self.add_error("until", "The end must be after the start.")
        # The resource index starts with the type: an id alone would scan the whole log.
        if (cleaned.get("resource_id") or "").strip() and not (cleaned.get("resource_type") or "").strip():
            self.add_error("resource_type", "Choose the resource type to look up a resource id.")
        return cleaned

    def filters(self):
        from audit.selectors import EventFilters

        data = self.cleaned_data
        success = {"yes": True, "no": False}.get(data.get("success") or "")
        return EventFilters(
            actor_id=data.get("actor"),
            organization_id=data.get("organization"),
            action=data.get("action") or "",
            resource_type=(data.get("resource_type") or "").strip(),
            resource_id=(data.get("resource_id") or "").strip(),
            success=success,
            since=data.get("since"),
            until=data.get("until"),
        )

    def querystring(self) -> str:
        from urllib.parse import urlencode

        keep = {name: self.data.get(name) for name in self.fields if self.data.get(name)}
        return urlencode(keep)


WINDOWS = {"1h": timedelta(hours=1), "24h": timedelta(hours=24), "7d": timedelta(days=7), "30d": timedelta(days=30)}


class SecurityWindowForm(forms.Form):
    window = forms.ChoiceField(
        required=False,
        choices=[
            ("1h", "Last hour"),
            ("24h", "Last 24 hours"),
            ("7d", "Last 7 days"),
            ("30d", "Last 30 days"),
            ("custom", "Custom"),
        ],
    )
    start = forms.DateTimeField(required=False, widget=forms.DateTimeInput(attrs={"type": "datetime-local"}))
    end = forms.DateTimeField(required=False, widget=forms.DateTimeInput(attrs={"type": "datetime-local"}))

    @staticmethod
    def default_window():
        now = timezone.now()
        return now - WINDOWS["24h"], now

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("window") == "custom":
            start, end = cleaned.get("start"), cleaned.get("end")
            if not start or not end:
                raise forms.ValidationError("A custom window needs a start and an end.")
            if start >= end:
                raise forms.ValidationError("The end must be after the start.")
            if end - start > timedelta(days=366):
                raise forms.ValidationError("A window is at most a year long.")
        return cleaned

    def bounds(self):
        choice = self.cleaned_data.get("window") or "24h"
        if choice == "custom":
            return self.cleaned_data["start"], self.cleaned_data["end"]
        now = timezone.now()
        return now - WINDOWS[choice], now


class DataSubjectRequestForm(forms.Form):
    kind = forms.ChoiceField(choices=DataSubjectRequest.Kind.choices)
    subject_email = forms.EmailField(label="Person's email")
    notes = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 3}), max_length=5000)


class TransitionForm(forms.Form):
    status = forms.ChoiceField()
    note = forms.CharField(required=False, max_length=2000, widget=forms.Textarea(attrs={"rows": 2}))

    def __init__(self, *args, dsr: DataSubjectRequest, **kwargs):
        super().__init__(*args, **kwargs)
        from audit.gdpr import dsr_allowed_transitions

        labels = dict(DataSubjectRequest.Status.choices)
        self.fields["status"].choices = [(s, labels[s]) for s in dsr_allowed_transitions(dsr)]
