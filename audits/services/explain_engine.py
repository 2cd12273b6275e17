"""Which model an audit's explanations perturb: the audited one, or a faster copy of it
where the two agree on the audit's rows.

SHAP's masked inputs and LIME's neighbours are most of an audit's model time. Two copies
run them faster on a CPU, but neither is the audited model, so one stands in only with
evidence:

- "int8": encoder Linears in int8 with fixed input ranges (runtime.int8_ranges), 2-2.5x
  faster with fbgemm on AVX-512 VNNI;
- "bf16": encoder Linears multiplying in bfloat16 (runtime.bf16_linears), 1.6x faster
  on a CPU with native bfloat16 (AVX512-BF16 or AMX), and refused elsewhere.

They are tried in that order (the faster first). A copy's predicted labels must agree with
the audited model's on the audit's rows (all of them, or a seeded sample of
AGREEMENT_ROWS) with the lower end of the 95 % Wilson interval at or above
settings.EXPLAIN_STANDIN_AGREEMENT (99.5 %). The rows are predicted in blocks, and a copy
is refused as soon as its disagreements already exceed what could still pass on the whole
sample (a copy that fails fails fast; a pass always needs the whole sample, so stopping
early never makes a pass easier; an audit too small to pass tries none). If neither copy passes, and for models they cannot take
(a prompted decoder, a GPU worker, bfloat16 weights), the audited model runs everything.
Predictions, Integrated Gradients (it needs gradients), attention and the faithfulness
suite always run on the audited model, so every faithfulness figure is its own.

The plan is decided once per audit, when its chunks are planned, and stored with each
chunk (ExplainChunk.plan): the int8 ranges are plain numbers, so every worker rebuilds the
same copy.
"""
from __future__ import annotations

import numpy as np
import torch

import runtime
from audits.checks.confidence import wilson
from runtime.bf16_linears import bf16_copy, native_bf16
from runtime.int8_ranges import calibrate_ranges, int8_with_ranges

AGREEMENT_ROWS = 4000
CALIBRATION_ROWS = 128
BLOCK_ROWS = 250  # rows predicted between two looks at the disagreements
NAMES = {"int8": "int8 copy", "bf16": "bfloat16 copy"}


def perturbation_plan(*, loaded: runtime.LoadedModel, texts: list[str], probs: np.ndarray, seed: int) -> dict:
    """{"model": "int8", "bf16" or "audited", "reason": in words, "tried": what each copy
    tried showed; for the copy chosen (or the last one measured) "agreement", "agreeing",
    "rows", "interval", "threshold", "sampled", and for an int8 copy used its "ranges"}."""
    from django.conf import settings

    enabled = [name for name, on in (("int8", settings.EXPLAIN_INT8), ("bf16", settings.EXPLAIN_BF16)) if on]
    if not enabled:
        return {"model": "audited", "reason": "EXPLAIN_INT8 and EXPLAIN_BF16 are off."}
    refused = _unquantisable(loaded)
    if refused:
        return {"model": "audited", "reason": refused}
    rng = np.random.default_rng(seed)
    rows = np.sort(rng.permutation(len(texts))[:AGREEMENT_ROWS])
    threshold = float(settings.EXPLAIN_STANDIN_AGREEMENT)
    if allowed_disagreements(len(rows), threshold) < 0:  # measuring could not change the answer
        low, high = (float(v) for v in wilson(len(rows), len(rows)))
        return {"model": "audited", "rows": len(rows), "sampled": len(rows) < len(texts),
                "interval": [low, high], "threshold": threshold,
                "reason": (f"Only {len(rows)} rows: even all of them agreeing would leave the lower end of the "
                           f"95 % interval at {low:.1%}, below {threshold:.1%}, so no faster copy was tried "
                           "and the audited model ran every input.")}
    ids = runtime.tokenize(loaded, [texts[r] for r in rows])
    labels = np.asarray(probs)[rows].argmax(axis=1)
    tried, reasons, last = [], [], {}
    for name in enabled:
        copy, extra, why_not = _candidate(name, loaded, ids, rng)
        if copy is None:
            tried.append({"model": name, "refused": why_not})
            reasons.append(why_not)
            continue
        last = {**_agreement(copy, ids, labels, threshold), "sampled": len(rows) < len(texts)}
        tried.append({"model": name, **last})
        if last["interval"][0] >= threshold:
            return {"model": name, **last, **extra, "tried": tried, "reason": " ".join(reasons + [(
                f"The {NAMES[name]} predicted the audited model's label on {_counted(last)}, at or above "
                f"{threshold:.1%}, so it ran SHAP's and LIME's perturbed inputs; predictions, Integrated "
                "Gradients, attention and faithfulness ran on the audited model.")])}
        reasons.append(f"The {NAMES[name]} predicted the audited model's label on {_counted(last)}, "
                       f"below {threshold:.1%}.")
    return {"model": "audited", **last, "tried": tried,
            "reason": " ".join(reasons + ["So the audited model ran every input."])}


