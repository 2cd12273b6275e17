"""Audit services: create an audit, and run it stage by stage with progress.

The database is the record of every audit: a task only carries the audit's id, and
every stage writes its progress here so any web process can show it.
"""
from __future__ import annotations

import functools
import logging

from django.core.files.storage import default_storage
from django.db import IntegrityError, transaction

from audits.checks import CheckContext, available_checks, get_check
from audits.errors import BadInput
from audits.identity import lexicon_for
from audits.models import Audit, Dataset, ExplainChunk, ModelArtifact, Organisation, SignedReport
from audits.services.audit_config import DEFAULT_CHECKS, seed_validate
from audits.services.audit_inputs import AuditInputs, audit_inputs, check_context
from audits.services.audit_report import audit_finish, pending_checks_save, pending_compression_save
from audits.services.columns import value_strings
from audits.services.compressions import compress_config_validate, compression_section
from audits.services.datasets import dataset_frame, labels_match, labels_same, mapping_validate
from audits.services.explain_chunks import explanations_dispatch
from audits.services.explanations import explain_count, explanations_plan
from audits.services.job_claims import QUEUED, RUNNING, job_claim, job_heartbeat
from audits.services.jobs import job_enqueue, job_fail, job_progress
from audits.services.lm_probes import (
    LANGUAGE_MODEL_CHECKS,
    is_probe_audit,
    probe_config_validate,
    probe_stages,
)
from audits.services.policies import policy_current
from audits.services.predictions import predictions_check
from audits.services.routing import audit_queue, device_choice_validate
from audits.services.signing import signed_file_path
from audits.services.trail import event_record
from audits.services.twins import twin_validate

log = logging.getLogger(__name__)
REPORT_FILES = ("report.json", "report.html", "report.pdf", "predictions.csv")


def audit_config_validate(*, model: ModelArtifact, dataset: Dataset, config: dict) -> dict:
    """Check an audit's settings against its dataset and model before anything is queued."""
    if (probe := probe_config_validate(model=model, dataset=dataset, config=config)) is not None:
        return probe  # a language model on sentence pairs (services/lm_probes.py)
    config_in = config
    lexicon = lexicon_for(dataset.organisation)
    frame = dataset_frame(dataset=dataset)
    mapping = mapping_validate(
        frame=frame, mapping=config, filename=dataset.original_filename, lexicon=lexicon
    )
    label_values = sorted(value_strings(frame[mapping["label_column"]]).unique())
    labels_match(label_values=label_values, id2label=model.labels)
    labels_same(label_values=label_values, id2label=model.labels, filename=dataset.original_filename,
                column=mapping["label_column"])
    checks = config.get("checks") or list(DEFAULT_CHECKS)
    if checks == ["all"]:
        checks = [c for c in available_checks() if c not in LANGUAGE_MODEL_CHECKS]
    unknown = sorted(set(checks) - set(available_checks()))
    if unknown:
        raise BadInput(
            f"Unknown check(s): {', '.join(unknown)}. Available: {', '.join(available_checks())}."
        )
    seed = seed_validate(config.get("seed", 0))
    config = {**mapping, "checks": checks, "seed": seed, "explain": explain_count(config.get("explain", 0))}
    if (device := device_choice_validate(config_in.get("device"))) != "auto":
        config["device"] = device  # only a choice is kept: "auto" audits keep their old settings hash
    config.update(compress_config_validate(model=model, config_in=config_in))
    if config_twin := config_in.get("counterfactual"):
        config["counterfactual"] = twin_validate(dataset=dataset, frame=frame, spec=config_twin,
                                                 text_column=mapping["text_column"])
    return config


def audit_create(
    *, organisation: Organisation, user, model: ModelArtifact, dataset: Dataset, config: dict,
    enqueue: bool = True, previous: Audit | None = None,
) -> Audit:
    """Validate and record an audit; with `enqueue`, a worker runs it once committed.
    `previous`: the audit this one re-runs after a reviewer sent it back."""
    if model.organisation_id != organisation.id or dataset.organisation_id != organisation.id:
        raise BadInput("The model and the dataset must belong to your organisation.")
    config = audit_config_validate(model=model, dataset=dataset, config=config)
    with transaction.atomic():
        audit = Audit.objects.create(
            organisation=organisation, model=model, dataset=dataset, config=config,
            policy=policy_current(organisation=organisation), created_by=user, stage="queued",
            previous=previous,
        )
        audit.artifacts_prefix = f"audits/{audit.pk}"
        audit.save(update_fields=["artifacts_prefix"])
        event_record(organisation=organisation, actor=user, verb="audit.start", audit=audit,
                     detail={"model": model.pk, "dataset": dataset.pk, "checks": config["checks"],
                             **({"previous": previous.pk} if previous else {})})
        if enqueue:
            job_enqueue(task="audit_run_task", ids=[audit.pk],
                        queue=audit_queue(model=model, device=config.get("device", "auto")))
    return audit


def audit_create_once(
    *, organisation: Organisation, user, model: ModelArtifact, dataset: Dataset, config: dict,
    request_key: str = "",
) -> tuple[Audit, bool]:
    """audit_create for a request that a client may retry: with its `request_key` (the
    API's Idempotency-Key header), a repeated request gets the audit the first one made
    and False, not a second audit. The audit is sent to a worker once committed; when the
    broker cannot be reached it stays stored as queued, for the reconciler to send, and
    QueueUnavailable (with its id) tells the caller so."""
    key = request_key.strip()
    if len(key) > 100 or not key.isprintable():
        raise BadInput("The Idempotency-Key header must be at most 100 printable characters.")
    if key and (earlier := _audit_for_request(user=user, key=key, model=model, dataset=dataset)):
        return earlier, False
    try:
        with transaction.atomic():
            audit = audit_create(organisation=organisation, user=user, model=model, dataset=dataset, config=config,
                                 enqueue=False)
            if key:
                Audit.objects.filter(pk=audit.pk).update(request_key=key)
            job_enqueue(task="audit_run_task", ids=[audit.pk], queue=_queue(audit), required=True)
    except IntegrityError:  # the same key at the same moment: the other request made it
        return _audit_for_request(user=user, key=key, model=model, dataset=dataset), False
    return audit, True


