"""Running an audit's explanation chunks: here, or one Celery task each.

Several workers explain one audit side by side. There is no result backend: the
database joins the chunks. Each chunk stores its JSON result under a lock on the
audit row; the chunk that finds no other chunk still queued hands the audit on to
its report stage, exactly once (a conditional update on the audit's stage).
"""
from __future__ import annotations

import logging

from django.db import transaction

from audits.models import Audit, ExplainChunk
from audits.services.audit_inputs import audit_inputs, check_context
from audits.services.audit_report import audit_finish
from audits.services.columns import value_strings
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


def explain_chunk_run(*, chunk_id: int) -> None:
    """Explain one chunk; the last chunk of an audit to finish writes the report."""
    from django.conf import settings

    from explain.run import explain_chunk

    chunk = ExplainChunk.objects.select_related("audit__model", "audit__dataset", "audit__organisation",
                                                "audit__policy").filter(pk=chunk_id).first()
    if chunk is None or chunk.status != "queued" or chunk.audit.status != Audit.Status.RUNNING:
        return  # a redelivered task, a re-planned audit, or an audit that has ended
    audit = chunk.audit
    inputs = None
    try:
        inputs = audit_inputs(audit=audit)
        ctx = check_context(audit=audit, inputs=inputs, policy=audit.policy.as_dict(), resamples=1)
        options = {"lime_num_samples": settings.EXPLAIN_LIME_SAMPLES,
                   "shap_max_evals": settings.EXPLAIN_SHAP_EVALS, "ig_steps": settings.EXPLAIN_IG_STEPS}
        result = explain_chunk(
            inputs.loaded, texts=ctx.texts, favourable_id=inputs.favourable_id,
            rows=[item["row"] for item in chunk.rows], groups=inputs.groups,
            labels=value_strings(inputs.frame[audit.config["label_column"]]), lexicon=ctx.lexicon or (),
            seed=int(audit.config["seed"]), options=options,
        )
        status, error = "done", ""
    except Exception as exc:  # noqa: BLE001 - one failed chunk must not sink the audit
        log.exception("explanation chunk %s of audit %s failed", chunk.index, audit.pk)
        result, status, error = None, "failed", f"{type(exc).__name__}: {exc}"
    if _chunk_store(chunk=chunk, status=status, result=result, error=error):
        audit_finish(audit_id=audit.pk, inputs=inputs)


def _chunk_store(*, chunk: ExplainChunk, status: str, result: dict | None, error: str) -> bool:
    """Store a chunk's outcome; True for the one caller that must finish the audit."""
    with transaction.atomic():
        # The lock on the audit row serialises finishing chunks, so exactly one of
        # them sees no chunk still queued.
        Audit.objects.select_for_update().filter(pk=chunk.audit_id).first()
        ExplainChunk.objects.filter(pk=chunk.pk, status="queued").update(status=status, result=result, error=error)
        chunks = list(ExplainChunk.objects.filter(audit_id=chunk.audit_id).only("rows", "status"))
        done = sum(len(c.rows) for c in chunks if c.status != "queued")
        Audit.objects.filter(pk=chunk.audit_id).update(progress_done=done)
        if any(c.status == "queued" for c in chunks):
            return False
        return Audit.objects.filter(pk=chunk.audit_id, stage="explain").update(stage="report") == 1
