"""Distillation into a smaller student (Hinton et al. 2015; DistilBERT's layer choice).

The student is the parent's architecture with fewer layers, initialised from the parent:
its embeddings, head and an evenly spaced subset of its layers (for 6 -> 3, layers 0, 2
and 4, "every other layer"). It is trained on a training dataset's texts against

    alpha * T^2 * KL(softmax(teacher / T) || softmax(student / T)) + (1 - alpha) * CE(student, label)

The teacher's logits are the log of the parent's probabilities from the runtime (a
constant shift per row, which the softmax ignores), so the parent runs once, batched
and cached, instead of inside the training loop.
"""
from __future__ import annotations

import copy
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from torch.nn import functional as F

import runtime
from runtime.compress import RecipeError

DEFAULTS = {"epochs": 3, "lr": 1e-4, "temperature": 2.0, "alpha": 0.5, "batch_size": 32}
_LAYER_KEY = re.compile(r"(\.layers?\.)(\d+)(\.)")


def kept_layers(parent_layers: int, student_layers: int) -> list[int]:
    """Evenly spaced parent layers, starting at the first: 6 -> 3 keeps 0, 2, 4."""
    if not 1 <= student_layers < parent_layers:
        raise RecipeError(f"distil:{student_layers}: the student needs at least 1 layer and fewer than the "
                          f"parent's {parent_layers}.")
    return [int(i * parent_layers // student_layers) for i in range(student_layers)]


def student_from(parent: torch.nn.Module, layers: int) -> torch.nn.Module:
    """The parent's architecture with `layers` of its layers, weights copied from the parent."""
    config = copy.deepcopy(parent.config)
    total = int(getattr(config, "num_hidden_layers", 0) or 0)
    keep = kept_layers(total, layers)
    config.num_hidden_layers = layers
    if getattr(config, "layer_types", None):  # decoders that list a type per layer
        config.layer_types = [config.layer_types[i] for i in keep]
    student = type(parent)(config)
    new_index = {old: new for new, old in enumerate(keep)}
    state = {}
    for key, value in parent.state_dict().items():
        match = _LAYER_KEY.search(key)
        if match is None:
            state[key] = value
        elif int(match.group(2)) in new_index:
            state[key[:match.start(2)] + str(new_index[int(match.group(2))]) + key[match.end(2):]] = value
    missing, _unexpected = student.load_state_dict(state, strict=False)
    if missing:
        raise RecipeError(f"distil: the student of {type(parent).__name__} lacks weights for "
                          f"{', '.join(missing[:3])}; its layers are not named layer.N / layers.N.")
    return student


def distil(
    loaded: runtime.LoadedModel, *, texts: Sequence[str], labels: np.ndarray, teacher_probs: np.ndarray,
    layers: int, seed: int, options: dict | None = None, should_stop=None,
) -> torch.nn.Module:
    """A `layers`-layer student of `loaded.model` trained on `texts` (labels as class ids,
    `teacher_probs` the parent's probabilities on them); returned in eval mode."""
    if loaded.prompt is not None:
        raise RecipeError("distil: a prompted language model has no classification head to distil into.")
    settings = {**DEFAULTS, **(options or {})}
    if len(texts) < 2 or len(texts) != len(labels) or teacher_probs.shape[0] != len(texts):
        raise RecipeError("distil needs a training dataset of at least 2 labelled rows.")
    torch.manual_seed(seed)
    student = student_from(loaded.model, layers).to(runtime.model_device(loaded.model)).train()
    ids = runtime.tokenize(loaded, list(texts))
    t = float(settings["temperature"])
    soft = torch.softmax(torch.log(torch.from_numpy(teacher_probs).float().clamp_min(1e-12)) / t, dim=-1)
    target = torch.tensor(np.array(labels, dtype=np.int64))
    optimiser = torch.optim.AdamW(student.parameters(), lr=float(settings["lr"]))
    generator = torch.Generator().manual_seed(seed)
    size = int(settings["batch_size"])
    for _epoch in range(int(settings["epochs"])):
        order = torch.randperm(len(ids), generator=generator).tolist()
        for start in range(0, len(order), size):
            if should_stop is not None and should_stop():
                raise RecipeError("distil: stopped at the time limit.")
            batch = order[start:start + size]
            logits = runtime.forward_rows(loaded, [ids[i] for i in batch], model=student).float()
            kl = F.kl_div(F.log_softmax(logits / t, dim=-1), soft[batch].to(logits.device), reduction="batchmean")
            ce = F.cross_entropy(logits, target[batch].to(logits.device))
            loss = float(settings["alpha"]) * t * t * kl + (1 - float(settings["alpha"])) * ce
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
    return student.eval()


def save_student(student: torch.nn.Module, tokenizer, folder: Path) -> Path:
    """The student as a Hugging Face folder with safetensors weights."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    student.save_pretrained(folder, safe_serialization=True)
    tokenizer.save_pretrained(folder)
    return folder
