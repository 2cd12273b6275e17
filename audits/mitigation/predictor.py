"""The part of the parent model that mitigation trains, and saving the result.

With the encoder frozen only the classification head (`classifier`, a decoder's `score`)
trains, on pooled encoder outputs computed once (runtime.classifier_inputs): an epoch
is then a few small matrix products. With `unfreeze_layers` N > 0 the top N encoder
or decoder layers (and whatever runs between them and the head, e.g. BERT's pooler, a
decoder's final norm) train too, and every batch runs the whole model, padded as the
runtime pads it (runtime.forward_rows: a decoder without a pad id too).
The parent's loaded model is shared through the runtime's cache, so training always
works on a deep copy.
"""
from __future__ import annotations

import copy
import shutil
from collections.abc import Callable, Sequence
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
    # The model to save once trained (LoRA: the adapters merged in); None: `model` itself.
    finish: Callable[[], nn.Module] | None = None

    def trained_model(self) -> nn.Module:
        return self.finish() if self.finish is not None else self.model


# Where the stack of layers sits in a base model: encoders (BERT, DistilBERT, DeBERTa),
# decoders (Llama, Qwen, Mistral, Phi-3, Gemma, GPT-NeoX; GPT-2's h; OPT's decoder.layers).
LAYER_PATHS = ("encoder.layer", "transformer.layer", "encoder.layers", "layers", "h", "decoder.layers")


def encoder_layers(model: nn.Module) -> nn.ModuleList:
    for path in LAYER_PATHS:
        obj = model.base_model
        for part in path.split("."):
            obj = getattr(obj, part, None)
        if isinstance(obj, nn.ModuleList):
            return obj
    raise ValueError(f"Cannot find the encoder layers of {type(model).__name__}; use unfreeze_layers 0.")


def after_layers(model: nn.Module, run: Callable[[], object]) -> list[nn.Module]:
    """The modules of the base model that only run after its top layer (BERT's pooler, a
    decoder's final norm), found by watching `run` (one forward pass): the order modules
    are registered in does not tell (OPT registers its final norm before its layers,
    DeBERTa its relative-position embeddings after them)."""
    top = encoder_layers(model)[-1]
    seen_before: set[int] = set()
    after: dict[int, nn.Module] = {}
    state = {"top_done": False}

    def called(module, _args):
        if not state["top_done"]:
            seen_before.add(id(module))
        elif id(module) not in seen_before:
            after[id(module)] = module

    def finished(_module, _args, _output):
        state["top_done"] = True

    owners = [m for m in model.base_model.modules() if any(True for _ in m.parameters(recurse=False))]
    handles = [m.register_forward_pre_hook(called) for m in owners] + [top.register_forward_hook(finished)]
    try:
        with torch.no_grad():
            run()
    finally:
        for handle in handles:
            handle.remove()
    return list(after.values())


def head_predictor(loaded: runtime.LoadedModel, features: torch.Tensor) -> Predictor:
    """Only the classifier head trains, on cached pooled features."""
    model = copy.deepcopy(loaded.model).eval()
    for p in model.parameters():
        p.requires_grad_(False)
    head = runtime.classification_head(model)
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
    trainable += after_layers(model, lambda: runtime.forward_rows(loaded, [ids[0]], model=model))
    params: list[nn.Parameter] = []
    for module in trainable:
        for p in module.parameters():
            if not p.requires_grad:
                p.requires_grad_(True)
                params.append(p)

    def forward(idx: torch.Tensor) -> torch.Tensor:
        # Padded as the runtime pads for this model (a decoder without a pad id included).
        return runtime.forward_rows(loaded, [ids[i] for i in idx.tolist()], model=model)

    return Predictor(model, params, forward)


def check_head_matches(loaded: runtime.LoadedModel, features: np.ndarray, probs: np.ndarray) -> None:
    """Refuse cached-feature training when the head on cached inputs does not reproduce
    the model's own outputs (a head that reads more than the first position)."""
    rows = slice(0, min(64, len(features)))
    with torch.inference_mode():
        head = runtime.classification_head(loaded.model)
        again = torch.softmax(head(torch.from_numpy(features[rows])).float(), -1).numpy()
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