def _audit_for_request(*, user, key: str, model: ModelArtifact, dataset: Dataset) -> Audit | None:
    earlier = Audit.objects.filter(created_by=user, request_key=key).first()
    if earlier is not None and (earlier.model_id, earlier.dataset_id) != (model.pk, dataset.pk):
        raise BadInput(f"This Idempotency-Key was already used for audit {earlier.pk}, of another model "
                       "or dataset; use a new key for a new audit.")
    return earlier

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


def audit_run(*, audit_id: int, resamples: int | None = None, inline: bool | None = None,
              heartbeat: bool = False) -> Audit:
    """Run one audit from where the database says it stands; failures mark it failed
    with the reason.

    The run takes the audit first (job_claims.job_claim), so a redelivered or re-sent task
    whose audit is running elsewhere or has ended does nothing. An audit queued again by
    the reconciler after its worker died starts over from its predictions (cached), or,
    once its checks and explanation chunks are stored, at its report. With rows to
    explain, the audit ends in its explanation chunks: here, one after another, when
    `inline` (the CLI, eager Celery), else as Celery tasks (see
    audits.services.explain_chunks), the last of which writes the report. `heartbeat`:
    beat while working (a worker's task).
    """
    from django.conf import settings

    attempt = job_claim(job=Audit, job_id=audit_id)
    if attempt is None:
        return Audit.objects.get(pk=audit_id)
    if inline is None:
        inline = settings.CELERY_TASK_ALWAYS_EAGER
    audit = Audit.objects.select_related("model", "dataset", "organisation", "policy").get(pk=audit_id)
    with job_heartbeat(job=Audit, job_id=audit_id, attempt=attempt, enabled=heartbeat and not inline):
        if audit.stage in ("explain", "report"):
            _audit_resume(audit, attempt=attempt, inline=inline)
        else:
            _audit_stages(audit, attempt=attempt, resamples=resamples or settings.BOOTSTRAP_RESAMPLES,
                          inline=inline)
    return Audit.objects.get(pk=audit_id)


def _audit_stages(audit: Audit, *, attempt: int, resamples: int, inline: bool) -> None:
    """Predict, check, then explain in chunks or write the report."""
    if is_probe_audit(audit):
        return probe_stages(audit, attempt=attempt, resamples=resamples, run_checks=run_checks)
    progress = functools.partial(job_progress, job=Audit, job_id=audit.pk)
    try:
        progress(stage="predict")
        inputs = audit_inputs(audit=audit, progress=lambda d, t: progress(stage="predict", done=d, total=t))
        # Before any figure: a broken model's constant predictions would pass every check.
        predictions_check(probs=inputs.probs, distinct_texts=int(inputs.frame[audit.config["text_column"]].nunique()))
        ctx = check_context(audit=audit, inputs=inputs, policy=audit.policy.as_dict(), resamples=resamples)
        progress(stage="checks", total=len(audit.config["checks"]))
        checks = run_checks(ctx, audit.config["checks"],
                            progress=lambda d, t: progress(stage="checks", done=d, total=t))
        pending_checks_save(audit=audit, checks=checks)
        if audit.config.get("compress"):
            progress(stage="compress", total=len(audit.config["compress"]))
            pending_compression_save(audit=audit, section=compression_section(
                audit=audit, inputs=inputs, ctx=ctx, checks=checks, run_checks=run_checks, progress=progress))
        chunk_ids = _explain_plan(audit, inputs, ctx, checks)
        if chunk_ids:
            explanations_dispatch(chunk_ids=chunk_ids, inline=inline, queue=_queue(audit))
            return
        audit_finish(audit_id=audit.pk, inputs=inputs, attempt=attempt)
    except Exception as exc:
        job_fail(job=Audit, job_id=audit.pk, exc=exc, attempt=attempt)


def _audit_resume(audit: Audit, *, attempt: int, inline: bool) -> None:
    """An audit taken again after its checks: its chunks still to run are sent again (a
    chunk already taken ignores the copy), else its report is written."""
    chunks = ExplainChunk.objects.filter(audit=audit)
    if audit.stage == "explain" and chunks.filter(status__in=[QUEUED, RUNNING]).exists():
        queued = list(chunks.filter(status=QUEUED).values_list("pk", flat=True))
        explanations_dispatch(chunk_ids=queued, inline=inline, queue=_queue(audit))
        return
    audit_finish(audit_id=audit.pk, attempt=attempt)


def _queue(audit: Audit) -> str:
    return audit_queue(model=audit.model, device=audit.config.get("device", "auto"))


def _explain_plan(audit: Audit, inputs: AuditInputs, ctx: CheckContext, checks: list[dict]) -> list[int]:
    if int(audit.config.get("explain") or 0) <= 0:
        return []
    try:
        return explanations_plan(audit=audit, inputs=inputs, ctx=ctx, checks=checks)
    except Exception as exc:  # noqa: BLE001 - explanations must not sink the audit
        log.exception("planning the explanations of audit %s failed", audit.pk)
        pending_checks_save(audit=audit, checks=checks,
                            explanations={"error": f"{type(exc).__name__}: {exc}"})
        return []


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
