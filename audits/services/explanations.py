"""The explanations stage of an audit: a sample of rows explained by every method.

Here the rows are chosen and split into chunks, one `ExplainChunk` row each, and the
chunks' results are merged into the report's section; audits.services.explain_chunks
runs the chunks. A chunk's result does not depend on the split (see explain.run), so
the merged section equals the one-process result.
"""
from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from django.db import transaction
from django.utils import timezone

from audits.errors import BadInput
from audits.models import Audit, ExplainChunk
from audits.services.explain_engine import perturbation_plan

if TYPE_CHECKING:
    from audits.checks import CheckContext
    from audits.services.audit_inputs import AuditInputs

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
    plan = perturbation_plan(loaded=inputs.loaded, texts=ctx.texts, probs=inputs.probs,
                             seed=int(audit.config["seed"])) if chunks else None
    with transaction.atomic():
        # A redelivered audit task plans afresh.
        ExplainChunk.objects.filter(audit=audit).delete()
        queued_at = timezone.now()  # the reconciler's reference until a worker takes a chunk
        created = ExplainChunk.objects.bulk_create(
            ExplainChunk(audit=audit, index=i, rows=[{"row": r, "reason": reasons[r]} for r in rows],
                         plan=plan, heartbeat_at=queued_at)
            for i, rows in enumerate(chunks)
        )
        Audit.objects.filter(pk=audit.pk).update(
            stage="explain", progress_done=0, progress_total=sum(len(c) for c in chunks))
    return [chunk.pk for chunk in created]


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
