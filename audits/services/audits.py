"""Audit services: create an audit, and run it stage by stage with progress.

The database is the record of every audit: a task only carries the audit's id, and
every stage writes its progress here so any web process can show it.
"""
from __future__ import annotations

import json
import logging
import traceback
from dataclasses import dataclass

import numpy as np
import pandas as pd
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import transaction
from django.utils import timezone

import auditplatform
import runtime
from audits.checks import CheckContext, available_checks, get_check
from audits.errors import BadInput
from audits.identity import lexicon_for
from audits.models import Audit, Dataset, ModelArtifact, Organisation, SignedReport
from audits.reports import report_build, report_files
from audits.reports.document import to_json_value
from audits.services.datasets import (
    dataset_frame,
    dataset_groups,
    labels_match,
    mapping_validate,
    value_strings,
)
from audits.services.explanations import (
    explain_count,
    explanations_dispatch,
    explanations_merge,
    explanations_plan,
)
from audits.services.manifest import audit_manifest
from audits.services.mapping_extras import annotator_frame
from audits.services.models import model_local_folder
from audits.services.policies import policy_current
from audits.services.predictions import predictions_cached
from audits.services.signing import audit_is_frozen, signed_file_path
from audits.services.trail import event_record
from audits.services.twins import twin_texts, twin_validate

log = logging.getLogger(__name__)
REPORT_FILES = ("report.json", "report.html", "report.pdf", "predictions.csv")


def audit_config_validate(*, model: ModelArtifact, dataset: Dataset, config: dict) -> dict:
    """Check an audit's settings against its dataset and model before anything is queued."""
    config_in = config
    lexicon = lexicon_for(dataset.organisation)
    frame = dataset_frame(dataset=dataset)
    mapping = mapping_validate(
        frame=frame, mapping=config, filename=dataset.original_filename, lexicon=lexicon
    )
    labels = value_strings(frame[mapping["label_column"]])
    labels_match(label_values=sorted(labels.unique()), id2label=model.labels)
    checks = config.get("checks") or ["group_fairness"]
    if checks == ["all"]:
        checks = available_checks()
    unknown = sorted(set(checks) - set(available_checks()))
    if unknown:
        raise BadInput(
            f"Unknown check(s): {', '.join(unknown)}. Available: {', '.join(available_checks())}."
        )
    try:
        seed = int(config.get("seed", 0))
    except (TypeError, ValueError) as exc:
        raise BadInput(f"The seed must be a whole number, not {config.get('seed')!r}.") from exc
    config = {**mapping, "checks": checks, "seed": seed, "explain": explain_count(config.get("explain", 0))}
    if config_twin := config_in.get("counterfactual"):
        config["counterfactual"] = twin_validate(dataset=dataset, frame=frame, spec=config_twin,
                                                 text_column=mapping["text_column"])
    return config


def audit_create(
    *, organisation: Organisation, user, model: ModelArtifact, dataset: Dataset, config: dict,
    enqueue: bool = True,
) -> Audit:
    """Validate and record an audit; with `enqueue`, a worker runs it once committed."""
    if model.organisation_id != organisation.id or dataset.organisation_id != organisation.id:
        raise BadInput("The model and the dataset must belong to your organisation.")
    config = audit_config_validate(model=model, dataset=dataset, config=config)
    with transaction.atomic():
        audit = Audit.objects.create(
            organisation=organisation, model=model, dataset=dataset, config=config,
            policy=policy_current(organisation=organisation), created_by=user, stage="queued",
        )
        audit.artifacts_prefix = f"audits/{audit.pk}"
        audit.save(update_fields=["artifacts_prefix"])
        event_record(organisation=organisation, actor=user, verb="audit.start", audit=audit,
                     detail={"model": model.pk, "dataset": dataset.pk, "checks": config["checks"]})
        if enqueue:
            from audits.tasks import audit_run_task

            transaction.on_commit(lambda: audit_run_task.delay(audit.pk))
    return audit


def _progress(audit_id: int, stage: str, done: int = 0, total: int = 0) -> None:
    Audit.objects.filter(pk=audit_id).update(stage=stage, progress_done=done, progress_total=total)


@dataclass
class AuditInputs:
    """An audit's data joined with its model's predictions: what every check reads."""

    frame: pd.DataFrame
    groups: pd.DataFrame
    privileged: dict[str, list[str]]
    probs: np.ndarray
    favourable_id: int
    label_to_id: dict[str, int]
    id2label: dict[str, str]
    loaded: runtime.LoadedModel


