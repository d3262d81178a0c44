"""Forms of the account privacy page: accept the policy, grant or withdraw a purpose, ask for a request."""

from django import forms

from audit.models import DataSubjectRequest
from audit.privacy import TOGGLE_PURPOSES


class PolicyAcceptForm(forms.Form):
    # The version the page showed; the service refuses it when a newer one was published meanwhile.
    policy_version = forms.CharField(max_length=40, widget=forms.HiddenInput)


class ConsentChangeForm(forms.Form):
    purpose = forms.ChoiceField(choices=[(p, p) for p in TOGGLE_PURPOSES], widget=forms.HiddenInput)
    action = forms.ChoiceField(choices=[("grant", "Give consent"), ("withdraw", "Withdraw consent")])

    @property
    def granted(self) -> bool:
        return self.cleaned_data["action"] == "grant"


class PrivacyRequestForm(forms.Form):
    kind = forms.ChoiceField(choices=DataSubjectRequest.Kind.choices, widget=forms.HiddenInput)
    confirm = forms.BooleanField(
        required=False,
        label="I understand that erasure closes my account for good and removes what I wrote in my tickets.",
    )

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("kind") == DataSubjectRequest.Kind.ERASURE and not cleaned.get("confirm"):
            self.add_error("confirm", "Tick the box to confirm that you want your data erased.")
        return cleaned
