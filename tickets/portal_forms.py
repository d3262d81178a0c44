"""Forms of the customer portal and the beta cohort page: shape only (sizes, known values).

Business rules stay in the services (`tickets.services`, `tickets.portal_links`, `tickets.beta_invitations`),
whose ApplicationError the views turn back into form errors.
"""

from django import forms

from tickets.forms import MultipleFileField
from tickets.models import Ticket
from tourbrain_support.models import Organization


class LoginLinkRequestForm(forms.Form):
    email = forms.EmailField(max_length=254, label="Email")


class PortalTicketForm(forms.Form):
    """A new ticket from the portal: the fields of the widget's form (subject optional: taken from the text)."""

    type = forms.ChoiceField(choices=Ticket.Type.choices, initial=Ticket.Type.QUESTION)
    priority = forms.ChoiceField(choices=Ticket.Priority.choices, initial=Ticket.Priority.MEDIUM)
    subject = forms.CharField(max_length=200, required=False, strip=True)
    description = forms.CharField(max_length=50_000, strip=True, widget=forms.Textarea(attrs={"rows": 6}))
    reproduction_steps = forms.CharField(
        max_length=20_000, required=False, strip=True, label="Steps to reproduce", widget=forms.Textarea
    )
    url = forms.URLField(max_length=2000, required=False, label="Page where it happened", assume_scheme="https")

    def subject_or_derived(self) -> str:
        """The subject, or the description's first line cut at a word (like the widget API)."""
        subject = self.cleaned_data.get("subject") or ""
        if subject:
            return subject
        first_line = self.cleaned_data["description"].strip().splitlines()[0].strip()
        if len(first_line) <= 80:
            return first_line
        return first_line[:80].rsplit(" ", 1)[0].rstrip(",.;:") + "…"


class PortalReplyForm(forms.Form):
    body = forms.CharField(max_length=20_000, strip=True, label="Your reply", widget=forms.Textarea(attrs={"rows": 5}))
    attachments = MultipleFileField(required=False)


class BetaInviteForm(forms.Form):
    email = forms.EmailField(max_length=254)
    name = forms.CharField(max_length=200, required=False, strip=True)
    organization = forms.ModelChoiceField(
        queryset=Organization.objects.order_by("name"), required=False, empty_label="No organization"
    )
    personal_message = forms.CharField(
        max_length=2000,
        required=False,
        strip=True,
        label="Personal note",
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text="Added to the invitation email.",
    )


class BetaJoinForm(forms.Form):
    """Accepting an invitation without an account: the new account's name and password."""

    name = forms.CharField(max_length=200, required=False, strip=True)
    password = forms.CharField(widget=forms.PasswordInput, max_length=200, strip=False)
    password_again = forms.CharField(widget=forms.PasswordInput, max_length=200, strip=False, label="Password again")

    def clean(self):
        data = super().clean()
        if data.get("password") and data.get("password") != data.get("password_again"):
            self.add_error("password_again", "The two passwords differ.")
        return data
