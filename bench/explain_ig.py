"""Benchmark: Layer Integrated Gradients batched across texts against one text per captum call.

Run from the repository root: `python bench/explain_ig.py [--texts N] [--repeats R] [--steps S]`.

Naive use is captum's documented one, one text per call: `LayerIntegratedGradients(
forward, model.get_input_embeddings()).attribute(inputs, baselines, n_steps=50,
return_convergence_delta=True)` with a [1, L] input, the [PAD] baseline and all 50 steps
in one pass (captum's default internal batch). Ours is `explain.methods.ig_explain`:
length-sorted batches of texts in one captum call (4 texts x 50 steps by default), plus
f(x) and f(baseline) through a fresh ModelFunction (counted in our time). Both use the
same forward (softmax probability of the favourable label) and baseline, so the
attributions should agree to float32 rounding: the equivalence figure is the largest
|attribution difference| over every token of every text (goal 1e-5). Goal (issue 4):
>= 1.5x; reported, not asserted.
"""
from __future__ import annotations

import argparse

from common import header, race, sample_texts, setup, verdict

# isort: split
# (common sets up Django; everything below may need it)
import numpy as np
import torch
from captum.attr import LayerIntegratedGradients

from explain.engine import ModelFunction
from explain.methods.integrated_gradients import baseline_ids, ig_explain
from explain.tokens import special_ids

GOAL, DIFF_GOAL = 1.5, 1e-5


def naive_ig(loaded, ids_list, *, label: int, steps: int) -> list[np.ndarray]:
    """Per text: captum on a [1, L] input; per-position attributions summed over the embedding."""
    model = loaded.model

    def forward(input_ids, attention_mask):
        return torch.softmax(model(input_ids=input_ids, attention_mask=attention_mask).logits, dim=-1)[:, label]

    explainer = LayerIntegratedGradients(forward, model.get_input_embeddings())
    out = []
    for ids in ids_list:
        inputs = torch.tensor([ids])
        base = torch.tensor([baseline_ids(loaded.tokenizer, ids)])
        with torch.enable_grad():
            attributions, _delta = explainer.attribute(
                inputs=inputs, baselines=base, additional_forward_args=(torch.ones_like(inputs),),
                n_steps=steps, return_convergence_delta=True,
            )
        out.append(attributions.sum(dim=-1)[0].detach().double().numpy())
    return out


def ours_ig(s, ids_list, *, steps: int) -> list[np.ndarray]:
    fn = ModelFunction(s.loaded, favourable_id=s.favourable_id)
    return [np.asarray(a.scores) for a in ig_explain(s.loaded, ids_list, favourable_id=s.favourable_id,
                                                      steps=steps, fn=fn)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--texts", type=int, default=12)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    s = setup()
    texts, ids, described = sample_texts(s.loaded, args.texts, seed=args.seed)
    header(f"Layer Integrated Gradients, {args.steps} steps", s, described, args.repeats)

    warm = [s.loaded.tokenizer("you are a nice person")["input_ids"]]
    naive_ig(s.loaded, warm, label=s.favourable_id, steps=args.steps)
    ours_ig(s, warm, steps=args.steps)

    seconds, results = race({
        "naive": lambda: naive_ig(s.loaded, ids, label=s.favourable_id, steps=args.steps),
        "ours": lambda: ours_ig(s, ids, steps=args.steps),
    }, args.repeats)
    specials = special_ids(s.loaded.tokenizer)
    diff = 0.0
    for tokens, theirs, mine in zip(ids, results["naive"], results["ours"], strict=True):
        keep = [p for p, t in enumerate(tokens) if t not in specials]  # ours reports non-special tokens
        diff = max(diff, float(np.abs(theirs[keep] - mine).max()))
    verdict(seconds["naive"], seconds["ours"], GOAL,
            f"max |attribution_ours - attribution_naive| = {diff:.2e} over {sum(len(x) - 2 for x in ids)} tokens "
            f"(goal <= {DIFF_GOAL:g}: {'met' if diff <= DIFF_GOAL else 'MISSED'})")


if __name__ == "__main__":
    main()
