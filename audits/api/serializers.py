"""API shapes: what each endpoint reads and returns. Validation of content stays in the
services (one set of rules and messages for web, API and CLI); these only check types."""
from __future__ import annotations

from django.urls import reverse
from rest_framework import serializers

from audits import access
from audits.models import Audit, Dataset, ModelArtifact
from audits.services.audit_config import DEFAULT_CHECKS, audit_config_build
from audits.services.model_prompts import model_kind, model_prompt
from audits.services.routing import DEVICE_CHOICES

MAX_EXPLAIN = 200  # the web form's cap; the service enforces its own as well


class ModelSerializer(serializers.ModelSerializer):
    kind = serializers.SerializerMethodField(help_text="classifier (a classification head), prompted "
                                                       "(a causal LM with a prompt spec), or masked_lm / "
                                                       "causal_lm (a language model for stereotype_pairs).")
    prompt = serializers.SerializerMethodField(help_text="A prompted classifier's spec (its prompt.json): "
                                                         "template, verbalizers, few_shot, calibrate; else null.")

    class Meta:
        model = ModelArtifact
        fields = ["id", "uid", "name", "sha256", "architecture", "num_parameters", "labels", "files",
                  "parent", "created_at", "kind", "prompt"]
        read_only_fields = fields

    def get_kind(self, obj) -> str:
        return model_kind(model=obj)

    def get_prompt(self, obj) -> dict | None:
        return model_prompt(model=obj)


class ModelUploadSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=200)
    archive = serializers.FileField(required=False, help_text="The model folder as one .zip or .tar.gz.")
    files = serializers.ListField(
        child=serializers.FileField(), required=False, allow_empty=False,
        help_text="Or the folder's files, one multipart part each, all named 'files'.",
    )
    # A causal LM (*ForCausalLM) becomes a prompted classifier with these; a folder may
    # instead hold them as prompt.json.
    prompt_template = serializers.CharField(
        required=False, allow_blank=True, trim_whitespace=False,
        help_text="For a causal LM: the prompt, with one {text} slot where the text goes.")
    verbalizers = serializers.JSONField(
        binary=True, required=False,
        help_text='With prompt_template: {label: [words]} in label order, e.g. {"0": ["no"], "1": ["yes"]}.')
    few_shot = serializers.JSONField(binary=True, required=False,
                                     help_text='Optional examples shown before the text: [{"text", "label"}].')
    calibrate = serializers.BooleanField(
        required=False, default=False,
        help_text="Contextual calibration (Zhao et al. 2021): divide by the probabilities for \"N/A\".")

    def validate(self, attrs):
        if ("archive" in attrs) == ("files" in attrs):
            raise serializers.ValidationError("Send either 'archive' (one .zip/.tar.gz) or 'files', not both.")
        return attrs

    def uploads(self) -> list:
        data = self.validated_data
        return [data["archive"]] if "archive" in data else list(data["files"])


class DatasetSerializer(serializers.ModelSerializer):
    class Meta:
        model = Dataset
        fields = ["id", "uid", "name", "original_filename", "file_format", "sha256", "rows", "columns",
                  "warnings", "mapping", "created_at"]
        read_only_fields = fields


class DatasetUploadSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
    file = serializers.FileField(help_text="CSV, JSONL or Parquet.")


class MappingSerializer(serializers.Serializer):
    """The column roles; the service checks them against the stored table. A labelled
    dataset (text, label, favourable label, groups) for a classifier, or sentence pairs
    (more_column and less_column, optionally bias_type_column and direction_column) for
    a language model's stereotype probes."""

    text_column = serializers.CharField(required=False)
    label_column = serializers.CharField(required=False)
    favorable_label = serializers.CharField(required=False)
    more_column = serializers.CharField(required=False, help_text="Sentence pairs: the more-stereotypical sentence.")
    less_column = serializers.CharField(required=False, help_text="Sentence pairs: the less-stereotypical sentence.")
    bias_type_column = serializers.CharField(required=False, allow_blank=True, default="")
    direction_column = serializers.CharField(required=False, allow_blank=True, default="",
                                             help_text="Sentence pairs: stereo or antistereo per row.")
    protected = serializers.DictField(
        child=serializers.ListField(child=serializers.CharField()), required=False, default=dict,
        help_text="Protected column -> its privileged values, e.g. {\"gender\": [\"male\"]}.",
    )
    identity_terms = serializers.BooleanField(required=False, default=False,
                                              help_text="Also derive groups from identity terms in the text.")
    annotator_columns = serializers.ListField(child=serializers.CharField(), required=False, default=list)
    reference_shares = serializers.DictField(
        child=serializers.DictField(child=serializers.FloatField()), required=False, default=dict,
        help_text="Protected column -> {group: population share}, for sampling_bias.",
    )

    def validate(self, attrs):
        pairs = [k for k in ("more_column", "less_column") if attrs.get(k)]
        labelled = [k for k in ("text_column", "label_column", "favorable_label") if attrs.get(k)]
        if pairs and labelled:
            raise serializers.ValidationError("Map either a labelled dataset (text_column, label_column, "
                                              "favorable_label) or sentence pairs (more_column, less_column).")
        if not pairs:
            missing = {k: ["This field is required."] for k in ("text_column", "label_column", "favorable_label")
                       if not attrs.get(k)}
            if missing:
                raise serializers.ValidationError(missing)
        return attrs


