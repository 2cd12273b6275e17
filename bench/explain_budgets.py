"""Every budget of SHAP and LIME (and IG step counts) on the same rows, for choosing a
stopping rule: per budget, the faithfulness of its explanations and their top-5 word
agreement with the full budget's, and where each candidate rule would stop.

    python bench/explain_budgets.py [--texts 10] [--source demo|madlib] [--ig-steps 8,16,32,50]

The budgets nest (explain.adaptive), so one pass costs about what the full budget
costs: SHAP runs each budget of explain.adaptive.budgets over all texts (the model
function's cache answers the smaller budgets' masks again); LIME draws each text's full
neighbourhood once and fits its ridge on the first rows at each budget, as lime_explain
does. Rules are then replayed on the recorded scores, no model calls.
"""
from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # before torch loads: see bench/audit_10k.py

import argparse  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

from common import setup  # noqa: E402

# isort: split
import numpy as np  # noqa: E402

import runtime  # noqa: E402
from audits import demo  # noqa: E402
from explain import adaptive  # noqa: E402
from explain.attribution import word_scores  # noqa: E402
from explain.engine import ModelFunction  # noqa: E402
from explain.faithfulness import faithfulness  # noqa: E402
from explain.methods.integrated_gradients import ig_explain  # noqa: E402
from explain.methods.lime_words import _attribution, _draw, _fit, classifier_fn  # noqa: E402
from explain.methods.shapley import shap_explain  # noqa: E402
from explain.tokens import word_units  # noqa: E402


def texts_for(source: str, loaded, n: int) -> list[str]:
    if source == "madlib":
        import importlib.util

        spec = importlib.util.spec_from_file_location("madlib", Path(__file__).with_name("madlib.py"))
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return [c["comment"] for c in module.madlib_comments(n, seed=1)]
    _, held = demo.demo_split(demo.load_frame(), seed=0, held_out=demo.RECIPE["held_out"])
    texts = held[demo.TEXT].astype(str).tolist()
    rows = sorted(np.random.default_rng(0).choice(len(texts), size=max(20, n), replace=False).tolist())[:n]
    return [texts[r] for r in rows]


def lime_by_budget(fn: ModelFunction, texts, budgets, seed: int = 0) -> dict[int, list]:
    predict = classifier_fn(fn)
    hoods = [_draw(t, seed, budgets[-1], fn.loaded.num_labels) for t in texts]
    answers = predict([s for h in hoods for s in h.strings])
    at = 0
    for h in hoods:
        h.all, at = answers[at:at + len(h.strings)], at + len(h.strings)
    out = {}
    for b in budgets:
        found = []
        for t, h in zip(texts, hoods, strict=True):
            h.answers, h.answered, h.previous, h.tried, h.stopped = [h.all[:b]], b, None, [], ""
            _fit(h, fn.favourable_id, b, budgets[-1])
            found.append(_attribution(fn, t, h, budgets[-1]))
            found[-1].extra["feature_weights"] = h.previous.tolist()  # what the stopping rule reads
        out[b] = found
    return out


def words_of(fn, attribution) -> np.ndarray:
    _, spans = word_units(fn.tokenizer, attribution.token_ids)
    return word_scores(attribution, spans)


def top5(scores) -> set[int]:
    return set(np.argsort(-np.abs(np.asarray(scores, dtype=float)), kind="stable")[:5].tolist())


def report(fn, name: str, by_budget: dict[int, list], source: str) -> None:
    """Per budget: mean comprehensiveness, sufficiency and top-5 word agreement with the largest."""
    full = by_budget[max(by_budget)]
    faithful = faithfulness(fn, {str(b): found for b, found in by_budget.items()})
    print(f"\n{name}: budget, comprehensiveness, sufficiency, top-5 word agreement with {max(by_budget)}")
    for b, found in by_budget.items():
        rows = [r for r in faithful[str(b)] if r]
        agree = [len(top5(words_of(fn, a)) & top5(words_of(fn, f))) / min(5, max(1, len(words_of(fn, a))))
                 for a, f in zip(found, full, strict=True)]
        print(f"  {b:5d} {np.mean([r['comprehensiveness'] for r in rows]):.4f} "
              f"{np.mean([r['sufficiency'] for r in rows]):.4f} {np.mean(agree):.3f}")
    np.save(f"/tmp/explain_budgets_{source}_{name}.npy", {
        "scores": {b: [list(a.scores) for a in found] for b, found in by_budget.items()},
        "comp": {b: [r and r["comprehensiveness"] for r in faithful[str(b)]] for b in by_budget},
        "features": {b: [a.extra.get("feature_weights") for a in found] for b, found in by_budget.items()},
        "words": {b: [words_of(fn, a).tolist() for a in found] for b, found in by_budget.items()},
    }, allow_pickle=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--texts", type=int, default=10)
    parser.add_argument("--source", default="demo")
    parser.add_argument("--ig-steps", default="")
    parser.add_argument("--methods", default="shap,lime")
    args = parser.parse_args()
    s = setup()
    texts = texts_for(args.source, s.loaded, args.texts)
    ids = runtime.tokenize(s.loaded, texts)
    lengths = [len(x) for x in ids]
    print(f"model: {s.which}; {len(texts)} {args.source} texts, {min(lengths)}-{max(lengths)} tokens "
          f"(mean {np.mean(lengths):.0f}); load {os.getloadavg()}")
    fn = ModelFunction(s.loaded, favourable_id=s.favourable_id)
    if "shap" in args.methods:
        started = time.process_time()
        shap = {b: shap_explain(fn, ids, max_evals=b) for b in adaptive.budgets(500)}
        print(f"SHAP every budget: {time.process_time() - started:.1f} CPU s, engine {fn.counters.as_dict()}")
        report(fn, "shap", shap, args.source)
    if "lime" in args.methods:
        started = time.process_time()
        lime = lime_by_budget(fn, texts, adaptive.budgets(1000))
        print(f"LIME every budget: {time.process_time() - started:.1f} CPU s")
        report(fn, "lime", lime, args.source)
    if args.ig_steps:
        ig = {}
        for steps in [int(x) for x in args.ig_steps.split(",")]:
            started = time.process_time()
            ig[steps] = ig_explain(s.loaded, ids, favourable_id=s.favourable_id, steps=steps, fn=fn)
            deltas = [abs(a.extra["convergence_delta"]) / max(1e-9, abs(a.predicted - a.base_value)) for a in ig[steps]]
            print(f"IG {steps} steps: {time.process_time() - started:.1f} CPU s; |delta| / |f(x) - f(b)| "
                  f"median {np.median(deltas):.3f}, max {np.max(deltas):.3f}")
        report(fn, "ig", ig, args.source)
    print(f"load after {os.getloadavg()}")


if __name__ == "__main__":
    main()
