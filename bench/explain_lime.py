"""Benchmark: LIME through our engine against LIME with a transformers pipeline as classifier_fn.

Run from the repository root: `python bench/explain_lime.py [--texts N] [--repeats R] [--samples S]`.

Naive use is the documented one: `LimeTextExplainer(...).explain_instance(text,
classifier_fn, ...)` with classifier_fn = a transformers text-classification pipeline
(default batch size) over LIME's perturbed strings. Ours is `explain.methods.lime_explain`
(the same explainer, same random_state, fed by the batched, deduplicating ModelFunction),
with a fresh ModelFunction every repeat so no cache carries over. Both sides get the same
explainer settings (explain.methods.lime_words.make_explainer), so the neighbourhoods are
identical and the weights should be too: the equivalence figure is the largest
|weight difference| over every word of every text. Texts are a seeded sample of the
demo's held-out comments of at most --max-tokens tokens (5,000 neighbours of a 256-token
comment take minutes a side here). Goal (issue 4): >= 5x; reported, not asserted.
"""
from __future__ import annotations

import argparse
import time

from common import header, race, sample_texts, setup, verdict

# isort: split
# (common sets up Django; everything below may need it)
import numpy as np
from transformers import pipeline

from explain.engine import ModelFunction
from explain.methods.lime_words import lime_explain, make_explainer
from explain.tokens import max_length

GOAL = 5.0


def pipeline_classifier(pipe, num_labels: int):
    """LIME's classifier_fn as naive use writes it: strings -> pipeline -> (n, labels) array."""
    label2id = {v: k for k, v in pipe.model.config.id2label.items()}

    def classify(strings):
        probs = np.zeros((len(strings), num_labels))
        for row, scores in enumerate(pipe(list(strings))):
            for item in scores:
                probs[row, label2id[item["label"]]] = item["score"]
        return probs
    return classify


def naive_lime(pipe, texts, *, label: int, num_labels: int, samples: int, seed: int):
    """(word weights per text, seconds per text)."""
    classify = pipeline_classifier(pipe, num_labels)
    out, took = [], []
    for text in texts:
        start = time.perf_counter()
        explanation = make_explainer(seed).explain_instance(
            text, classify, labels=(label,), num_features=10**6, num_samples=samples
        )
        indexed = explanation.domain_mapper.indexed_string
        out.append({indexed.word(f): w for f, w in explanation.as_map()[label]})
        took.append(time.perf_counter() - start)
    return out, took


def ours_lime(s, texts, *, samples: int, seed: int):
    """(word weights per text, seconds per text, the ModelFunction), one fresh function a run."""
    fn = ModelFunction(s.loaded, favourable_id=s.favourable_id)
    out, took = [], []
    for text in texts:
        start = time.perf_counter()
        [attribution] = lime_explain(fn, [text], num_samples=samples, seed=seed)
        # Words past the model's length limit are left out of ours (they have no
        # tokens); naive LIME weighs them too, so words both have are compared.
        out.append(dict(zip(attribution.tokens, attribution.scores, strict=True)))
        took.append(time.perf_counter() - start)
    return out, took, fn


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--texts", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--samples", type=int, default=5000, help="LIME num_samples (issue: 5,000)")
    parser.add_argument("--max-tokens", type=int, default=64)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    s = setup()
    texts, ids, described = sample_texts(s.loaded, args.texts, seed=args.seed, max_tokens=args.max_tokens)
    header(f"LIME, {args.samples} samples per text", s, described, args.repeats)
    pipe = pipeline("text-classification", model=s.loaded.model, tokenizer=s.loaded.tokenizer, top_k=None,
                    truncation=True, max_length=max_length(s.loaded), device="cpu")
    kwargs = {"samples": args.samples, "seed": args.seed}
    n = s.loaded.num_labels

    warm = ["you are a nice person and I like your edits"]
    naive_lime(pipe, warm, label=s.favourable_id, num_labels=n, samples=200, seed=0)
    ours_lime(s, warm, samples=200, seed=0)

    seconds, results = race({
        "naive": lambda: naive_lime(pipe, texts, label=s.favourable_id, num_labels=n, **kwargs),
        "ours": lambda: ours_lime(s, texts, **kwargs),
    }, args.repeats)
    (naive, naive_took), (ours, ours_took, fn) = results["naive"], results["ours"]

    diffs, missing = [], 0
    for mine, theirs in zip(ours, naive, strict=True):
        missing += len(set(theirs) - set(mine))
        diffs += [abs(w - theirs[word]) for word, w in mine.items()]
    c = fn.counters
    print()
    # lime_words' classifier_fn drops repeated strings before the model function sees them.
    drawn = len(texts) * args.samples
    print(f"engine (ours, last repeat): LIME drew {drawn} neighbours, {c.inputs} distinct strings reached the "
          f"model function, {c.unique_forwards} forward passes ({100 * c.unique_forwards / drawn:.0f} % of drawn)")
    print("per text (last repeat):")
    for tokens, weights, a, b in zip(ids, ours, naive_took, ours_took, strict=True):
        print(f"  {len(tokens):4d} tokens, {len(weights):3d} distinct words: naive {a:6.2f} s, ours {b:6.2f} s, {a / b:5.2f}x")
    verdict(seconds["naive"], seconds["ours"], GOAL,
            f"max |weight_ours - weight_naive| = {max(diffs):.2e} over {len(diffs)} word weights "
            f"(words only naive has, past the length limit: {missing})")


if __name__ == "__main__":
    main()
