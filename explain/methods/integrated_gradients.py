"""Integrated Gradients: captum's LayerIntegratedGradients on the input embeddings.

The path runs from a baseline that keeps the input's special tokens and puts [PAD] in
every other position ([CLS] [PAD] ... [PAD] [SEP], same length; [UNK] for a model that
reads its pad id, see `baseline_token`) to the input, in the word-embedding layer of the
tokens explained (`runtime.attribution_layer`: the model's input embeddings; for a
prompted classifier, those of the text slot only, so the prompt around the text is the
same at both ends of the path); position and segment embeddings are the same at both
ends, so all attribution lands on the tokens. Attributions are summed over the hidden
dimension; captum's convergence delta (sum of attributions minus f(input) -
f(baseline)) is in `extra["convergence_delta"]`.

Texts are explained in batches: padded to the batch's longest text with an attention
mask as the runtime pads for the model (runtime.pad_token_ids; one text at a time for a
model whose batches are not exact), so each text's integral is the same as alone;
captum evaluates the path points `internal_batch_size` rows at a time. A padded
position costs a full forward and backward pass (x steps) and buys nothing, so a text
joins a batch only while padding stays under PAD_SLACK of the batch's real tokens (a
20- and an 88-token text in one batch pay for 176 tokens instead of 108; on a CPU,
batching gains far less than that). The unit is the token (word piece).
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from captum.attr import LayerIntegratedGradients

import runtime
from explain.adaptive import ig_converged, ig_step_plan
from explain.attribution import Attribution
from explain.engine import ModelFunction
from explain.tokens import special_ids, token_units
from runtime.device import model_device
from runtime.padding import config_pad_id

# Padded positions allowed in a captum call, as a share of its real tokens.
PAD_SLACK = 0.1
# Padded tokens per forward-and-backward pass of path points: the pass keeps every layer's
# activations and attention weights (rows x heads x length^2) for the backward. Measured
# on the demo model, IG of four 256-token comments at 50 steps: peak RSS 8.6 GB with 200
# rows a pass, 2.0 GB with 6,400 tokens (25 rows), the same attributions; 10 madlib
# comments (mean 34 tokens) at 50 steps: 1,230 MB above the model's own RSS with 6,400
# tokens, 450 MB with 2,048, for 12 % more time (IG is about an eighth of the stage).
PATH_TOKENS = 2_048


def baseline_ids(tokenizer, ids: Sequence[int], token: int | None = None) -> list[int]:
    """The input with every non-special token replaced by `token` (by default [PAD])."""
    specials = special_ids(tokenizer)
    if token is None:
        token = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    return [int(i) if int(i) in specials else int(token) for i in ids]


def baseline_token(loaded: runtime.LoadedModel, probe: Sequence[int]) -> int:
    """[PAD] (else id 0), unless the model reads that id as more than an embedding.

    The path integrates over the embeddings only: everything else the model computes
    from the ids comes from the input's. Some models read their config's pad id
    elsewhere: decoder classifiers pool the last token that is not it, RoBERTa numbers
    positions around it. f(baseline) would then not be the start of the path and the
    attributions would not add up (a tiny Llama: convergence delta 0.75 at 128 steps).
    The `probe` row tells: its baseline run as ids, and the probe's ids run with the
    baseline's embeddings, must agree; if not, [UNK] (else [MASK], else another id)
    stands in for [PAD].
    """
    tokenizer, pad = loaded.tokenizer, config_pad_id(loaded.model)
    preferred = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    if preferred != pad or not probe:
        return preferred
    ids = torch.tensor([list(probe)])
    base = torch.tensor([baseline_ids(tokenizer, probe, preferred)])
    mask = torch.ones_like(ids)
    layer = runtime.attribution_layer(loaded)
    with torch.inference_mode():
        embedded = layer(base.to(model_device(loaded.model)))
        as_ids = runtime.class_probabilities(loaded, base, mask)
        handle = layer.register_forward_hook(lambda _module, _args, _out: embedded)
        try:
            as_path_start = runtime.class_probabilities(loaded, ids, mask)
        finally:
            handle.remove()
    if torch.allclose(as_ids, as_path_start, atol=1e-6):
        return preferred
    return next(c for c in (tokenizer.unk_token_id, tokenizer.mask_token_id, 0, 1) if c is not None and c != pad)


def ig_explain(
    loaded: runtime.LoadedModel,
    ids_list: Sequence[Sequence[int]],
    *,
    favourable_id: int,
    steps: int = 50,
    batch_size: int = 4,
    internal_batch_size: int = 200,
    fn: ModelFunction | None = None,
    adaptive: bool = False,
) -> list[Attribution]:
    """Layer IG attributions of the favourable probability, one Attribution per input.

    `batch_size` texts share one captum call (4 texts x 50 steps = one forward pass of
    200 rows by default; on CPU larger batches are memory-bound and no faster, on a GPU
    raise both); `fn` (optional) answers f(input) and f(baseline) from its cache.
    `adaptive`: steps from `steps / 8`, doubled for the texts whose convergence delta is
    still too large (explain.adaptive.ig_step_plan, ig_converged), `steps` the last try.
    """
    fn = fn or ModelFunction(loaded, favourable_id=favourable_id)
    tokenizer = loaded.tokenizer
    ids_list = [[int(i) for i in ids] for ids in ids_list]
    token = baseline_token(loaded, max(ids_list, key=len, default=[]))
    baselines = [baseline_ids(tokenizer, ids, token) for ids in ids_list]
    predicted = fn(ids_list) if ids_list else np.zeros(0)
    base_values = fn(baselines) if ids_list else np.zeros(0)

    def forward(input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        return runtime.class_probabilities(loaded, input_ids, attention_mask)[:, favourable_id]

    explainer = LayerIntegratedGradients(forward, runtime.attribution_layer(loaded))
    runtime.set_threads()
    rows: list[tuple[np.ndarray, float, int]] = [None] * len(ids_list)  # type: ignore[list-item]
    passes = [0] * len(ids_list)
    todo = list(range(len(ids_list)))
    for tried in ig_step_plan(steps, adaptive=adaptive):
        # Fewer steps, more texts a call: a call's path points stay near internal_batch_size
        # (a pass costs per call as well as per row, and a few large calls beat many small ones).
        texts = batch_size if tried >= steps else max(batch_size, internal_batch_size // tried)
        found = _integrate(explainer, loaded, ids_list, baselines, todo, tried, texts, internal_batch_size)
        for i, (summed, delta) in found.items():
            rows[i], passes[i] = (summed, delta, tried), passes[i] + tried
        todo = [i for i in todo if not ig_converged(found[i][1], predicted[i] - base_values[i])]
        if not todo:
            break

    results = []
    for i, ids in enumerate(ids_list):
        per_position, delta, used = rows[i]
        tokens, spans = token_units(tokenizer, ids)
        results.append(Attribution(
            tokens=tokens,
            token_ids=ids,
            scores=[float(per_position[a]) for a, _ in spans],
            base_value=float(base_values[i]),
            predicted=float(predicted[i]),
            extra={"unit": "token", "spans": [list(s) for s in spans], "steps": used, "max_steps": steps,
                   # Path points run forward and backward over every try.
                   "evaluations": passes[i],
                   "convergence_delta": delta,
                   # Special tokens equal the baseline, so their share is zero up to rounding.
                   "special_tokens_sum": float(per_position.sum() - sum(per_position[a] for a, _ in spans))},
        ))
    return results


def _integrate(explainer, loaded, ids_list, baselines, todo: Sequence[int], steps: int, batch_size: int,
               internal_batch_size: int) -> dict[int, tuple[np.ndarray, float]]:
    """Per text of `todo`: its attribution per position and convergence delta at `steps`."""
    found = {}
    # Length-sorted batches pad little; results go back by index.
    order = sorted(todo, key=lambda i: len(ids_list[i]))
    for chunk in _batches(order, [len(ids) for ids in ids_list], runtime.batch_rows(loaded, batch_size)):
        # Padded on the side the runtime found exact for this model; rows read back by their mask.
        inputs, mask = runtime.pad_token_ids(loaded, [ids_list[i] for i in chunk])
        base, _ = runtime.pad_token_ids(loaded, [baselines[i] for i in chunk])
        with torch.enable_grad():
            attributions, delta = explainer.attribute(
                inputs=inputs, baselines=base, additional_forward_args=(mask,),
                n_steps=steps, internal_batch_size=_path_rows(internal_batch_size, len(chunk), inputs.shape[1]),
                return_convergence_delta=True,
            )
        summed = attributions.sum(dim=-1).detach().double().numpy()
        real = mask.bool().numpy()
        for row, i in enumerate(chunk):
            found[i] = (summed[row, real[row]], float(delta[row]))
    return found


def _path_rows(internal_batch_size: int, texts: int, width: int) -> int:
    """Path points a pass: `internal_batch_size`, fewer for long texts (PATH_TOKENS), and
    at least one per text (captum's minimum)."""
    return max(texts, min(internal_batch_size, PATH_TOKENS // max(1, width)))


def _batches(order: Sequence[int], lengths: Sequence[int], batch_size: int) -> list[list[int]]:
    """Length-sorted `order` cut into batches of at most `batch_size` texts whose padding
    (rows x longest - real tokens) stays within PAD_SLACK of their real tokens."""
    batches: list[list[int]] = []
    current: list[int] = []
    real = 0
    for i in order:
        n = lengths[i]  # ascending: the joining text is the batch's longest
        if current and (len(current) >= batch_size or n * (len(current) + 1) > (1 + PAD_SLACK) * (real + n)):
            batches.append(current)
            current, real = [], 0
        current.append(i)
        real += n
    if current:
        batches.append(current)
    return batches