def _candidate(name: str, loaded: runtime.LoadedModel, ids: list[list[int]], rng) -> tuple:
    """(the copy or None, what the plan must keep to rebuild it, why there is none)."""
    if name == "bf16":
        if not native_bf16():
            return None, {}, "This CPU has no native bfloat16 (AVX512-BF16 or AMX), so no bfloat16 copy was tried."
        return bf16_copy(loaded), {}, ""
    calibration = [ids[i] for i in rng.permutation(len(ids))[:CALIBRATION_ROWS]]
    try:
        ranges = calibrate_ranges(loaded, calibration + _masked_halves(loaded, calibration, rng))
        return int8_with_ranges(loaded, ranges), {"ranges": ranges}, ""
    except (ValueError, RuntimeError) as exc:  # an architecture the int8 copy cannot take
        return None, {}, f"No int8 copy of this model could be built ({exc})."


def _agreement(copy: runtime.LoadedModel, ids: list[list[int]], labels: np.ndarray, threshold: float) -> dict:
    """The copy's label agreement on `ids`, predicted block by block until done or
    beyond passing."""
    n = len(ids)
    allowed = allowed_disagreements(n, threshold)
    agreeing = done = 0
    for start in range(0, n, BLOCK_ROWS):
        block = runtime.predict_token_ids(copy, ids[start:start + BLOCK_ROWS]).argmax(axis=1)
        agreeing += int((block == labels[start:start + BLOCK_ROWS]).sum())
        done += len(block)
        if done - agreeing > allowed:
            break
    low, high = (float(v) for v in wilson(agreeing, done))
    if done < n:  # refused early: the interval over the whole sample can only be lower
        low, high = (float(v) for v in wilson(agreeing + (n - done), n))
    return {"agreement": agreeing / done, "agreeing": agreeing, "rows": done, "sample": n,
            "interval": [low, high], "threshold": threshold, "stopped_early": done < n}


def allowed_disagreements(n: int, threshold: float) -> int:
    """The most disagreements among `n` rows whose Wilson interval still starts at or above
    `threshold` (-1 when even none would not)."""
    worst = -1
    for wrong in range(n + 1):
        if float(wilson(n - wrong, n)[0]) < threshold:
            break
        worst = wrong
    return worst


def _counted(measured: dict) -> str:
    rows, sample = measured["rows"], measured["sample"]
    low, high = measured["interval"]
    if measured["stopped_early"]:
        return (f"{measured['agreeing']} of the first {rows} of {sample} sampled rows ({measured['agreement']:.1%}; "
                f"even agreeing on the rest would leave the 95 % interval at {low:.1%} to {high:.1%})")
    return (f"{measured['agreeing']} of {rows} rows ({measured['agreement']:.1%}, "
            f"95 % interval {low:.1%} to {high:.1%})")


def perturbation_model(loaded: runtime.LoadedModel, plan: dict | None) -> runtime.LoadedModel | None:
    """The copy a plan chose (None: the audited model runs everything)."""
    model = (plan or {}).get("model")
    if model == "int8":
        return int8_with_ranges(loaded, plan["ranges"])
    if model == "bf16":
        return bf16_copy(loaded)
    return None


def plan_on_this_worker(plan: dict | None) -> dict | None:
    """The stored plan, or None where this worker has the chosen copy switched off (then
    the audited model runs everything, and the result says so)."""
    from django.conf import settings

    model = (plan or {}).get("model")
    if (model == "int8" and not settings.EXPLAIN_INT8) or (model == "bf16" and not settings.EXPLAIN_BF16):
        return None
    return plan


def _unquantisable(loaded: runtime.LoadedModel) -> str:
    if loaded.kind != "classifier":
        return "Faster copies for explanations are for models with a classification head; this is a " + loaded.kind + "."
    weights = next(loaded.model.parameters())
    if weights.device.type != "cpu":
        return "Faster copies for explanations run on the CPU only; this worker runs models on " + str(weights.device) + "."
    if weights.dtype != torch.float32:
        return f"Faster copies for explanations need float32 weights; this model loaded as {weights.dtype}."
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
