"""The silence form of the alerts page."""

from django import forms

DURATIONS = [
    ("30", "30 minutes"),
    ("60", "1 hour"),
    ("240", "4 hours"),
    ("720", "12 hours"),
    ("1440", "1 day"),
    ("10080", "1 week"),
]


class SilenceForm(forms.Form):
    matchers = forms.CharField(
        max_length=500,
        help_text="label=value, comma-separated; also !=, =~ (regex), !~. Every rule has alertname and severity.",
        widget=forms.TextInput(attrs={"placeholder": "alertname=ClerkUnavailable"}),
    )
    duration_minutes = forms.TypedChoiceField(label="For", choices=DURATIONS, coerce=int, initial="60")
    reason = forms.CharField(max_length=300, widget=forms.TextInput(attrs={"placeholder": "Planned maintenance"}))
