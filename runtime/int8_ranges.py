"""Int8 forwards for explanations whose rows do not depend on their batch.

Dynamic int8 (runtime.compress.quantize_int8) quantises each Linear's input with one
scale per call, taken from the whole batch: a row's result then depends on the rows
padded beside it, so a compressed variant scores its rows one at a time. Explanations
send thousands of perturbed inputs in mixed batches, so here each encoder Linear gets a
*fixed* input range, calibrated once on the audited model's own float forwards
(`calibrate_ranges`): inputs are clamped to it, and one sentinel row holding its two
ends goes with every call, so fbgemm's dynamic kernel always derives the same scale and
zero point. The integer products are exact and the quantisation grid is the same in
every call, so a row's probabilities do not depend on its batch beyond float rounding
before the grid (which can move a value by one step: under 1e-3 of probability,
tests/explain/test_int8_standin.py), where per-batch scales moved them by whole steps.

Weights are int8 per output channel. The classification head and the pooler stay float:
they are tiny, and they are the decision the audit judges. CPU only (fbgemm).

Whether such a model may stand in for the audited one is not decided here: the audit
measures its label agreement on the audit's own rows first
(audits.services.explain_engine), and the report says which model the perturbations ran on.
"""
from __future__ import annotations

import copy
import dataclasses
from collections.abc import Sequence

import torch

from runtime.compress import encoder_linears, with_encoder_linears
from runtime.loaded import LoadedModel

__all__ = ["FixedRangeInt8Linear", "calibrate_ranges", "encoder_linears", "int8_with_ranges"]


def calibrate_ranges(loaded: LoadedModel, ids: Sequence[Sequence[int]]) -> dict[str, list[float]]:
    """{Linear name: [lowest, highest]} of each encoder Linear's inputs over the float
    model's forwards of `ids` (padding included: padded positions pass through too).
    The range always holds 0, as fbgemm's quantisation parameters do."""
    from runtime import predict_token_ids

    seen: dict[str, list[float]] = {}

    def recorder(name: str):
        def record(_module, args):
            x = args[0].detach()
            low, high = float(x.min()), float(x.max())
            old = seen.get(name, [0.0, 0.0])
            seen[name] = [min(old[0], low), max(old[1], high)]
        return record

    handles = [m.register_forward_pre_hook(recorder(n)) for n, m in encoder_linears(loaded.model).items()]
    try:
        predict_token_ids(loaded, ids)
    finally:
        for handle in handles:
            handle.remove()
    if not seen:
        raise ValueError("This model has no Linear layers outside its head to quantise.")
    return seen


class FixedRangeInt8Linear(torch.nn.Module):
    """An int8 Linear whose input scale is fixed by `low`/`high`, not by the batch."""

    def __init__(self, linear: torch.nn.Linear, low: float, high: float) -> None:
        from torch.ao.quantization import per_channel_dynamic_qconfig, quantize_dynamic

        super().__init__()
        if not low < 0.0 < high:
            low, high = min(low, -1e-6), max(high, 1e-6)
        self.low, self.high = float(low), float(high)
        holder = torch.nn.Sequential(copy.deepcopy(linear).float().cpu())
        self.inner = quantize_dynamic(holder, {torch.nn.Linear: per_channel_dynamic_qconfig},
                                      dtype=torch.qint8)[0]
        sentinel = torch.zeros(1, linear.in_features)
        sentinel[0, 0], sentinel[0, -1] = self.low, self.high
        self.register_buffer("sentinel", sentinel, persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shape = x.shape
        flat = torch.cat([x.reshape(-1, shape[-1]).clamp(self.low, self.high), self.sentinel.to(x.dtype)])
        out = self.inner(flat)[:-1]
        return out.reshape(*shape[:-1], out.shape[-1])


def int8_with_ranges(loaded: LoadedModel, ranges: dict[str, Sequence[float]]) -> LoadedModel:
    """A copy of `loaded` (CPU, float32 weights) whose encoder Linears are int8 with the
    given input ranges; the tokenizer and labels are shared."""
    if set(encoder_linears(loaded.model)) != set(ranges):
        raise ValueError("The calibrated ranges do not match this model's Linear layers.")
    quantised = with_encoder_linears(loaded, lambda name, linear: FixedRangeInt8Linear(linear, *ranges[name]),
                                     what="Int8 explanations")
    return dataclasses.replace(loaded, model=quantised, checked_batching=None)
