"""Mitigation services: start a debiasing run from a finished audit, run it, cancel it.

A run reads the audit's own inputs (the same rows, groups and favourable label the
checks used), trains through `audits.mitigation`, and registers the debiased folder as
a new model whose parent is the audited one. Until the very end nothing outside the
run's row and a private temporary folder changes: a failed or cancelled run leaves no
model, no stored files and an untouched parent model and audit. A run that made a model
is then checked by the ordinary audit (audits.services.mitigation_verify): its held-out
rows become a dataset, audited with the parent and with the new model.
"""
from __future__ import annotations

import functools
import logging
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from django.conf import settings
from django.core.files.storage import default_storage
from django.db import transaction
from django.utils import timezone

from audits.errors import BadInput
from audits.identity import lexicon_for
from audits.models import Audit, Dataset, MitigationRun, ModelArtifact
from audits.reports.document import to_json_value
from audits.services.audit_inputs import AuditInputs, audit_inputs
from audits.services.cleanup import uploads_discard
from audits.services.columns import value_strings
from audits.services.datasets import dataset_frame, dataset_groups
from audits.services.job_claims import job_claim, job_heartbeat
from audits.services.jobs import job_enqueue, job_fail, job_progress
from audits.services.mitigation_report import report_attach
from audits.services.mitigation_training import mitigation_training_data, training_dataset_check
from audits.services.mitigation_verify import (
    INLINE,
    held_out_discard,
    held_out_filename,
    held_out_prepare,
    verification_audits_create,
    verification_run_inline,
)
from audits.services.model_prompts import model_kind
from audits.services.model_uploads import model_local_folder, model_register_folder
from audits.services.ownership import organisation_check
from audits.services.trail import event_record

log = logging.getLogger(__name__)
Status = MitigationRun.Status
# How often (seconds) a running job asks the database whether it was cancelled.
CANCEL_POLL_SECONDS = 0.5


def mitigation_attributes(*, audit: Audit) -> list[str]:
    """The attributes a run may debias for: the audit's protected columns and the
    identity-term categories the checks grouped by (the same table the checks used)."""
    frame = dataset_frame(dataset=audit.dataset)
    groups, _ = dataset_groups(frame=frame, mapping=audit.config, lexicon=lexicon_for(audit.organisation))
    return [str(c) for c in groups.columns]


def mitigation_create(
    *, audit: Audit, user, method: str, attribute: str, options: dict, enqueue: bool = True,
    attributes: list[str] | None = None, train_dataset: Dataset | None = None,
) -> MitigationRun:
    """Validate and record a run; with `enqueue`, a worker starts it once committed.
    `attributes`: mitigation_attributes(audit=audit) when the caller has it already (it
    reads the dataset and searches every text for identity terms). `train_dataset`: the
    rows to train on (mitigation_training), checked here against the audit's mapping."""
    from audits.mitigation import options_validate

    if user is not None:  # None: the CLI and the demo, which act for the organisation
        organisation_check(user=user, obj=audit, what="The audit")
    if audit.status != Audit.Status.DONE:
        raise BadInput("Only a finished audit can be debiased; wait until it is done.")
    if method not in MitigationRun.Method.values:
        raise BadInput(f"Unknown method {method!r}. Available: {', '.join(MitigationRun.Method.values)}.")
    if method != MitigationRun.Method.THRESHOLD and model_kind(model=audit.model) == "prompted":
        raise BadInput(f"{audit.model.name} is a prompted classifier: it has no classification head to "
                       "retrain, so only threshold post-processing applies.")
    if attributes is None:
        attributes = mitigation_attributes(audit=audit)
    if attribute not in attributes:
        raise BadInput(f"{attribute!r} is not one of this audit's protected attributes "
                       f"({', '.join(attributes) or 'none'}).")
    options = dict(options or {})
    seed = options.pop("seed", audit.config.get("seed", 0))
    try:
        seed = int(seed)
        cleaned = options_validate(method, options)
    except (TypeError, ValueError) as exc:
        raise BadInput(str(exc)) from exc
    extra = {}
    if train_dataset is not None:
        training_dataset_check(audit=audit, dataset=train_dataset, attribute=attribute)
        extra["train_dataset"] = train_dataset.pk
    with transaction.atomic():
        run = MitigationRun.objects.create(
            organisation=audit.organisation, audit=audit, method=method, attribute=attribute,
            # The seed travels with the settings so the provenance alone reproduces a run.
            options={**to_json_value(cleaned), "seed": seed, **extra}, created_by=user, stage="queued",
        )
        event_record(organisation=audit.organisation, actor=user, verb="mitigation.start", audit=audit,
                     detail={"run": run.pk, "method": method, "attribute": attribute})
        if enqueue:
            job_enqueue(task="mitigation_run_task", ids=[run.pk])
    return run