def audit_inputs(*, audit: Audit, progress=None) -> AuditInputs:
    config = audit.config
    frame = dataset_frame(dataset=audit.dataset)
    labels = value_strings(frame[config["label_column"]])
    label_to_id = labels_match(label_values=sorted(labels.unique()), id2label=audit.model.labels)
    groups, privileged = dataset_groups(
        frame=frame, mapping=config, lexicon=lexicon_for(audit.organisation)
    )
    loaded = runtime.load_model(model_local_folder(model=audit.model))
    texts = frame[config["text_column"]].astype(str).tolist()
    probs = predictions_cached(
        model=audit.model, dataset=audit.dataset, loaded=loaded, texts=texts, progress=progress
    )
    return AuditInputs(
        frame=frame, groups=groups, privileged=privileged, probs=probs,
        favourable_id=label_to_id[str(config["favorable_label"])],
        label_to_id=label_to_id, id2label=audit.model.labels, loaded=loaded,
    )


def check_context(*, audit: Audit, inputs: AuditInputs, policy: dict, resamples: int) -> CheckContext:
    config = audit.config
    labels = value_strings(inputs.frame[config["label_column"]])
    predicted = inputs.probs.argmax(axis=1)
    return CheckContext(
        y_true=(labels == str(config["favorable_label"])).to_numpy(),
        y_pred=predicted == inputs.favourable_id,
        prob=inputs.probs[:, inputs.favourable_id],
        groups=inputs.groups,
        privileged=inputs.privileged,
        policy=policy,
        seed=int(config["seed"]),
        resamples=resamples,
        texts=inputs.frame[config["text_column"]].astype(str).tolist(),
        annotators=annotator_frame(frame=inputs.frame, mapping=config),
        reference_shares=config.get("reference_shares") or None,
        lexicon=lexicon_for(audit.organisation),
        predict=favourable_predictor(inputs.loaded, inputs.favourable_id),
        counterfactual_texts=(
            twin_texts(dataset=audit.dataset, frame=inputs.frame, spec=config["counterfactual"],
                       text_column=config["text_column"]) if config.get("counterfactual") else None
        ),
    )


def favourable_predictor(loaded: runtime.LoadedModel, favourable_id: int):
    """Probability of the favourable label for new texts (counterfactual variants)."""

    def predict(texts: list[str]) -> np.ndarray:
        return runtime.predict_proba(loaded, texts)[:, favourable_id]

    return predict


def predictions_frame(*, audit: Audit, inputs: AuditInputs) -> pd.DataFrame:
    """The rows of predictions.csv: `row` is the 0-based row of the uploaded file."""
    config = audit.config
    id_to_label = {v: k for k, v in inputs.label_to_id.items()}
    predicted = inputs.probs.argmax(axis=1)
    frame = pd.DataFrame({
        "row": np.arange(len(inputs.frame)),
        "label": value_strings(inputs.frame[config["label_column"]]).to_numpy(),
        "prediction": [id_to_label.get(int(i), inputs.id2label.get(str(int(i)), str(i))) for i in predicted],
        "probability": inputs.probs[:, inputs.favourable_id],
    })
    for column in inputs.groups.columns:
        frame[column] = inputs.groups[column].to_numpy()
    return frame


def run_checks(ctx: CheckContext, check_ids: list[str], progress=None) -> list[dict]:
    """Run each check; a failing check is recorded as `error` and the others go on."""
    results = []
    for i, check_id in enumerate(check_ids):
        try:
            results.extend(get_check(check_id)(ctx))
        except Exception as exc:  # noqa: BLE001 - one broken check must not sink the audit
            log.exception("check %s failed", check_id)
            results.append({"id": check_id, "attribute": None, "status": "error",
                            "message": f"{type(exc).__name__}: {exc}", "metrics": {}, "groups": {}})
        if progress:
            progress(i + 1, len(check_ids))
    return results


def audit_run(*, audit_id: int, resamples: int | None = None, inline: bool | None = None) -> Audit:
    """Run every stage of one audit; failures mark the audit failed with the reason.

    With rows to explain, the audit ends in its explanation chunks: here, one after
    another, when `inline` (the CLI, eager Celery), else as Celery tasks (see
    audits.services.explanations), the last of which writes the report.
    """
    from django.conf import settings

    audit = Audit.objects.select_related("model", "dataset", "organisation", "policy").get(pk=audit_id)
    if audit.status == Audit.Status.DONE:
        return audit  # a redelivered task after a worker restart: nothing to redo
    if inline is None:
        inline = settings.CELERY_TASK_ALWAYS_EAGER
    Audit.objects.filter(pk=audit_id).update(
        status=Audit.Status.RUNNING, started_at=timezone.now(), error="", finished_at=None
    )
    try:
        _progress(audit_id, "predict")
        inputs = audit_inputs(audit=audit, progress=lambda d, t: _progress(audit_id, "predict", d, t))
        policy = audit.policy.as_dict()
        ctx = check_context(audit=audit, inputs=inputs, policy=policy,
                            resamples=resamples or settings.BOOTSTRAP_RESAMPLES)
        _progress(audit_id, "checks", 0, len(audit.config["checks"]))
        checks = run_checks(ctx, audit.config["checks"],
                            progress=lambda d, t: _progress(audit_id, "checks", d, t))
        _pending_save(audit, checks)
        chunk_ids = _explain_plan(audit, inputs, ctx, checks)
        if chunk_ids:
            explanations_dispatch(chunk_ids=chunk_ids, inline=inline)
            return Audit.objects.get(pk=audit_id)
        audit_finish(audit_id=audit_id, inputs=inputs)
    except Exception as exc:
        _fail(audit_id, exc)
    return Audit.objects.get(pk=audit_id)


