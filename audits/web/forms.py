"""The web forms: uploads, the column mapping, audit creation, the lexicon, a debiasing
run, a review decision and a share. They check types and shapes; the services validate
the content again (one set of rules and messages for web, API and CLI)."""
from __future__ import annotations

from django import forms

from audits.checks import available_checks
from audits.mitigation import OPTION_DEFAULTS
from audits.models import MitigationRun
from audits.reports.formatting import check_title
from audits.services.form_tokens import form_token_new
from audits.services.lm_probes import LANGUAGE_MODEL_CHECKS
from audits.services.mapping_extras import parse_reference_lines
from audits.services.pairs_mapping import is_pairs_mapping


class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class MultipleFileField(forms.FileField):
    """One archive, or the files of a Hugging Face folder selected together."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("widget", MultipleFileInput())
        super().__init__(*args, **kwargs)

    def clean(self, data, initial=None):
        single = super().clean
        if isinstance(data, (list, tuple)):
            return [single(d, initial) for d in data]
        return [single(data, initial)]


class OnceField(forms.UUIDField):
    """The upload form's one-time token (audits/services/form_tokens.py), fresh on every
    new form; optional, so scripts that post the form without it still work."""

    def __init__(self, **kwargs):
        super().__init__(required=False, widget=forms.HiddenInput, initial=form_token_new, **kwargs)


class ModelUploadForm(forms.Form):
    once = OnceField()
    name = forms.CharField(max_length=200)
    files = MultipleFileField(
        help_text="A .zip or .tar.gz of a Hugging Face folder, or its files selected together."
    )
    # For a causal LM (*ForCausalLM): what makes it a prompted classifier.
    prompt_template = forms.CharField(
        required=False, strip=False, widget=forms.Textarea(attrs={"rows": 3}),
        help_text="For a causal LM only: the prompt, with one {text} slot where the text goes, "
                  "e.g. “Comment: {text}\nIs this comment toxic? Answer:”.")
    verbalizers = forms.CharField(
        required=False, widget=forms.Textarea(attrs={"rows": 2}),
        help_text="With a prompt: one line per label, LABEL=WORD or LABEL=WORD,WORD (the words that "
                  "answer for it), in label order, e.g. “0=no” and “1=yes”.")
    few_shot = forms.CharField(
        required=False, widget=forms.Textarea(attrs={"rows": 2}), label="Few-shot examples",
        help_text="Optional, one per line: LABEL=TEXT, shown to the model before the text.")
    calibrate = forms.BooleanField(
        required=False, label="Calibrate",
        help_text="Contextual calibration (Zhao et al. 2021): divide by the probabilities for “N/A”.")


class DatasetUploadForm(forms.Form):
    once = OnceField()
    name = forms.CharField(max_length=200)
    file = forms.FileField(help_text="CSV, JSONL or Parquet.")


class MappingForm(forms.Form):
    """Column roles. Protected columns get one privileged-values field each."""

    text_column = forms.ChoiceField()
    label_column = forms.ChoiceField()
    favorable_label = forms.CharField(max_length=200, help_text="The label value that is the good outcome.")
    identity_terms = forms.BooleanField(
        required=False, label="Derive groups from identity terms mentioned in the text"
    )
    annotator_columns = forms.MultipleChoiceField(
        required=False, widget=forms.CheckboxSelectMultiple,
        help_text="Two or more columns holding each annotator's label, for agreement per group.",
    )
    reference_shares = forms.CharField(
        required=False, widget=forms.Textarea(attrs={"rows": 3}),
        help_text="Optional population shares to compare with, one per line: attribute,group,share.",
    )

    def __init__(self, *args, columns: list[str], group_columns: dict[str, list[str]], **kwargs):
        super().__init__(*args, **kwargs)
        choices = [(c, c) for c in columns]
        self.fields["text_column"].choices = choices
        self.fields["label_column"].choices = choices
        self.fields["annotator_columns"].choices = choices
        self.group_columns = group_columns
        for column, values in group_columns.items():
            self.fields[f"protected__{column}"] = forms.BooleanField(required=False, label=column)
            self.fields[f"privileged__{column}"] = forms.CharField(
                required=False, label=f"Privileged value(s) of {column}",
                help_text="Comma-separated. Values: " + ", ".join(values[:20]),
            )

    def protected_rows(self):
        """The protected-attribute rows offered, without the label column (the label is
        what the audit judges, never a group; the service refuses it too)."""
        label = self.data.get("label_column") if self.is_bound else self.initial.get("label_column")
        return [(self[f"protected__{c}"], self[f"privileged__{c}"]) for c in self.group_columns if c != label]

    def mapping(self) -> dict:
        data = self.cleaned_data
        protected = {}
        for column in self.group_columns:
            if data.get(f"protected__{column}"):
                values = [v.strip() for v in (data.get(f"privileged__{column}") or "").split(",")]
                protected[column] = [v for v in values if v]
        return {
            "text_column": data["text_column"],
            "label_column": data["label_column"],
            "favorable_label": data["favorable_label"].strip(),
            "protected": protected,
            "identity_terms": bool(data.get("identity_terms")),
            "annotator_columns": data.get("annotator_columns") or [],
            "reference_shares": parse_reference_lines(data.get("reference_shares") or ""),
        }


class PairsMappingForm(forms.Form):
    """Column roles of a dataset of sentence pairs, for a language model's stereotype probes."""

    more_column = forms.ChoiceField(label="More-stereotypical sentence")
    less_column = forms.ChoiceField(label="Less-stereotypical sentence")
    bias_type_column = forms.ChoiceField(required=False, label="Bias type (optional)")
    direction_column = forms.ChoiceField(required=False, label="Direction, stereo or antistereo (optional)")

    def __init__(self, *args, columns: list[str], **kwargs):
        super().__init__(*args, prefix="pairs", **kwargs)
        choices = [(c, c) for c in columns]
        self.fields["more_column"].choices = choices
        self.fields["less_column"].choices = choices
        self.fields["bias_type_column"].choices = [("", "(none: one bias type)"), *choices]
        self.fields["direction_column"].choices = [("", "(none)"), *choices]

    def mapping(self) -> dict:
        return {name: self.cleaned_data.get(name) or "" for name in
                ("more_column", "less_column", "bias_type_column", "direction_column")}