def mitigation_cancel(*, run: MitigationRun, user) -> MitigationRun:
    """Ask a run to stop. A queued run is cancelled at once; a running one stops at
    its next check (between training steps) and cleans up after itself."""
    organisation_check(user=user, obj=run, what="The run")
    if run.is_finished:
        raise BadInput(f"The run is already {run.get_status_display().lower()}.")
    MitigationRun.objects.filter(pk=run.pk).update(cancel_requested=True)
    event_record(organisation=run.organisation, actor=user, verb="mitigation.cancel", audit=run.audit,
                 detail={"run": run.pk})
    # Conditional, so a worker that has just picked the run up is not overtaken.
    MitigationRun.objects.filter(pk=run.pk, status=Status.QUEUED).update(
        status=Status.CANCELLED, stage="cancelled", error="Cancelled before it started.",
        finished_at=timezone.now(),
    )
    run.refresh_from_db()
    return run


def mitigation_data(*, audit: Audit, inputs: AuditInputs, attribute: str) -> dict:
    """What mitigation_compute reads, from the inputs the audit's checks read."""
    config = audit.config
    if attribute not in inputs.groups.columns:
        raise BadInput(f"{attribute!r} is no longer among the dataset's protected attributes.")
    labels = value_strings(inputs.frame[config["label_column"]])
    group = inputs.groups[attribute].astype(str)
    return {
        "texts": inputs.frame[config["text_column"]].astype(str).tolist(),
        "labels": labels.map(inputs.label_to_id).to_numpy(dtype=np.int64),
        "group": group.to_numpy(dtype=object),
        "privileged": group.isin(inputs.privileged.get(attribute, [])).to_numpy(dtype=bool),
        "favourable_id": int(inputs.favourable_id),
        "parent_probs": inputs.probs,  # the audit's cached predictions: no second forward pass
    }


class _Stopper:
    """should_stop for the compute: the user's cancel (read from the database, at most
    every CANCEL_POLL_SECONDS) or the time limit. Works in any pool, unlike Celery's
    signal-based soft limit, which a thread or solo worker never delivers."""

    def __init__(self, run_id: int, limit_s: float):
        self.run_id, self.deadline = run_id, time.monotonic() + limit_s
        self.timed_out = self.cancelled = False
        self._next_poll = 0.0

    def __call__(self) -> bool:
        now = time.monotonic()
        if now > self.deadline:
            self.timed_out = True
        elif now >= self._next_poll:
            self._next_poll = now + CANCEL_POLL_SECONDS
            self.cancelled = MitigationRun.objects.filter(pk=self.run_id, cancel_requested=True).exists()
        return self.timed_out or self.cancelled


@dataclass
class _Made:
    """What a run has stored so far: removed again if the run does not end done."""

    model: ModelArtifact | None = None
    held_out: Dataset | None = None

    def discard(self) -> None:
        held_out_discard(self.held_out)
        _discard(self.model)


