"""Training the top layers without recomputing the frozen ones, and LoRA for decoders.

With `unfreeze_layers` N up to the model's depth, the layers under the top N (or the
embeddings, when N is the depth) never change, so their output for each row is computed once (`lower_outputs`) and every
training step replays only the top: the cached hidden states replace the embeddings'
output and the layer stack is cut to its top N for the step (`cached_predictor`). The
model's own forward still builds the attention mask, runs the pooler and the head, so
nothing architecture-specific is re-implemented; `replay_matches` checks that the replay
reproduces the model's probabilities, and the caller trains on full passes otherwise.

Decoder models train low-rank adapters (peft's LoRA) on the top N layers' linear maps
instead of the layers themselves; the adapters are merged into the weights before the
folder is saved, so the saved model is a plain one of the parent's architecture.
"""
from __future__ import annotations

import copy
from collections.abc import Callable, Sequence

import numpy as np
import torch
from torch import nn
from transformers.models.auto.modeling_auto import (
    MODEL_FOR_CAUSAL_LM_MAPPING_NAMES,
    MODEL_FOR_MASKED_LM_MAPPING_NAMES,
)

import runtime
from runtime.padding import forward_logits

from .predictor import LAYER_PATHS, Predictor, encoder_layers, unfrozen_predictor

# Above this the cache would rather not live in memory (bytes of float32 hidden states).
CACHE_LIMIT_BYTES = 2 * 1024 ** 3


class _Stop(Exception):
    """Raised by the capture hook: nothing above the cached layer needs computing."""


def is_decoder(loaded: runtime.LoadedModel) -> bool:
    """A causal LM family (Llama, Qwen, GPT-2, OPT...): BERT-like encoders have causal LM
    heads too, so a family that also has a masked LM head is an encoder."""
    config = loaded.model.config
    return (config.model_type in MODEL_FOR_CAUSAL_LM_MAPPING_NAMES
            and config.model_type not in MODEL_FOR_MASKED_LM_MAPPING_NAMES
            and not getattr(config, "is_encoder_decoder", False))


def _stack_owner(model: nn.Module) -> tuple[nn.Module, str]:
    for path in LAYER_PATHS:
        *owner_path, name = path.split(".")
        owner = model.base_model
        for part in owner_path:
            owner = getattr(owner, part, None)
        if isinstance(getattr(owner, name, None), nn.ModuleList):
            return owner, name
    raise ValueError(f"Cannot find the layers of {type(model).__name__}.")


def can_cache(loaded: runtime.LoadedModel, layers: int) -> bool:
    """Encoders with an `embeddings` module, exact padded batches and frozen layers below."""
    model = loaded.model
    return (loaded.kind == "classifier" and not is_decoder(loaded) and runtime.batching(loaded).exact
            and isinstance(getattr(model.base_model, "embeddings", None), nn.Module)
            and 0 < layers <= len(encoder_layers(model)))


def lower_outputs(loaded: runtime.LoadedModel, ids: Sequence[Sequence[int]], layers: int,
                  progress: Callable[[int, int], None] | None = None, batch_size: int = 64) -> list | None:
    """Per row, the hidden states leaving the highest frozen layer at its real tokens
    ((tokens, hidden) float32); None when they would not fit CACHE_LIMIT_BYTES. With every
    layer trained, the embeddings' output is what stays fixed, and is cached."""
    model = loaded.model
    stack = encoder_layers(model)
    hidden = model.config.get_text_config().hidden_size
    if sum(len(r) for r in ids) * hidden * 4 > CACHE_LIMIT_BYTES:
        return None
    captured: list[torch.Tensor] = []

    def capture(_module, _args, output):
        captured.append((output[0] if isinstance(output, tuple) else output).detach().float())
        raise _Stop()

    out: list = [None] * len(ids)
    below = model.base_model.embeddings if layers == len(stack) else stack[len(stack) - layers - 1]
    handle = below.register_forward_hook(capture)
    try:
        for start in range(0, len(ids), batch_size):
            if progress:
                progress(start, len(ids))
            rows = list(range(start, min(start + batch_size, len(ids))))
            input_ids, mask = runtime.pad_token_ids(loaded, [ids[i] for i in rows])
            with torch.no_grad():
                try:
                    forward_logits(model, loaded.tokenizer, input_ids, mask)
                except _Stop:
                    pass
            states = captured.pop().cpu()
            for k, i in enumerate(rows):
                out[i] = states[k][mask[k].bool()].clone()
    finally:
        handle.remove()
    return out


