"""The explanations stage of an audit: a sample of rows explained by every method."""
from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING

from audits.errors import BadInput
from audits.services.datasets import value_strings

if TYPE_CHECKING:
    from audits.checks import CheckContext
    from audits.models import Audit
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


def run_explanations(*, audit: Audit, inputs: AuditInputs, ctx: CheckContext, checks: list[dict],
                     progress=None) -> dict:
    """The "explanations" section: a sample of rows explained by every method, merged.

    Chunks run here, in this process, one after the other. (To fan out: one Celery
    task per chunk running explain_chunk, then a chord callback running explain_merge;
    a chunk's result is plain JSON and does not depend on the split.)
    """
    from django.conf import settings

    from explain.run import explain_chunk, explain_merge, split_rows
    from explain.sample import select_rows

    config = audit.config
    seed = int(config["seed"])
    selected = select_rows(
        probabilities=ctx.prob, labels=[bool(v) for v in ctx.y_true], groups=inputs.groups,
        counterfactual_rows=_counterfactual_rows(checks), size=int(config.get("explain") or 0), seed=seed,
    )
    reasons = {item["row"]: item["reason"] for item in selected}
    rows = [item["row"] for item in selected]
    options = {"lime_num_samples": settings.EXPLAIN_LIME_SAMPLES,
               "shap_max_evals": settings.EXPLAIN_SHAP_EVALS, "ig_steps": settings.EXPLAIN_IG_STEPS}
    total, done, results = len(rows), 0, []
    started = time.perf_counter()
    if progress:
        progress(0, total)
    for chunk in split_rows(rows, settings.EXPLAIN_CHUNK_ROWS):
        results.append(explain_chunk(
            inputs.loaded, texts=ctx.texts, favourable_id=inputs.favourable_id, rows=chunk,
            groups=inputs.groups, labels=value_strings(inputs.frame[config["label_column"]]),
            lexicon=ctx.lexicon or (), seed=seed, options=options,
        ))
        done += len(chunk)
        if progress:
            progress(done, total)
    merged = explain_merge(results)
    for example in merged["examples"]:
        example["reason"] = reasons.get(example["row"])
    log.info("explained %d rows of audit %s in %.1fs", total, audit.pk, time.perf_counter() - started)
    return merged
