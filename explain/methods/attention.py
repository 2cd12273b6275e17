"""Attention: the model's own attention maps, and attention rollout from [CLS].

Rollout (Abnar & Zuidema 2020) follows attention through the layers: each layer's
heads are averaged, the residual connection is modelled as 0.5 I + 0.5 A (rows still
sum to 1), and the layers are multiplied, last to first. Row 0 of the product is how
much of [CLS]'s final representation traces back to each input position; that is the
per-token score. Scores are shares, never negative, and say nothing about direction:
the Attribution is marked `signed: False`.

Returning attention maps needs the "eager" attention implementation; the model is
switched for the forward pass and switched back. Eager and SDPA compute the same
function, so a prediction made elsewhere meanwhile is still right, only slower.

Texts are batched, padded with an attention mask; padded keys get exactly zero
attention, so cropping a padded map to the text gives the text's own map.
"""
from __future__ import annotations

from collections.abc import Sequence
from contextlib import contextmanager

import numpy as np
import torch

import runtime
from explain.attribution import Attribution
from explain.engine import ModelFunction
from explain.tokens import token_units


@contextmanager
def eager_attention(model):
    previous = model.config._attn_implementation
    if previous != "eager":
        model.set_attn_implementation("eager")
    try:
        yield
    finally:
        if previous != "eager":
            model.set_attn_implementation(previous)


def rollout(layers: Sequence[np.ndarray]) -> np.ndarray:
    """Attention rollout of per-layer maps, each (heads, n, n); rows of the result sum to 1."""
    n = layers[0].shape[-1]
    result = np.eye(n)
    for attention in layers:
        mixed = 0.5 * attention.mean(axis=0) + 0.5 * np.eye(n)
        mixed /= mixed.sum(axis=-1, keepdims=True)
        result = mixed @ result
    return result


def attention_explain(
    loaded: runtime.LoadedModel,
    ids_list: Sequence[Sequence[int]],
    *,
    favourable_id: int | None = None,
    batch_size: int = 16,
    matrix_tokens: int = 16,
    heatmap_tokens: int = 40,
    fn: ModelFunction | None = None,
) -> list[Attribution]:
    """Rollout scores per token, plus compact maps in `extra`.

    extra["attention"]: per layer and head, the map over the first `matrix_tokens`
    positions and the full row from [CLS]; extra["heatmap"]: the rollout over the first
    `heatmap_tokens` positions, with their token labels (for explain.html). `predicted`
    is the probability of `fn`'s favourable label, else of `favourable_id`, else of the
    last label (the positive class by convention).
    """
    if fn is None:
        fn = ModelFunction(loaded, favourable_id=loaded.num_labels - 1 if favourable_id is None else favourable_id)
    model = loaded.model
    tokenizer = loaded.tokenizer
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    ids_list = [[int(i) for i in ids] for ids in ids_list]
    predicted = fn(ids_list) if ids_list else np.zeros(0)
    maps: list[list[np.ndarray]] = [None] * len(ids_list)  # type: ignore[list-item]
    order = sorted(range(len(ids_list)), key=lambda i: len(ids_list[i]))
    runtime.set_threads()
    with eager_attention(model), torch.inference_mode():
        for start in range(0, len(order), batch_size):
            chunk = order[start : start + batch_size]
            width = max(len(ids_list[i]) for i in chunk)
            inputs = torch.full((len(chunk), width), pad, dtype=torch.long)
            mask = torch.zeros((len(chunk), width), dtype=torch.long)
            for row, i in enumerate(chunk):
                inputs[row, : len(ids_list[i])] = torch.tensor(ids_list[i])
                mask[row, : len(ids_list[i])] = 1
            out = model(input_ids=inputs, attention_mask=mask, output_attentions=True)
            if not out.attentions:
                raise RuntimeError("This model does not return attention maps.")
            stacked = torch.stack(out.attentions, dim=1).float().numpy()  # (B, L, H, W, W)
            for row, i in enumerate(chunk):
                n = len(ids_list[i])
                maps[i] = [layer[:, :n, :n].astype(np.float64) for layer in stacked[row]]

    results = []
    for i, ids in enumerate(ids_list):
        layers = maps[i]
        rolled = rollout(layers)
        tokens, spans = token_units(tokenizer, ids)
        labels = tokenizer.convert_ids_to_tokens(ids)
        k, h = min(matrix_tokens, len(ids)), min(heatmap_tokens, len(ids))
        results.append(Attribution(
            tokens=tokens,
            token_ids=ids,
            scores=[float(rolled[0, a]) for a, _ in spans],
            base_value=None,
            predicted=float(predicted[i]),
            extra={
                "unit": "token", "spans": [list(s) for s in spans], "signed": False,
                "layers": len(layers), "heads": int(layers[0].shape[0]),
                # Rollout mass [CLS] keeps on special tokens; the token scores are the rest.
                "special_share": float(1.0 - sum(rolled[0, a] for a, _ in spans)),
                "attention": {
                    "tokens": labels[:k],
                    "matrices": [[_rounded(head[:k, :k], 3) for head in layer] for layer in layers],
                    "cls": [[_rounded(head[0], 4) for head in layer] for layer in layers],
                },
                "heatmap": {"kind": "rollout", "tokens": labels[:h], "matrix": _rounded(rolled[:h, :h], 4)},
            },
        ))
    return results


def _rounded(array: np.ndarray, digits: int) -> list:
    return np.round(array, digits).tolist()
