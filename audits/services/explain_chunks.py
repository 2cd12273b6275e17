"""Running an audit's explanation chunks: here, or one Celery task each.

Several workers explain one audit side by side. There is no result backend: the
database joins the chunks. A task takes its chunk first (job_claims.job_claim: queued to
running), so a redelivered or re-sent task does nothing, and beats while it explains. Each
chunk stores its JSON result under a lock on the audit row, only while its attempt still
holds the chunk; the chunk that finds no other chunk queued or running hands the audit on
to its report stage, exactly once (a conditional update on the audit's stage), and writes
the report, beating for the audit. A worker killed meanwhile leaves the chunk running, or
the audit at its report stage, silent: the reconciler sends it again.
"""
from __future__ import annotations

import logging

from django.db import transaction
from django.utils import timezone

from audits.models import Audit, ExplainChunk
from audits.services.audit_inputs import audit_inputs, check_context
from audits.services.audit_report import audit_finish
from audits.services.columns import value_strings
from audits.services.explain_engine import perturbation_model, plan_on_this_worker
from audits.services.job_claims import QUEUED, RUNNING, job_claim, job_heartbeat, job_is_ours
from audits.services.jobs import job_enqueue

log = logging.getLogger(__name__)


def explanations_dispatch(*, chunk_ids: list[int], inline: bool, queue: str | None = None) -> None:
    """Run the chunks here, one after another, or as one Celery task each on `queue` (the
    audit's) once the chunks are committed."""
    if inline:
        for chunk_id in chunk_ids:
            explain_chunk_run(chunk_id=chunk_id)
        return
    job_enqueue(task="explain_chunk_task", ids=chunk_ids, queue=queue)


def explain_chunk_run(*, chunk_id: int, heartbeat: bool = False) -> None:
    """Explain one chunk; the last chunk of an audit to finish writes the report.
    `heartbeat`: beat while working (a worker's task; not in-process runs)."""
    attempt = job_claim(job=ExplainChunk, job_id=chunk_id, audit__status=Audit.Status.RUNNING)
    if attempt is None:
        return  # a redelivered task, a re-planned audit, or an audit that has ended
    chunk = ExplainChunk.objects.select_related("audit__model", "audit__dataset", "audit__organisation",
                                                "audit__policy").get(pk=chunk_id)
    with job_heartbeat(job=ExplainChunk, job_id=chunk_id, attempt=attempt, enabled=heartbeat):
        result, status, error, inputs = _explain(chunk)
    if _chunk_store(chunk=chunk, status=status, result=result, error=error, attempt=attempt):
        audit_attempt = Audit.objects.values_list("attempts", flat=True).get(pk=chunk.audit_id)
        with job_heartbeat(job=Audit, job_id=chunk.audit_id, attempt=audit_attempt, enabled=heartbeat):
            audit_finish(audit_id=chunk.audit_id, inputs=inputs, attempt=audit_attempt)


def explain_chunk_abandon(*, chunk_id: int, attempt: int, reason: str) -> bool:
    """Fail a chunk whose worker stopped (the reconciler); True when it was the audit's
    last chunk, so the audit must now write its report."""
    chunk = ExplainChunk.objects.filter(pk=chunk_id).first()
    return chunk is not None and _chunk_store(chunk=chunk, status="failed", result=None, error=reason,
                                              attempt=attempt)


def _explain(chunk: ExplainChunk) -> tuple[dict | None, str, str, object]:
    """(result, status, error, the audit's inputs or None): the chunk's rows explained."""
    from django.conf import settings

    from explain.run import explain_chunk

    audit, inputs = chunk.audit, None
    try:
        inputs = audit_inputs(audit=audit)
        ctx = check_context(audit=audit, inputs=inputs, policy=audit.policy.as_dict(), resamples=1)
        options = {"lime_num_samples": settings.EXPLAIN_LIME_SAMPLES,
                   "shap_max_evals": settings.EXPLAIN_SHAP_EVALS, "ig_steps": settings.EXPLAIN_IG_STEPS,
                   "adaptive": settings.EXPLAIN_ADAPTIVE}
        plan = plan_on_this_worker(chunk.plan)
        result = explain_chunk(
            inputs.loaded, texts=ctx.texts, favourable_id=inputs.favourable_id,
            rows=[item["row"] for item in chunk.rows], groups=inputs.groups,
            labels=value_strings(inputs.frame[audit.config["label_column"]]), lexicon=ctx.lexicon or (),
            seed=int(audit.config["seed"]), options=options,
            perturb=perturbation_model(inputs.loaded, plan), plan=plan, processes=settings.EXPLAIN_PROCESSES,
        )
        return result, "done", "", inputs
    except Exception as exc:  # noqa: BLE001 - one failed chunk must not sink the audit
        log.exception("explanation chunk %s of audit %s failed", chunk.index, audit.pk)
        return None, "failed", f"{type(exc).__name__}: {exc}", inputs


def _chunk_store(*, chunk: ExplainChunk, status: str, result: dict | None, error: str, attempt: int) -> bool:
    """Store a chunk's outcome while `attempt` holds it; True for the one caller that must
    finish the audit."""
    with transaction.atomic():
        # The lock on the audit row serialises finishing chunks, so exactly one of
        # them sees no chunk still queued or running.
        Audit.objects.select_for_update().filter(pk=chunk.audit_id).first()
        stored = job_is_ours(job=ExplainChunk, job_id=chunk.pk, attempt=attempt).update(
            status=status, result=result, error=error)
        if not stored:
            return False  # re-queued and taken by another attempt, or ended: theirs to store
        chunks = list(ExplainChunk.objects.filter(audit_id=chunk.audit_id).only("rows", "status"))
        pending = [c for c in chunks if c.status in (QUEUED, RUNNING)]
        done = sum(len(c.rows) for c in chunks if c not in pending)
        Audit.objects.filter(pk=chunk.audit_id).update(progress_done=done, heartbeat_at=timezone.now())
        if pending:
            return False
        return Audit.objects.filter(pk=chunk.audit_id, stage="explain").update(stage="report") == 1
