"""The "Debias this model" form: a method, an attribute and the method's main settings.

Defaults come from audits.mitigation.OPTION_DEFAULTS so the form, the CLI and the
service agree; the service validates again (options_validate) whatever arrives.
"""
from __future__ import annotations

from django import forms

from audits.mitigation import OPTION_DEFAULTS
from audits.models import MitigationRun

GOALS = [("demographic_parity", "Demographic parity (equal favourable rates)"),
         ("equalised_odds", "Equalised odds (equal error rates)")]


class MitigationForm(forms.Form):
    method = forms.ChoiceField(choices=MitigationRun.Method.choices, initial=MitigationRun.Method.ADVERSARIAL)
    attribute = forms.ChoiceField(help_text="The protected attribute the debiased model should not depend on.")
    goal = forms.ChoiceField(choices=GOALS, initial=OPTION_DEFAULTS["goal"])
    adversary_weight = forms.FloatField(
        min_value=0, initial=OPTION_DEFAULTS["adversary_weight"],
        help_text="How hard the adversary pushes (adversarial debiasing only); 0 trains without it.")
    epochs = forms.IntegerField(min_value=1, max_value=1000, initial=OPTION_DEFAULTS["epochs"])
    unfreeze_layers = forms.IntegerField(
        min_value=0, max_value=100, initial=OPTION_DEFAULTS["unfreeze_layers"],
        help_text="Top encoder layers trained with the head (0: the classifier head only).")
    seed = forms.IntegerField(min_value=0, max_value=2**31 - 1, initial=0)

    def __init__(self, *args, attributes: list[str], **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["attribute"].choices = [(a, a) for a in attributes]

    def options(self) -> dict:
        data = self.cleaned_data
        return {name: data[name] for name in ("goal", "adversary_weight", "epochs", "unfreeze_layers", "seed")}
