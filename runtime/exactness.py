"""Whether a model's batched predictions equal its one-at-a-time ones: checked, not assumed.

runtime.padding pads so that every sequence classifier transformers ships pools each row
as it would alone (tests/runtime/test_parity.py holds that for a matrix of
architectures). A model may still pool in a way those rules do not foresee, so each
loaded model is probed once: a few texts of different lengths run batched and alone.
When they differ, the model's predictions run one text at a time, and the audit's
report says so; they are never silently wrong.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from runtime.padding import forward_logits, pad_rows, preferred_pad_id

PROBE_TEXTS = (
    "ok",
    "a short comment",
    "a longer comment, with a few more words in it than the other two have",
)


@dataclass(frozen=True)
class Batching:
    """`exact`: batches padded on `side` are as good as single rows; `reason` says why not,
    for the report."""

    exact: bool
    difference: float
    reason: str = ""
    side: str = "right"

    @property
    def mode(self) -> str:
        return "batched" if self.exact else "unbatched"


def tolerance(model: torch.nn.Module) -> float:
    """Batched and single kernels round differently; half precision rounds much more."""
    dtype = next(model.parameters()).dtype
    return 1e-4 if dtype in (torch.float32, torch.float64) else 2e-2


def batching_probe(model: torch.nn.Module, tokenizer, ids: list[list[int]]) -> Batching:
    """Run `ids` (rows of different lengths) one at a time and batched, right-padded and
    then, if that differs, left-padded, and compare."""

    def probabilities(rows: list[list[int]], side: str) -> torch.Tensor:
        input_ids, mask = pad_rows(rows, preferred_pad_id(model, tokenizer), side)
        return torch.softmax(forward_logits(model, tokenizer, input_ids, mask).float(), dim=-1).cpu()

    with torch.inference_mode():
        alone = torch.cat([probabilities([row], "right") for row in ids])
        verdict = batching_verdict(model, float((probabilities(ids, "right") - alone).abs().max()))
        if not verdict.exact:
            left = batching_verdict(model, float((probabilities(ids, "left") - alone).abs().max()), side="left")
            verdict = left if left.exact else verdict
    return verdict


def batching_verdict(model: torch.nn.Module, difference: float, side: str = "right") -> Batching:
    """Exact when batched and single rows differ by no more than the model's rounding."""
    if difference <= tolerance(model):
        return Batching(exact=True, difference=difference, side=side)
    return Batching(exact=False, difference=difference, reason=(
        f"Padded batches changed this model's probabilities by up to {difference:.3g} on a probe, "
        "so every text was run on its own (slower, but exact)."
    ))
