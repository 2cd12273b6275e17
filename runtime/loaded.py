"""What a loaded model is, and the steps every use of one shares: its token ids, whether its
padded batches are exact, and one batch's logits. Split from runtime/__init__.py so that
runtime.model_parts can build on them without importing the package that re-exports it.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch

from runtime.exactness import PROBE_TEXTS, Batching, batching_probe, batching_verdict
from runtime.limits import Encoded
from runtime.limits import encode as encode_limited
from runtime.padding import forward_logits
from runtime.prompted import PromptedScorer


@dataclass
class LoadedModel:
    model: torch.nn.Module
    tokenizer: object
    id2label: dict[int, str]
    folder: Path
    # From from_pretrained's loading report: weights the checkpoint lacked (and that
    # were therefore randomly initialised) or held with the wrong shape.
    missing_keys: tuple[str, ...] = field(default=())
    mismatched_keys: tuple[str, ...] = field(default=())
    # Tokens per input (runtime.limits.max_length), fixed at load.
    max_length: int = 0
    # Whether batches are exact (runtime.exactness), probed on first use.
    checked_batching: Batching | None = field(default=None, repr=False)
    # A causal LM prompted to answer with a label word (prompt.json in its folder);
    # None for a model with a classification head.
    prompt: PromptedScorer | None = None
    # A masked or causal LM loaded for stereotype probes (runtime.lm_scores): no labels.
    language_model: str | None = None

    @property
    def num_labels(self) -> int:
        return len(self.id2label)

    @property
    def kind(self) -> str:
        if self.language_model is not None:
            return self.language_model
        return "classifier" if self.prompt is None else "prompted"


def encode(loaded: LoadedModel, texts: Sequence[str]) -> Encoded:
    """Token ids cut to what the model accepts (`loaded.max_length`), and how many rows were cut.
    For a prompted classifier, the ids of the text slot, cut to the room the prompt leaves."""
    if loaded.prompt is not None:
        return loaded.prompt.encode_limited(texts)
    return encode_limited(loaded.tokenizer, texts, loaded.max_length)


def tokenize(loaded: LoadedModel, texts: Sequence[str]) -> list[list[int]]:
    return encode(loaded, texts).ids


def batching(loaded: LoadedModel) -> Batching:
    """Whether this model's padded batches predict exactly what its single rows do (probed once)."""
    if loaded.checked_batching is None and loaded.prompt is not None:
        with torch.inference_mode():
            loaded.checked_batching = batching_verdict(
                loaded.model, loaded.prompt.batching_difference(tokenize(loaded, PROBE_TEXTS)))
    if loaded.checked_batching is None:
        with torch.inference_mode():
            loaded.checked_batching = batching_probe(loaded.model, loaded.tokenizer, tokenize(loaded, PROBE_TEXTS))
    return loaded.checked_batching


def forward(loaded: LoadedModel, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """Logits for one right-padded batch, on the model's device, each row as it would be alone."""
    return forward_logits(loaded.model, loaded.tokenizer, input_ids, attention_mask)
