"""Attention: the model's own attention maps, and attention rollout from [CLS].

Rollout (Abnar & Zuidema 2020) follows attention through the layers: each layer's
heads are averaged, the residual connection is modelled as 0.5 I + 0.5 A (rows still
sum to 1), and the layers are multiplied, last to first. The row of the position that
makes the prediction ([CLS]; for a prompted classifier the prompt's last token, whose
next-token distribution scores the labels: `runtime.model_input`) is how much of its
final representation traces back to each input position; that is the per-token score.
A prompted classifier runs its whole prompt, and only the text slot's tokens are
scored and shown. Scores are shares, never negative, and say nothing about direction:
the Attribution is marked `signed: False`.

Returning attention maps needs the "eager" attention implementation; the model is
switched for the forward pass and switched back. Eager and SDPA compute the same
function, so a prediction made elsewhere meanwhile is still right, only slower.

Texts are batched, padded with an attention mask as the runtime pads for the model
(runtime.pad_token_ids; one text at a time for a model whose batches are not exact);
padded keys get exactly zero attention, so cropping a padded map to the text's
positions gives the text's own map.
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
from runtime.device import model_device


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
    positions and the full row from [CLS] (the predicting position); extra["heatmap"]: the
    rollout over the first `heatmap_tokens` positions, with their token labels (for
    explain.html). Positions are those of `ids_list`, the text slot of a prompted
    classifier. `predicted`
    is the probability of `fn`'s favourable label, else of `favourable_id`, else of the
    last label (the positive class by convention).
    """
    if fn is None:
        fn = ModelFunction(loaded, favourable_id=loaded.num_labels - 1 if favourable_id is None else favourable_id)
    tokenizer = loaded.tokenizer
    ids_list = [[int(i) for i in ids] for ids in ids_list]
    predicted = fn(ids_list) if ids_list else np.zeros(0)
    inputs = [runtime.model_input(loaded, ids) for ids in ids_list]  # (whole input, text start, readout)
    maps = _attention_maps(loaded, [full for full, _, _ in inputs], batch_size)

    results = []
    for i, ids in enumerate(ids_list):
        _, start, readout = inputs[i]
        layers = maps[i]
        rolled = rollout(layers)
        tokens, spans = token_units(tokenizer, ids)
        labels = tokenizer.convert_ids_to_tokens(ids)
        k, h = min(matrix_tokens, len(ids)), min(heatmap_tokens, len(ids))
        text = slice(start, start + len(ids))
        results.append(Attribution(
            tokens=tokens,
            token_ids=ids,
            scores=[float(rolled[readout, start + a]) for a, _ in spans],
            base_value=None,
            predicted=float(predicted[i]),
            extra={
                "unit": "token", "spans": [list(s) for s in spans], "signed": False,
                "layers": len(layers), "heads": int(layers[0].shape[0]),
                # Rollout mass the predicting position keeps on special tokens (and on a
                # prompted classifier's prompt); the token scores are the rest.
                "special_share": float(1.0 - sum(rolled[readout, start + a] for a, _ in spans)),
                "attention": {
                    "tokens": labels[:k],
                    "matrices": [[_rounded(head[text, text][:k, :k], 3) for head in layer] for layer in layers],
                    "cls": [[_rounded(head[readout, text], 4) for head in layer] for layer in layers],
                },
                "heatmap": {"kind": "rollout", "tokens": labels[:h],
                            "matrix": _rounded(rolled[text, text][:h, :h], 4)},
            },
        ))
    return results


def _attention_maps(loaded: runtime.LoadedModel, sequences: list[list[int]], batch_size: int) -> list:
    """Per sequence, per layer, the (heads, n, n) attention map, from padded batches.

    The base model (the encoder or decoder stack without its head) is enough for
    attention maps, and a causal LM's head would compute logits over its whole
    vocabulary at every position for nothing.
    """
    model = loaded.model.base_model
    maps: list[list[np.ndarray]] = [None] * len(sequences)  # type: ignore[list-item]
    order = sorted(range(len(sequences)), key=lambda i: len(sequences[i]))
    runtime.set_threads()
    batch_size = runtime.batch_rows(loaded, batch_size)
    with eager_attention(loaded.model), torch.inference_mode():
        for first in range(0, len(order), batch_size):
            chunk = order[first : first + batch_size]
            # Padded on the side the runtime found exact for this model; rows read back by their mask.
            inputs, mask = runtime.pad_token_ids(loaded, [sequences[i] for i in chunk])
            device = model_device(model)
            out = model(input_ids=inputs.to(device), attention_mask=mask.to(device), output_attentions=True)
            if not out.attentions:
                raise RuntimeError("This model does not return attention maps.")
            stacked = torch.stack(out.attentions, dim=1).float().cpu().numpy()  # (B, L, H, W, W)
            real = mask.bool().numpy()
            for row, i in enumerate(chunk):
                keep = np.flatnonzero(real[row])
                maps[i] = [layer[:, keep][:, :, keep].astype(np.float64) for layer in stacked[row]]
    return maps


def _rounded(array: np.ndarray, digits: int) -> list:
    return np.round(array, digits).tolist()
