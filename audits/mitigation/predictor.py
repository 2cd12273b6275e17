"""The part of the parent model that mitigation trains, and saving the result.

With the encoder frozen only the `classifier` head trains, on pooled encoder outputs
computed once (runtime.classifier_inputs): an epoch is then a few small matrix products.
With `unfreeze_layers` N > 0 the top N encoder layers (and whatever sits between them
and the head, e.g. BERT's pooler) train too, and every batch runs the whole model.
The parent's loaded model is shared through the runtime's cache, so training always
works on a deep copy.
"""
from __future__ import annotations

import copy
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

import runtime

# Everything in a model folder that is not weights or config: copied from the parent.
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "vocab.txt", "vocab.json", "merges.txt",
                   "special_tokens_map.json", "added_tokens.json", "spiece.model", "sentencepiece.bpe.model")


@dataclass
class Predictor:
    model: nn.Module
    params: list[nn.Parameter]
    forward: object  # Callable[[torch.Tensor], torch.Tensor]: row indices -> logits


def encoder_layers(model: nn.Module) -> nn.ModuleList:
    base = model.base_model
    for path in ("encoder.layer", "transformer.layer", "encoder.layers", "layers"):
        obj = base
        for part in path.split("."):
            obj = getattr(obj, part, None)
        if isinstance(obj, nn.ModuleList):
            return obj
    raise ValueError(f"Cannot find the encoder layers of {type(model).__name__}; use unfreeze_layers 0.")


def head_predictor(loaded: runtime.LoadedModel, features: torch.Tensor) -> Predictor:
    """Only the classifier head trains, on cached pooled features."""
    model = copy.deepcopy(loaded.model).eval()
    for p in model.parameters():
        p.requires_grad_(False)
    head = model.classifier
    params = list(head.parameters())
    for p in params:
        p.requires_grad_(True)
    return Predictor(model, params, lambda idx: head(features[idx]))


def unfrozen_predictor(loaded: runtime.LoadedModel, ids: Sequence[Sequence[int]], layers: int) -> Predictor:
    """The head, the top `layers` encoder layers and what lies between them, on token ids."""
    model = copy.deepcopy(loaded.model).eval()
    stack = encoder_layers(model)
    if layers > len(stack):
        raise ValueError(f"Option 'unfreeze_layers' is {layers} but the model has {len(stack)} layers.")
    for p in model.parameters():
        p.requires_grad_(False)
    trainable: list[nn.Module] = list(stack[len(stack) - layers:])
    base = model.base_model
    trainable += [m for name, m in model.named_children() if m is not base]
    # Modules of the base model after the encoder (BERT's pooler); not embeddings.
    trainable += [m for name, m in base.named_children() if name not in ("embeddings", "encoder", "transformer")]
    params: list[nn.Parameter] = []
    for module in trainable:
        for p in module.parameters():
            if not p.requires_grad:
                p.requires_grad_(True)
                params.append(p)

    def forward(idx: torch.Tensor) -> torch.Tensor:
        input_ids, mask = runtime.pad_token_ids(loaded, [ids[i] for i in idx.tolist()])
        return model(input_ids=input_ids, attention_mask=mask).logits

    return Predictor(model, params, forward)


def check_head_matches(loaded: runtime.LoadedModel, features: np.ndarray, probs: np.ndarray) -> None:
    """Refuse cached-feature training when the head on cached inputs does not reproduce
    the model's own outputs (a head that reads more than the first position)."""
    rows = slice(0, min(64, len(features)))
    with torch.inference_mode():
        again = torch.softmax(loaded.model.classifier(torch.from_numpy(features[rows])).float(), -1).numpy()
    if not np.allclose(again, probs[rows], atol=1e-4):
        raise ValueError(f"{type(loaded.model).__name__}'s classification head cannot be trained on cached "
                         "pooled outputs; set option 'unfreeze_layers' to 1 or more.")


def save_model(model: nn.Module, parent_folder: Path, folder: Path, provenance: dict) -> Path:
    """A Hugging Face folder: config + model.safetensors + the parent's tokenizer files."""
    folder.mkdir(parents=True, exist_ok=True)
    for p in model.parameters():
        p.requires_grad_(False)
    # Recorded in config.json so the folder says where it came from even outside the platform.
    model.config.mitigation = provenance
    model.save_pretrained(folder, safe_serialization=True)
    for name in TOKENIZER_FILES:
        if (parent_folder / name).is_file():
            shutil.copyfile(parent_folder / name, folder / name)
    return folder