def _explain_plan(audit: Audit, inputs: AuditInputs, ctx: CheckContext, checks: list[dict]) -> list[int]:
    if int(audit.config.get("explain") or 0) <= 0:
        return []
    try:
        return explanations_plan(audit=audit, inputs=inputs, ctx=ctx, checks=checks)
    except Exception as exc:  # noqa: BLE001 - explanations must not sink the audit
        log.exception("planning the explanations of audit %s failed", audit.pk)
        _pending_save(audit, checks, explanations={"error": f"{type(exc).__name__}: {exc}"})
        return []


def _pending_path(audit: Audit) -> str:
    return f"{audit.artifacts_prefix}/pending-checks.json"


def _pending_save(audit: Audit, checks: list[dict], explanations: dict | None = None) -> None:
    """Keep the check results between the checks stage and the report stage, which may
    run in another worker after the explanation chunks."""
    path = _pending_path(audit)
    if default_storage.exists(path):
        default_storage.delete(path)
    payload = {"checks": checks, "explanations": explanations}
    default_storage.save(path, ContentFile(json.dumps(to_json_value(payload)).encode()))


def audit_finish(*, audit_id: int, inputs: AuditInputs | None = None) -> Audit:
    """The report stage: merge the explanations, build and store the report files."""
    audit = Audit.objects.select_related("model", "dataset", "organisation", "policy").get(pk=audit_id)
    if audit_is_frozen(audit_id):
        return audit  # a signed report never changes (e.g. a redelivered chunk); a re-run is a new audit
    try:
        _progress(audit_id, "report")
        with default_storage.open(_pending_path(audit), "rb") as fh:
            pending = json.load(fh)
        explanations = pending["explanations"]
        if explanations is None and int(audit.config.get("explain") or 0) > 0:
            explanations = explanations_merge(audit=audit)
        inputs = inputs or audit_inputs(audit=audit)
        policy = audit.policy.as_dict()
        audit.status = Audit.Status.DONE
        audit.finished_at = timezone.now()
        document = report_build(
            audit=audit, checks=pending["checks"], policy=policy, platform_version=auditplatform.__version__,
            manifest=audit_manifest(audit=audit, policy=policy), explanations=explanations,
        )
        files = report_files(document, predictions_frame(audit=audit, inputs=inputs))
        for name, content in files.items():
            path = f"{audit.artifacts_prefix}/{name}"
            if default_storage.exists(path):
                default_storage.delete(path)
            default_storage.save(path, ContentFile(content))
        default_storage.delete(_pending_path(audit))
        audit.report = document
        audit.verdict = document["summary"]["status"]
        audit.stage = "done"
        audit.save()
    except Exception as exc:
        _fail(audit_id, exc)
    return Audit.objects.get(pk=audit_id)


def _fail(audit_id: int, exc: Exception) -> None:
    log.exception("audit %s failed", audit_id)
    reason = str(exc) if isinstance(exc, BadInput) else f"{type(exc).__name__}: {exc}"
    Audit.objects.filter(pk=audit_id).update(status=Audit.Status.FAILED, error=reason, finished_at=timezone.now())
    log.debug("%s", traceback.format_exc())


def audit_file(*, audit: Audit, name: str):
    """Open one of a finished audit's report files from storage."""
    if name not in REPORT_FILES or audit.status != Audit.Status.DONE:
        raise FileNotFoundError(name)
    signed = SignedReport.objects.filter(audit_id=audit.pk).first()
    frozen = signed_file_path(signed, name) if signed else None  # an approved audit serves its signed files
    return default_storage.open(frozen or f"{audit.artifacts_prefix}/{name}", "rb")


def report_download(*, audit: Audit, user, name: str, detail: dict | None = None):
    """Open a report file for someone to download and put the download on the trail."""
    handle = audit_file(audit=audit, name=name)
    event_record(organisation=audit.organisation, actor=user, verb="report.download", audit=audit,
                 detail={"file": name, **(detail or {})})
    return handle
