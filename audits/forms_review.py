"""Forms of the review workflow: a decision with its comment, and a share."""
from __future__ import annotations

from django import forms

DECISION_CHOICES = [
    ("approve", "Approve"),
    ("changes_requested", "Request changes"),
    ("reject", "Reject"),
]


class ReviewForm(forms.Form):
    decision = forms.ChoiceField(choices=DECISION_CHOICES, widget=forms.RadioSelect)
    comment = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), max_length=5000,
                              help_text="Required: say why.")


class ShareForm(forms.Form):
    regulator = forms.CharField(max_length=150, label="Regulator's username")
