"""Benchmark: the faithfulness suite in one batched, deduplicated call against one forward at a time.

Run from the repository root: `python bench/explain_faithfulness.py [--texts N] [--repeats R]`.

Both sides score the same explanations (SHAP, LIME, IG and attention of the same texts,
made once beforehand and not timed) with ERASER comprehensiveness and sufficiency over
the bins 1, 5, 10, 20, 50 %. Naive recomputes each forward per explainer, the
straightforward way (tests/explain/test_faithfulness.py's `_naive`): per method and
example, p(x) and then every perturbed input, each its own `predict_token_ids` call.
Ours is `explain.faithfulness.faithfulness` with a fresh ModelFunction (a cold cache:
in an audit the originals are already cached, so this is the conservative figure):
every input of every method in one call, each distinct sequence run once. The
equivalence figure is the largest |AOPC difference| over methods, examples and both
measures. Goal (issue 4): >= 3x; reported, not asserted.
"""
from __future__ import annotations

import argparse
import math

from common import header, race, sample_texts, setup, verdict

# isort: split
# (common sets up Django; everything below may need it)
import numpy as np

import runtime
from explain.attribution import word_scores
from explain.engine import ModelFunction
from explain.faithfulness import BINS, faithfulness
from explain.methods import attention_explain, ig_explain, lime_explain, shap_explain
from explain.tokens import word_units

GOAL = 3.0


def naive_one(loaded, attribution, label: int) -> dict | None:
    """ERASER by hand for one explanation: rank words, one forward per perturbed input."""
    ids = attribution.token_ids
    _, spans = word_units(loaded.tokenizer, ids)
    if not spans:
        return None
    p = runtime.predict_token_ids(loaded, [ids])[0]
    direction = 1 if int(p.argmax()) == label else -1
    scores = word_scores(attribution, spans)
    key = direction * scores if attribution.signed else scores
    order = sorted(range(len(spans)), key=lambda w: (-key[w], w))
    every = {q for span in spans for q in range(*span)}
    comps, suffs = [], []
    for fraction in BINS:
        k = min(len(spans), max(1, math.ceil(fraction * len(spans) - 1e-9)))
        top = {q for w in order[:k] for q in range(*spans[w])}
        without = [t for q, t in enumerate(ids) if q not in top]
        only = [t for q, t in enumerate(ids) if q not in every or q in top]
        comps.append(direction * (p[label] - runtime.predict_token_ids(loaded, [without])[0, label]))
        suffs.append(direction * (p[label] - runtime.predict_token_ids(loaded, [only])[0, label]))
    return {"comprehensiveness": float(np.mean(comps)), "sufficiency": float(np.mean(suffs))}


def naive_suite(loaded, attributions, label: int) -> dict[str, list]:
    return {m: [naive_one(loaded, a, label) for a in items] for m, items in attributions.items()}


def ours_suite(s, attributions):
    fn = ModelFunction(s.loaded, favourable_id=s.favourable_id)
    return faithfulness(fn, attributions), fn


def explanations(s, texts, ids) -> dict:
    """Every method's explanations, at light settings: the suite's cost does not depend on them."""
    fn = ModelFunction(s.loaded, favourable_id=s.favourable_id)
    return {
        "shap": shap_explain(fn, ids, max_evals=200),
        "lime": lime_explain(fn, texts, num_samples=300),
        "ig": ig_explain(s.loaded, ids, favourable_id=s.favourable_id, steps=20, fn=fn),
        "attention": attention_explain(s.loaded, ids, favourable_id=s.favourable_id, fn=fn),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--texts", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    s = setup()
    texts, ids, described = sample_texts(s.loaded, args.texts, seed=args.seed)
    header("Faithfulness suite (ERASER AOPC, 4 methods x 5 bins)", s, described, args.repeats)
    print("explanations: SHAP max_evals 200, LIME 300 samples, IG 20 steps, attention rollout (made once, untimed)")
    attributions = explanations(s, texts, ids)

    warm = {m: items[:1] for m, items in attributions.items()}
    naive_suite(s.loaded, warm, s.favourable_id)
    ours_suite(s, warm)

    seconds, results = race({
        "naive": lambda: naive_suite(s.loaded, attributions, s.favourable_id),
        "ours": lambda: ours_suite(s, attributions),
    }, args.repeats)
    naive, (ours, fn) = results["naive"], results["ours"]
    diff, compared = 0.0, 0
    for method in attributions:
        for theirs, mine in zip(naive[method], ours[method], strict=True):
            if theirs is None or mine is None:
                assert theirs is mine, "one side scored an example the other could not"
                continue
            for measure in ("comprehensiveness", "sufficiency"):
                diff = max(diff, abs(theirs[measure] - mine[measure]))
                compared += 1
    c = fn.counters
    print()
    print(f"engine (ours, last repeat): {c.inputs} inputs asked, {c.unique_forwards} distinct forwards "
          f"({100 * c.unique_forwards / max(1, c.inputs):.0f} %) in {c.calls} calls; naive runs all {c.inputs}, one per call")
    verdict(seconds["naive"], seconds["ours"], GOAL, f"max |AOPC_ours - AOPC_naive| = {diff:.2e} over {compared} figures")


if __name__ == "__main__":
    main()
