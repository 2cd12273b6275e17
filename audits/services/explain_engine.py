"""Which model an audit's explanations perturb: the audited one, or its int8 copy where
the two agree on the audit's rows.

SHAP's masked inputs and LIME's neighbours are most of an audit's model time. An int8
copy with fixed input ranges (runtime.int8_ranges) runs them 2-2.5x faster on a CPU, but
it is not the audited model, so it stands in only with evidence: its predicted labels
agree with the audited model's on the audit's rows (all of them, or a seeded sample of
AGREEMENT_ROWS) with the lower end of the 95 % Wilson interval at or above
settings.EXPLAIN_INT8_AGREEMENT (99.5 %). Otherwise, and for models it cannot quantise
(a prompted decoder, a GPU worker, bfloat16 weights), the audited model runs them.
The predictions, Integrated Gradients (it needs gradients), attention and the
faithfulness suite always run on the audited model, so every faithfulness figure is the
audited model's own.

The plan is decided once per audit, when its chunks are planned, and stored with each
chunk (ExplainChunk.plan): the ranges are plain numbers, so every worker rebuilds the same
int8 model and a row's explanation still does not depend on its chunk.
"""
from __future__ import annotations

import numpy as np
import torch

import runtime
from audits.checks.confidence import wilson
from runtime.int8_ranges import calibrate_ranges, int8_with_ranges

AGREEMENT_ROWS = 2000
CALIBRATION_ROWS = 128


def perturbation_plan(*, loaded: runtime.LoadedModel, texts: list[str], probs: np.ndarray, seed: int) -> dict:
    """{"model": "int8" or "audited", "reason": in words, and for a measured int8 copy
    "agreement", "agreeing", "rows", "interval", "threshold" and (when used) "ranges"}."""
    from django.conf import settings

    if not settings.EXPLAIN_INT8:
        return {"model": "audited", "reason": "EXPLAIN_INT8 is off."}
    refused = _unquantisable(loaded)
    if refused:
        return {"model": "audited", "reason": refused}
    rng = np.random.default_rng(seed)
    rows = np.sort(rng.permutation(len(texts))[:AGREEMENT_ROWS])
    ids = runtime.tokenize(loaded, [texts[r] for r in rows])
    calibration = [ids[i] for i in rng.permutation(len(ids))[:CALIBRATION_ROWS]]
    try:
        ranges = calibrate_ranges(loaded, calibration + _masked_halves(loaded, calibration, rng))
        ours = runtime.predict_token_ids(int8_with_ranges(loaded, ranges), ids).argmax(axis=1)
    except (ValueError, RuntimeError) as exc:  # an architecture the int8 copy cannot take
        return {"model": "audited", "reason": f"No int8 copy of this model could be built ({exc})."}
    agreeing = int((ours == np.asarray(probs)[rows].argmax(axis=1)).sum())
    low, high = (float(v) for v in wilson(agreeing, len(rows)))
    threshold = float(settings.EXPLAIN_INT8_AGREEMENT)
    measured = {"agreement": agreeing / len(rows), "agreeing": agreeing, "rows": len(rows),
                "interval": [low, high], "threshold": threshold, "sampled": len(rows) < len(texts)}
    if low < threshold:
        return {"model": "audited", **measured,
                "reason": (f"The int8 copy predicted the audited model's label on {agreeing} of {len(rows)} "
                           f"rows ({agreeing / len(rows):.1%}, 95 % interval {low:.1%} to {high:.1%}); "
                           f"its lower end is below {threshold:.1%}, so the audited model ran every input.")}
    return {"model": "int8", **measured, "ranges": ranges,
            "reason": (f"The int8 copy predicted the audited model's label on {agreeing} of {len(rows)} "
                       f"rows ({agreeing / len(rows):.1%}, 95 % interval {low:.1%} to {high:.1%}, at or above "
                       f"{threshold:.1%}), so it ran SHAP's and LIME's perturbed inputs; predictions, "
                       "Integrated Gradients, attention and faithfulness ran on the audited model.")}


def perturbation_model(loaded: runtime.LoadedModel, plan: dict | None) -> runtime.LoadedModel | None:
    """The int8 copy a plan chose (None: the audited model runs everything)."""
    if not plan or plan.get("model") != "int8":
        return None
    return int8_with_ranges(loaded, plan["ranges"])


def _unquantisable(loaded: runtime.LoadedModel) -> str:
    if loaded.kind != "classifier":
        return "Int8 explanations are for models with a classification head; this is a " + loaded.kind + "."
    weights = next(loaded.model.parameters())
    if weights.device.type != "cpu":
        return "Int8 kernels run on the CPU only; this worker runs models on " + str(weights.device) + "."
    if weights.dtype != torch.float32:
        return f"Int8 explanations need float32 weights; this model loaded as {weights.dtype}."
    return ""


def _masked_halves(loaded: runtime.LoadedModel, ids: list[list[int]], rng) -> list[list[int]]:
    """Each calibration row with half its tokens (never the special ones) masked as SHAP
    masks them: the ranges must hold perturbed inputs too, not only whole texts."""
    from explain.methods.shapley import mask_id
    from explain.tokens import special_ids

    mask, specials = mask_id(loaded.tokenizer), special_ids(loaded.tokenizer)
    out = []
    for row in ids:
        inner = [i for i, token in enumerate(row) if token not in specials]
        hidden = set(rng.permutation(inner)[: len(inner) // 2].tolist()) if inner else set()
        out.append([mask if i in hidden else token for i, token in enumerate(row)])
    return out
