"""Forms of the staff pages: queue filters, bulk actions, and the ticket page's reply/status/priority/assign forms.

Forms validate shape only (known enum values, sizes, the version hidden field); business rules
stay in `tickets.services`, whose ApplicationError the views turn back into form errors.
"""

from django import forms
from django.contrib.auth import get_user_model

from tickets import search, selectors
from tickets.models import Ticket
from tourbrain_support.oncall.models import Component
from tourbrain_support.roles import QUEUE_ROLES
from tourbrain_support.tiers import Tier

User = get_user_model()

ASSIGNEE_ME = "me"
ASSIGNEE_NONE = "unassigned"
SLA_STATE_CHOICES = Ticket.SLAState.choices
# "" in the status filter: every ticket still being worked (not solved or closed).
STATUS_ACTIVE = selectors.STATUS_ACTIVE
STATUS_ANY = selectors.STATUS_ANY
VIEW_CHOICES = [(selectors.VIEW_MY_OPEN, "My open"), (selectors.VIEW_BREACHING_SOON, "Breaching soon")]


def _blank(label: str, choices) -> list[tuple[str, str]]:
    return [("", label), *[(value, str(text)) for value, text in choices]]


def staff_assignees():
    """Active users holding a queue role: who may be given a ticket."""
    return User.objects.filter(is_active=True, groups__name__in=QUEUE_ROLES).distinct().order_by("name", "email")


QUEUE_MAX_PAGE = 200


class QueueFilterForm(forms.Form):
    """The queue's GET filters; unknown values are form errors, never silently ignored."""

    status = forms.ChoiceField(
        required=False,
        choices=[(STATUS_ACTIVE, "Active (not solved/closed)"), (STATUS_ANY, "Any status"), *Ticket.Status.choices],
    )
    team = forms.ChoiceField(required=False, choices=_blank("Any team", Ticket.Team.choices))
    tier = forms.ChoiceField(required=False, choices=_blank("Any tier", Tier.choices))
    priority = forms.ChoiceField(required=False, choices=_blank("Any priority", Ticket.Priority.choices))
    type = forms.ChoiceField(required=False, choices=_blank("Any type", Ticket.Type.choices))
    sla_state = forms.ChoiceField(required=False, choices=_blank("Any SLA state", SLA_STATE_CHOICES), label="SLA")
    assignee = forms.CharField(required=False, max_length=20)
    q = forms.CharField(
        required=False, max_length=search.MAX_TERM_LENGTH, label="Search", strip=True, help_text=search.TERM_HELP
    )
    view = forms.ChoiceField(required=False, choices=_blank("No built-in view", VIEW_CHOICES), widget=forms.HiddenInput)
    # Deep offsets are slow and useless to a person: past the last page, narrow the filters instead.
    page = forms.IntegerField(
        required=False,
        min_value=1,
        max_value=QUEUE_MAX_PAGE,
        error_messages={
            "min_value": "Pages start at 1.",
            "max_value": f"Pages go up to {QUEUE_MAX_PAGE}; narrow the filters to see older tickets.",
        },
    )

    FILTER_FIELDS = ("view", "status", "team", "tier", "priority", "type", "sla_state", "assignee", "q")

    def clean_assignee(self) -> str:
        value = self.cleaned_data["assignee"]
        if value == "none":
            return ASSIGNEE_NONE
        if value in ("", ASSIGNEE_ME, ASSIGNEE_NONE) or value.isdigit():
            return value
        raise forms.ValidationError(f"Unknown assignee '{value}'. Allowed values: me, unassigned, a user id.")

    def clean_q(self) -> str:
        value = self.cleaned_data["q"]
        if error := search.term_error(value):
            raise forms.ValidationError(error)
        return value

    def filters(self) -> dict:
        """The non-empty cleaned filters (what a saved view stores)."""
        return {key: value for key in self.FILTER_FIELDS if (value := self.cleaned_data.get(key))}


class SavedViewForm(forms.Form):
    name = forms.CharField(max_length=80, strip=True)