class AuditCreateSerializer(serializers.Serializer):
    model = serializers.PrimaryKeyRelatedField(queryset=ModelArtifact.objects.none())
    dataset = serializers.PrimaryKeyRelatedField(queryset=Dataset.objects.none(),
                                                 help_text="A dataset whose columns are mapped.")
    checks = serializers.ListField(child=serializers.CharField(), required=False, allow_empty=False,
                                   help_text=f"Check ids, or [\"all\"]; default {', '.join(DEFAULT_CHECKS)}.")
    seed = serializers.IntegerField(min_value=0, max_value=2**31 - 1, default=0)
    explain = serializers.IntegerField(min_value=0, max_value=MAX_EXPLAIN, default=0,
                                       help_text="Explain a sample of this many rows.")
    counterfactual_dataset = serializers.PrimaryKeyRelatedField(queryset=Dataset.objects.none(), required=False)
    counterfactual_id_column = serializers.CharField(required=False, default="", allow_blank=True)
    device = serializers.ChoiceField(choices=DEVICE_CHOICES, default="auto",
                                     help_text="Worker class: auto (by the model's size), cpu or gpu.")
    compress = serializers.CharField(required=False, default="", allow_blank=True, max_length=200,
                                     help_text="Compressed variants audited beside the model, e.g. "
                                               "\"int8,prune:0.5,heads:0.25,distil:3\" (report.json's compression).")
    train_dataset = serializers.PrimaryKeyRelatedField(queryset=Dataset.objects.none(), required=False,
                                                       help_text="Training rows for distil (never the audited ones).")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # Only the caller's organisation: another's id reads as "does not exist", like a missing one.
        organisation = getattr(self.context.get("request"), "organisation", None)
        if organisation is not None:
            self.fields["model"].queryset = access.org_models(organisation)
            self.fields["dataset"].queryset = access.org_datasets(organisation)
            self.fields["counterfactual_dataset"].queryset = access.org_datasets(organisation)
            self.fields["train_dataset"].queryset = access.org_datasets(organisation)

    def validate_dataset(self, dataset):
        if not dataset.mapping:
            raise serializers.ValidationError(
                f"Dataset {dataset.pk} has no column mapping yet: POST its mapping/ first.")
        return dataset

    def config(self) -> dict:
        """The audit's settings, built by the service the web form uses too."""
        data = self.validated_data
        return audit_config_build(
            dataset=data["dataset"], checks=data.get("checks"), seed=data["seed"], explain=data["explain"],
            counterfactual_dataset=data.get("counterfactual_dataset"),
            counterfactual_id_column=data["counterfactual_id_column"], device=data["device"],
            compress=data["compress"] or None, train_dataset=data.get("train_dataset"))


class ProgressSerializer(serializers.Serializer):
    done = serializers.IntegerField()
    total = serializers.IntegerField()


class AuditLinksSerializer(serializers.Serializer):
    self = serializers.URLField()
    report_json = serializers.URLField()
    report_pdf = serializers.URLField()
    gate = serializers.URLField()


class AuditSerializer(serializers.ModelSerializer):
    progress = serializers.SerializerMethodField()
    links = serializers.SerializerMethodField()

    class Meta:
        model = Audit
        fields = ["id", "status", "stage", "progress", "verdict", "error", "review_status", "model", "dataset",
                  "config", "created_at", "started_at", "finished_at", "links"]
        read_only_fields = fields

    def get_progress(self, audit) -> ProgressSerializer:
        return {"done": audit.progress_done, "total": audit.progress_total}

    def get_links(self, audit) -> AuditLinksSerializer:
        request = self.context["request"]
        names = {"self": "api:audit-detail", "report_json": "api:audit-report-json",
                 "report_pdf": "api:audit-report-pdf", "gate": "api:audit-gate"}
        return {key: request.build_absolute_uri(reverse(name, args=[audit.pk])) for key, name in names.items()}


class FailedCheckSerializer(serializers.Serializer):
    id = serializers.CharField()
    attribute = serializers.CharField(allow_null=True)
    status = serializers.CharField()
    message = serializers.CharField()


class GateSerializer(serializers.Serializer):
    """The CI gate's answer; the HTTP status carries the decision (see GateView)."""

    audit = serializers.IntegerField()
    status = serializers.ChoiceField(choices=Audit.Status.choices)
    verdict = serializers.CharField(allow_blank=True, help_text="pass, warn, fail or error; empty while running.")
    failed_checks = FailedCheckSerializer(many=True)
    stage = serializers.CharField(allow_blank=True)
    progress = ProgressSerializer()
    error = serializers.CharField(allow_blank=True)