def mitigation_run(*, run_id: int, resamples: int | None = None, verify: bool | str = True,
                   heartbeat: bool = False) -> MitigationRun:
    """Run one debiasing job; every way out but success leaves nothing behind.

    `verify`: with a new model, True audits it and its parent on the held-out rows, queued
    once the run is committed; "inline" runs those two audits here, after the run is
    marked done; False makes none. The run is taken first (job_claims.job_claim): a
    redelivered task finds it taken or ended and does nothing; a run queued again by the
    reconciler after its worker died starts over, once what the killed attempt stored is
    removed. `heartbeat`: beat while working (a worker's task)."""
    attempt = job_claim(job=MitigationRun, job_id=run_id)
    run = MitigationRun.objects.select_related("audit__model", "audit__dataset", "audit__organisation").get(pk=run_id)
    if attempt is None:
        return run  # a redelivered task, or cancelled while queued: nothing to do
    if attempt > 1:
        mitigation_leftovers_discard(run=run)
    with job_heartbeat(job=MitigationRun, job_id=run_id, attempt=attempt, enabled=heartbeat):
        verification = _attempt(run=run, resamples=resamples, verify=verify)
    if verification and verify == INLINE:
        # After the attempt: the run is committed as done, whatever these audits find.
        verification_run_inline(audits=verification)
    return MitigationRun.objects.get(pk=run_id)


def mitigation_leftovers_discard(*, run: MitigationRun) -> None:
    """Remove what an attempt of `run` stored before its worker died (its model, its
    held-out rows as a dataset): a run links them only in the update that marks it done."""
    for model in ModelArtifact.objects.filter(organisation_id=run.organisation_id, provenance__mitigation_run=run.pk,
                                              made_by__isnull=True):
        _discard(model)
    for dataset in Dataset.objects.filter(organisation_id=run.organisation_id,
                                          original_filename=held_out_filename(run)):
        held_out_discard(dataset)


def _attempt(*, run: MitigationRun, resamples: int | None, verify: bool | str) -> list[Audit]:
    """Train, register and finish; a failure, a cancel or the time limit removes what was
    made and marks the run. Returns the verification audits (before, after), if any."""
    from celery.exceptions import SoftTimeLimitExceeded

    from audits.mitigation import MitigationCancelled

    run_id = run.pk
    progress = functools.partial(job_progress, job=MitigationRun, job_id=run_id)
    progress(stage="prepare")
    limit = settings.MITIGATION_TIME_LIMIT
    stopper = _Stopper(run_id, limit)
    work = Path(tempfile.mkdtemp(prefix=f"mitigation-{run_id}-", dir=settings.FILE_UPLOAD_TEMP_DIR))
    made = _Made()
    try:
        outcome, seed, options = _compute(run=run, work=work, resamples=resamples, progress=progress,
                                          stopper=stopper)
        # A cancel that arrives after the last training step still wins over registering.
        if stopper():
            raise MitigationCancelled()
        section = _register(run=run, outcome=outcome, seed=seed, options=options, made=made, verify=verify,
                            progress=progress)
        progress(stage="report")
        return _finish(run=run, section=section, model=made.model, held_out=made.held_out,
                       enqueue=verify is True)
    except (MitigationCancelled, SoftTimeLimitExceeded) as exc:
        made.discard()
        if stopper.timed_out or isinstance(exc, SoftTimeLimitExceeded):
            job_fail(job=MitigationRun, job_id=run_id, stage=Status.FAILED,
                     reason=f"Stopped at the time limit of {limit} s; nothing was saved.")
        else:
            job_fail(job=MitigationRun, job_id=run_id, status=Status.CANCELLED, stage=Status.CANCELLED,
                     reason="Cancelled; nothing was saved.")
    except Exception as exc:
        made.discard()
        job_fail(job=MitigationRun, job_id=run_id, exc=exc, stage=Status.FAILED)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return []