# Rows explained unless the form says otherwise: enough to read, minutes rather than hours.
EXPLAIN_DEFAULT = 10


class AuditForm(forms.Form):
    model = forms.ModelChoiceField(queryset=None)
    dataset = forms.ModelChoiceField(queryset=None, help_text="Only datasets with a column mapping.")
    checks = forms.MultipleChoiceField(widget=forms.CheckboxSelectMultiple)
    seed = forms.IntegerField(initial=0, min_value=0, max_value=2**31 - 1)
    explain = forms.IntegerField(
        initial=EXPLAIN_DEFAULT, min_value=0, max_value=200, required=False, label="Explain N rows",
        help_text="Explain a sample of this many rows with SHAP, LIME, integrated gradients and attention (0: none; "
                  "each row takes a few seconds per method).",
    )
    counterfactual_dataset = forms.ModelChoiceField(
        queryset=None, required=False, label="Counterfactual twin (optional)",
        help_text="The same rows with identity terms swapped, aligned by an id column.",
    )
    counterfactual_id_column = forms.CharField(required=False, max_length=200, label="Id column of both")
    compress = forms.CharField(
        required=False, max_length=200, label="Compressed variants (optional)",
        help_text="Audit compressed variants beside the model: int8, prune:S (share of weights), heads:F (share "
                  "of attention heads), distil:L (a student of L layers), comma-separated, e.g. int8,prune:0.5,distil:3.")
    train_dataset = forms.ModelChoiceField(
        queryset=None, required=False, label="Training dataset for distillation",
        help_text="distil trains the student on these rows (same text and label columns), never on the audited ones.")

    def __init__(self, *args, models, datasets, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["model"].queryset = models
        self.fields["dataset"].queryset = datasets.filter(mapping__isnull=False)
        self.fields["counterfactual_dataset"].queryset = datasets
        self.fields["train_dataset"].queryset = datasets
        self.fields["checks"].choices = [(c, check_title(c)) for c in available_checks()]
        # Every check a classifier can run, ticked; a dataset of sentence pairs starts with the probes instead.
        chosen = datasets.filter(pk=self.initial.get("dataset")).first() if str(self.initial.get("dataset") or "")\
            .isdigit() else None
        self.fields["checks"].initial = (list(LANGUAGE_MODEL_CHECKS) if chosen and is_pairs_mapping(chosen.mapping)
                                         else [c for c in available_checks() if c not in LANGUAGE_MODEL_CHECKS])


class LexiconForm(forms.Form):
    identity_terms = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 20}), required=False,
        help_text="One term per line, optionally followed by a comma and its category.",
    )


GOALS = [("demographic_parity", "Demographic parity (equal favourable rates)"),
         ("equalised_odds", "Equalised odds (equal error rates)")]


class MitigationForm(forms.Form):
    """The "Debias this model" form: a method, an attribute and the method's main settings.

    Defaults come from audits.mitigation.OPTION_DEFAULTS so the form, the CLI and the
    service agree; the service validates again (options_validate) whatever arrives.
    """

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
    train_dataset = forms.ModelChoiceField(
        queryset=None, required=False, empty_label="None: split the audit's rows",
        help_text="Rows to train on, with the audit's text, label and protected columns; the figures are then "
                  "measured on all of the audit's rows. Without one, part of the audit's rows train and the "
                  "figures come from fewer rows.")

    def __init__(self, *args, attributes: list[str], datasets=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["attribute"].choices = [(a, a) for a in attributes]
        # The view passes the organisation's datasets: another organisation's id is not a choice.
        from audits.models import Dataset

        self.fields["train_dataset"].queryset = datasets if datasets is not None else Dataset.objects.none()

    def options(self) -> dict:
        data = self.cleaned_data
        return {name: data[name] for name in ("goal", "adversary_weight", "epochs", "unfreeze_layers", "seed")}


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