def cached_predictor(loaded: runtime.LoadedModel, ids: Sequence[Sequence[int]], layers: int,
                     cache: list) -> Predictor:
    """unfrozen_predictor's trainable part (top layers, what runs after them, the head),
    run on the cached lower outputs: the stack is cut to its top `layers` for each step."""
    predictor = unfrozen_predictor(loaded, ids, layers)
    model = predictor.model
    owner, name = _stack_owner(model)
    full = getattr(owner, name)
    top = nn.ModuleList(list(full)[len(full) - layers:])
    embeddings = model.base_model.embeddings

    def forward(idx: torch.Tensor) -> torch.Tensor:
        rows = idx.tolist()
        input_ids, mask = runtime.pad_token_ids(loaded, [ids[i] for i in rows])
        states = torch.zeros(*mask.shape, cache[rows[0]].shape[-1])
        states[mask.bool()] = torch.cat([cache[i] for i in rows])
        handle = embeddings.register_forward_hook(lambda _m, _a, _o: states)
        setattr(owner, name, top)
        try:
            return forward_logits(model, loaded.tokenizer, input_ids, mask)
        finally:
            setattr(owner, name, full)
            handle.remove()

    return Predictor(model, predictor.params, forward)


def replay_matches(loaded: runtime.LoadedModel, predictor: Predictor, probs: np.ndarray, rows: int = 32) -> bool:
    """Whether the cached replay gives the model's own probabilities on the first rows.
    The tolerance is float32 rounding amplified by a head with large weights (the test
    models' least-squares head: 2e-4 seen), far below what a wrong replay changes."""
    idx = torch.arange(min(rows, len(probs)))
    with torch.no_grad():
        again = torch.softmax(predictor.forward(idx).float(), -1).numpy()
    return bool(np.allclose(again, probs[:len(idx)], atol=1e-3))


def lora_predictor(loaded: runtime.LoadedModel, ids: Sequence[Sequence[int]], layers: int, rank: int) -> Predictor:
    """LoRA adapters (rank `rank`, alpha 2 x rank) on every linear map of the top `layers`
    layers, the head trained whole; `finish` merges the adapters into the weights."""
    from peft import LoraConfig, get_peft_model

    model = copy.deepcopy(loaded.model).eval()
    stack = encoder_layers(model)
    if layers > len(stack):
        raise ValueError(f"Option 'unfreeze_layers' is {layers} but the model has {len(stack)} layers.")
    top = {id(m) for layer in list(stack)[len(stack) - layers:] for m in layer.modules()}
    targets = [name for name, m in model.named_modules() if isinstance(m, nn.Linear) and id(m) in top]
    head = runtime.classification_head(model)
    for p in model.parameters():
        p.requires_grad_(False)
    wrapped = get_peft_model(model, LoraConfig(r=rank, lora_alpha=2 * rank, lora_dropout=0.0, target_modules=targets))
    head_params = list(head.parameters())
    for p in head_params:
        p.requires_grad_(True)
    params = [p for n, p in wrapped.named_parameters() if "lora_" in n] + head_params

    def forward(idx: torch.Tensor) -> torch.Tensor:
        return runtime.forward_rows(loaded, [ids[i] for i in idx.tolist()], model=wrapped)

    return Predictor(model, params, forward, finish=lambda: wrapped.merge_and_unload())
