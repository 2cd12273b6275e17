"""Benchmark: SHAP through our engine against shap.Explainer on a transformers pipeline.

Run from the repository root: `python bench/explain_shap.py [--texts N] [--repeats R]`.

Naive use is shap's documented one for transformers: `shap.Explainer(pipeline)` with
its defaults (shap wraps the pipeline, picks a Text masker on its tokenizer, [MASK] as
the mask string, the Partition algorithm, max_evals 500, batch_size 50) called on the
list of texts; every masked string goes back through the pipeline, which re-tokenises
it and runs it alone. Ours is `explain.methods.shap_explain` (the same Partition
explainer and budget, masking token ids, through the batched, deduplicating
ModelFunction), a fresh ModelFunction every repeat. Both explain the favourable label.

The two do not mask identically (naive masks strings and re-tokenises them, ours masks
ids), so the values are not bit-equal; the equivalence figure is the Spearman rank
correlation of the token values, per text, averaged. Texts are a seeded sample of
held-out comments short enough not to be truncated (shap's masker does not truncate, the
model must). Goal (issue 4): >= 3x with rho >= 0.95; reported, not asserted.
"""
from __future__ import annotations

import argparse

from common import header, race, sample_texts, setup, verdict

# isort: split
# (common sets up Django; everything below may need it)
import numpy as np
import shap
from scipy.stats import spearmanr
from transformers import pipeline

from explain.engine import ModelFunction
from explain.methods.shapley import shap_explain
from explain.tokens import max_length

GOAL, RHO_GOAL = 3.0, 0.95


def naive_shap(pipe, texts, *, label: int, seed: int) -> list[np.ndarray]:
    """Token values (specials included) of `label`, shap.Explainer(pipeline) defaults."""
    explainer = shap.Explainer(pipe)
    np.random.seed(seed)  # Partition breaks ties with the global generator
    explanation = explainer(texts, silent=True)  # no progress bars; the algorithm is the default
    return [np.asarray(v)[:, label] for v in explanation.values]


def ours_shap(s, ids, *, seed: int):
    fn = ModelFunction(s.loaded, favourable_id=s.favourable_id)
    return [np.asarray(a.scores) for a in shap_explain(fn, ids, seed=seed)], fn


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--texts", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    s = setup()
    limit = max_length(s.loaded)
    texts, ids, described = sample_texts(s.loaded, args.texts, seed=args.seed, max_tokens=limit - 1)
    header("SHAP (Partition, max_evals 500)", s, described, args.repeats)
    pipe = pipeline("text-classification", model=s.loaded.model, tokenizer=s.loaded.tokenizer, top_k=None,
                    truncation=True, max_length=limit, device="cpu")

    warm_text = "you are a nice person and I like your edits"
    naive_shap(pipe, [warm_text], label=s.favourable_id, seed=0)
    ours_shap(s, [s.loaded.tokenizer(warm_text)["input_ids"]], seed=0)

    seconds, results = race({
        "naive": lambda: naive_shap(pipe, texts, label=s.favourable_id, seed=args.seed),
        "ours": lambda: ours_shap(s, ids, seed=args.seed),
    }, args.repeats)
    naive, (ours, fn) = results["naive"], results["ours"]

    rhos, mismatched = [], 0
    for theirs, mine in zip(naive, ours, strict=True):
        theirs = theirs[1:-1]  # [CLS] and [SEP] (kept by both maskers, valued 0)
        if len(theirs) != len(mine):
            mismatched += 1  # re-tokenised differently: no position-wise ranking to compare
            continue
        if len(mine) >= 2 and np.ptp(mine) > 0 and np.ptp(theirs) > 0:
            rhos.append(float(spearmanr(mine, theirs).statistic))
    c = fn.counters
    print()
    print(f"engine (ours, last repeat): {c.inputs} masked inputs asked, {c.unique_forwards} distinct forwards "
          f"({100 * c.unique_forwards / max(1, c.inputs):.0f} %)")
    rho = float(np.mean(rhos)) if rhos else float("nan")
    verdict(seconds["naive"], seconds["ours"], GOAL,
            f"mean Spearman rho (ours vs naive token values) = {rho:.3f} over {len(rhos)} texts, "
            f"min {min(rhos, default=float('nan')):.3f} (goal >= {RHO_GOAL}: {'met' if rho >= RHO_GOAL else 'MISSED'}); "
            f"texts whose token counts differ: {mismatched}")


if __name__ == "__main__":
    main()
