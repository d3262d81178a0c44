"""Forms of the on-call, incident and launch pages."""

from django import forms

from tourbrain_support.oncall.launch import CHECKLIST
from tourbrain_support.oncall.models import Component, Incident


class IncidentOpenForm(forms.Form):
    title = forms.CharField(max_length=200)
    severity = forms.ChoiceField(choices=Incident.Severity.choices, initial=Incident.Severity.MAJOR)
    components = forms.ModelMultipleChoiceField(
        queryset=Component.objects.all(), required=False, widget=forms.CheckboxSelectMultiple
    )
    message = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), help_text="The first update.")
    is_public = forms.BooleanField(required=False, initial=True, label="Show on the public status page")


class IncidentUpdateForm(forms.Form):
    status = forms.ChoiceField(choices=Incident.Status.choices)
    message = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}))
    is_public = forms.BooleanField(required=False, initial=True, label="Public update")


class LaunchTickForm(forms.Form):
    key = forms.ChoiceField(choices=[(item.key, item.label) for item in CHECKLIST if not item.automatic])
    done = forms.BooleanField(required=False, initial=True)
    note = forms.CharField(max_length=2000, widget=forms.TextInput(attrs={"size": 50}))
