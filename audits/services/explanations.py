"""The explanations stage of an audit: a sample of rows explained by every method.

The rows are split into chunks, one `ExplainChunk` row and one Celery task each, so
several workers explain one audit side by side. There is no result backend: the
database joins the chunks. Each chunk stores its JSON result under a lock on the
audit row; the chunk that finds no other chunk still queued hands the audit on to
its report stage, exactly once (a conditional update on the audit's stage).
A chunk's result does not depend on the split (see explain.run), so the merged
section equals the one-process result.
"""
from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from django.db import transaction

from audits.errors import BadInput
from audits.models import Audit, ExplainChunk
from audits.services.datasets import value_strings

if TYPE_CHECKING:
    from audits.checks import CheckContext
    from audits.services.audits import AuditInputs

log = logging.getLogger(__name__)
MAX_EXPLAIN_ROWS = 200


def explain_count(value) -> int:
    """How many rows to explain: a whole number from 0 (none) up to MAX_EXPLAIN_ROWS."""
    if value in (None, ""):
        return 0
    try:
        # Through str: "4" and 4 pass; 2.5, True and lists do not.
        number = int(str(value))
    except ValueError as exc:
        raise BadInput(f"explain must be a whole number of rows, not {value!r}.") from exc
    if number < 0:
        raise BadInput(f"explain must be 0 or more rows, not {number}.")
    return min(number, MAX_EXPLAIN_ROWS)


def _counterfactual_rows(checks: list[dict]) -> list[int]:
    """Rows of the counterfactual check's examples, largest change first, each once."""
    found = [(abs(e.get("change") or 0.0), int(e["row"]))
             for check in checks if check.get("id") == "counterfactual"
             for e in (check.get("examples") or []) if isinstance(e, dict) and e.get("row") is not None]
    return list(dict.fromkeys(row for _, row in sorted(found, key=lambda f: (-f[0], f[1]))))


def explanations_plan(*, audit: Audit, inputs: AuditInputs, ctx: CheckContext, checks: list[dict]) -> list[int]:
    """Choose the rows to explain and store them as chunks; returns the chunk ids."""
    from django.conf import settings

    from explain.run import split_rows
    from explain.sample import select_rows

    selected = select_rows(
        probabilities=ctx.prob, labels=[bool(v) for v in ctx.y_true], groups=inputs.groups,
        counterfactual_rows=_counterfactual_rows(checks), size=int(audit.config.get("explain") or 0),
        seed=int(audit.config["seed"]),
    )
    reasons = {item["row"]: item["reason"] for item in selected}
    chunks = split_rows([item["row"] for item in selected], settings.EXPLAIN_CHUNK_ROWS)
    with transaction.atomic():
        # A redelivered audit task plans afresh.
        ExplainChunk.objects.filter(audit=audit).delete()
        created = ExplainChunk.objects.bulk_create(
            ExplainChunk(audit=audit, index=i, rows=[{"row": r, "reason": reasons[r]} for r in rows])
            for i, rows in enumerate(chunks)
        )
        Audit.objects.filter(pk=audit.pk).update(
            stage="explain", progress_done=0, progress_total=sum(len(c) for c in chunks))
    return [chunk.pk for chunk in created]


def explanations_dispatch(*, chunk_ids: list[int], inline: bool) -> None:
    """Run the chunks here, one after another, or as one Celery task each once the
    chunks are committed."""
    if inline:
        for chunk_id in chunk_ids:
            explain_chunk_run(chunk_id=chunk_id)
        return
    from audits.tasks import explain_chunk_task

    transaction.on_commit(lambda: [explain_chunk_task.delay(i) for i in chunk_ids])


def explain_chunk_run(*, chunk_id: int) -> None:
    """Explain one chunk; the last chunk of an audit to finish writes the report."""
    from django.conf import settings

    from audits.services.audits import audit_finish, audit_inputs, check_context
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


def explanations_merge(*, audit: Audit) -> dict | None:
    """The report's explanations section from the audit's stored chunks."""
    from explain.run import explain_merge

    chunks = list(ExplainChunk.objects.filter(audit=audit))
    if not chunks:
        return None
    done = [c.result for c in chunks if c.status == "done"]
    failed = [f"rows {', '.join(str(i['row']) for i in c.rows)}: {c.error}" for c in chunks if c.status != "done"]
    if not done:
        return {"error": "Every explanation chunk failed. " + "; ".join(failed)}
    merged = explain_merge(done)
    reasons = {item["row"]: item["reason"] for c in chunks for item in c.rows}
    for example in merged["examples"]:
        example["reason"] = reasons.get(example["row"])
    if failed:
        merged["failed_chunks"] = failed
    return merged