class IdListField(forms.Field):
    """Checkbox lists of ticket ids (`ticket=1&ticket=2`)."""

    widget = forms.MultipleHiddenInput

    def to_python(self, value) -> list[int]:
        if not value:
            return []
        if not isinstance(value, list | tuple):
            value = [value]
        try:
            return sorted({int(item) for item in value})
        except (TypeError, ValueError) as exc:
            raise forms.ValidationError("Ticket ids must be numbers.") from exc

    def validate(self, value) -> None:
        super().validate(value)
        if len(value) > 500:
            raise forms.ValidationError("Select at most 500 tickets at once.")


class BulkActionForm(forms.Form):
    ACTION_ASSIGN = "assign"
    ACTION_STATUS = "status"

    ticket = IdListField(error_messages={"required": "Select at least one ticket."})
    action = forms.ChoiceField(choices=[(ACTION_ASSIGN, "Assign to"), (ACTION_STATUS, "Set status")])
    assignee = forms.ModelChoiceField(queryset=User.objects.none(), required=False)
    status = forms.ChoiceField(required=False, choices=_blank("Choose a status", Ticket.Status.choices))

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["assignee"].queryset = staff_assignees()

    def clean(self):
        data = super().clean()
        # Each row carries the version it was rendered with (`version_<id>`), so a ticket someone changed
        # after the page was loaded is skipped instead of overwritten.
        versions = {}
        for ticket_id in data.get("ticket") or []:
            raw = str(self.data.get(f"version_{ticket_id}", ""))
            if not (raw.isdigit() and len(raw) <= 10):
                self.add_error("ticket", "The page did not say which version of each ticket you saw: reload the queue.")
                break
            versions[ticket_id] = int(raw)
        data["versions"] = versions
        if data.get("action") == self.ACTION_ASSIGN and not data.get("assignee"):
            self.add_error("assignee", "Choose who gets the selected tickets.")
        if data.get("action") == self.ACTION_STATUS and not data.get("status"):
            self.add_error("status", "Choose the new status.")
        return data


class VersionedForm(forms.Form):
    """Every ticket form carries the version it was rendered from (stale-form protection)."""

    version = forms.IntegerField(widget=forms.HiddenInput, min_value=0)


class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class MultipleFileField(forms.FileField):
    def __init__(self, *args, **kwargs):
        kwargs.setdefault("widget", MultipleFileInput())
        super().__init__(*args, **kwargs)

    def clean(self, data, initial=None):
        single = super().clean
        if isinstance(data, list | tuple):
            return [single(item, initial) for item in data]
        return [single(data, initial)] if data else []


class ReplyForm(VersionedForm):
    KIND_REPLY = "reply"
    KIND_NOTE = "note"

    kind = forms.ChoiceField(
        choices=[(KIND_REPLY, "Public reply (customer sees it)"), (KIND_NOTE, "Internal note (staff only)")],
        initial=KIND_REPLY,
        widget=forms.RadioSelect,
    )
    body = forms.CharField(widget=forms.Textarea(attrs={"rows": 6}), max_length=20000, strip=True, label="Message")
    attachments = MultipleFileField(required=False)


class StatusForm(VersionedForm):
    status = forms.ChoiceField(choices=Ticket.Status.choices)


class PriorityForm(VersionedForm):
    priority = forms.ChoiceField(choices=Ticket.Priority.choices)


class ComponentForm(VersionedForm):
    component = forms.ModelChoiceField(queryset=Component.objects.all(), required=False, empty_label="Not known")


class AssignForm(VersionedForm):
    assignee = forms.ModelChoiceField(queryset=User.objects.none(), required=False, empty_label="Unassigned")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["assignee"].queryset = staff_assignees()


class DuplicateForm(forms.Form):
    """Roadmap: mark one feature request as a duplicate of another (by reference)."""

    duplicate = forms.CharField(max_length=20, strip=True)
    original = forms.CharField(max_length=20, strip=True, label="Duplicate of")

    def clean(self):
        data = super().clean()
        if data.get("duplicate") and data.get("duplicate", "").upper() == data.get("original", "").upper():
            raise forms.ValidationError("A request cannot be a duplicate of itself.")
        return data