def _compute(*, run: MitigationRun, work: Path, resamples: int | None, progress, stopper: _Stopper):
    """Train and measure, in a private folder: (outcome, seed, the method's options)."""
    from audits.mitigation import MitigationCancelled, mitigation_compute

    audit = run.audit
    if stopper():
        raise MitigationCancelled()
    inputs = audit_inputs(audit=audit, progress=lambda d, t: progress(stage="predict", done=d, total=t))
    data = mitigation_data(audit=audit, inputs=inputs, attribute=run.attribute)
    options = dict(run.options)
    seed = int(options.pop("seed", audit.config.get("seed", 0)))
    train_data = None
    train_id = options.pop("train_dataset", None)
    if train_id is not None:
        dataset = Dataset.objects.filter(pk=train_id, organisation_id=audit.organisation_id).first()
        if dataset is None:
            raise BadInput("The run's training dataset was deleted; start the run again with another.")
        train_data = mitigation_training_data(audit=audit, dataset=dataset, attribute=run.attribute)
    outcome = mitigation_compute(
        model_dir=model_local_folder(model=audit.model), **data, method=run.method, options=options,
        seed=seed, out_dir=work / "out", resamples=resamples or settings.BOOTSTRAP_RESAMPLES,
        progress=lambda stage, d, t: progress(stage=stage, done=d, total=t), should_stop=stopper,
        attribute=run.attribute, train_data=train_data,
    )
    if train_data is not None:
        outcome.section["training_dataset"] = {"dataset": train_id, "filename": train_data["filename"],
                                               "rows": len(train_data["texts"])}
    return outcome, seed, options


def _register(*, run: MitigationRun, outcome, seed: int, options: dict, made: _Made, verify: bool | str,
              progress) -> dict:
    """Store the new model (if the method made one) and, to verify it, its held-out rows as a
    dataset (kept in `made`); returns the report section."""
    audit = run.audit
    progress(stage="register")
    if outcome.model_folder is not None:
        made.model = model_register_folder(
            organisation=audit.organisation, user=run.created_by, folder=Path(outcome.model_folder),
            name=_model_name(audit.model.name, run), parent=audit.model,
            provenance=_provenance(run, seed=seed, options=options),
        )
    extra = {"model_sha256": made.model.sha256 if made.model else None}
    if made.model is not None and verify:
        progress(stage="verify")
        made.held_out, skipped = held_out_prepare(run=run, audit=audit, rows=outcome.held_out_rows)
        if skipped:
            extra["verification_skipped"] = skipped
    return to_json_value({**outcome.section, **extra})


def _finish(*, run: MitigationRun, section: dict, model: ModelArtifact | None, held_out: Dataset | None,
            enqueue: bool) -> list[Audit]:
    """Attach the section to the audit's report (unless signed), create the audits of the
    held-out rows and mark the run done, in one transaction, so a report never names a
    model that a failure removed and a failure leaves no audit behind. Returns the
    audits (before, after), or [] without a held-out dataset."""
    made: list[Audit] = []

    def mark_done() -> None:
        links = {}
        if held_out is not None:
            before, after = verification_audits_create(run=run, audit=run.audit, dataset=held_out, model=model,
                                                       enqueue=enqueue)
            made[:] = [before, after]
            links = {"held_out_dataset": held_out, "before_audit": before, "after_audit": after}
        MitigationRun.objects.filter(pk=run.pk).update(
            status=Status.DONE, stage="done", result=section, result_model=model, finished_at=timezone.now(),
            progress_done=1, progress_total=1, **links)

    report_attach(audit_id=run.audit_id, section=section, then=mark_done)
    return made


def _discard(model: ModelArtifact | None) -> None:
    if model is None:
        return
    prefix = model.storage_prefix
    try:
        uploads_discard(objects=[model])
        # Filesystem storage keeps the emptied folder; object stores have none.
        local = Path(default_storage.path(prefix))
        if local.is_dir() and not any(local.iterdir()):
            local.rmdir()
    except NotImplementedError:
        pass
    except Exception:  # the run's own failure is what the user must see
        log.exception("could not remove model %s of a failed run", model.pk)


def _model_name(parent_name: str, run: MitigationRun) -> str:
    suffix = f" (debiased: {run.method}, {run.attribute}, run {run.pk})"
    return (parent_name[: max(200 - len(suffix), 1)] + suffix)[:200]


def _provenance(run: MitigationRun, *, seed: int, options: dict) -> dict:
    return to_json_value({
        "method": run.method, "attribute": run.attribute, "options": options, "seed": seed,
        "source_audit": run.audit_id, "mitigation_run": run.pk, "parent_sha256": run.audit.model.sha256,
    })
