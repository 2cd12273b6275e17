"""Bfloat16 matrix products for explanations, on CPUs that multiply bfloat16 natively.

A copy of the audited model whose encoder Linears multiply in bfloat16 (weights stored in
bfloat16, each input rounded to bfloat16, products accumulated in float32 by oneDNN) and
hand float32 back: layer norms, softmax, GELU, the residual stream, the pooler and the
classification head stay float32. Casting the whole model to bfloat16 is faster still
(1.75x against 1.53x on the demo model) but rounds the residual stream at every layer, and a
row's probability then moved up to 0.012 with the rows batched beside it, against 0.002
here (bench/explain_standin.py).

Only on CPUs with AVX512-BF16 or AMX: elsewhere PyTorch emulates bfloat16 and the copy
would be slower than the model it stands in for (`native_bf16` says which).

Like the int8 copy (runtime.int8_ranges), whether it may stand in for the audited model is
decided by the audit, on the audit's own rows (audits.services.explain_engine).
"""
from __future__ import annotations

import dataclasses

import torch

from runtime.compress import with_encoder_linears
from runtime.loaded import LoadedModel, batching


def native_bf16() -> bool:
    """Whether this CPU multiplies bfloat16 in hardware (AVX512-BF16 or AMX)."""
    probes = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
    return any(bool(getattr(torch.cpu, probe, lambda: False)()) for probe in probes)


class Bf16Linear(torch.nn.Module):
    """A Linear whose product runs in bfloat16 and whose bias and output stay float32."""

    def __init__(self, linear: torch.nn.Linear) -> None:
        super().__init__()
        self.register_buffer("weight", linear.weight.detach().to(torch.bfloat16).clone())
        bias = None if linear.bias is None else linear.bias.detach().float().clone()
        self.register_buffer("bias", bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = torch.nn.functional.linear(x.to(torch.bfloat16), self.weight).to(x.dtype)
        return out if self.bias is None else out + self.bias


def bf16_copy(loaded: LoadedModel) -> LoadedModel:
    """A copy of `loaded` (CPU, float32 weights) whose encoder Linears are Bf16Linear; the
    tokenizer and labels are shared, the audited model is untouched."""
    mixed = with_encoder_linears(loaded, lambda _name, linear: Bf16Linear(linear), what="Bfloat16 explanations")
    # The audited model's padding verdict, not a new probe: the copy's rows move with their
    # batch by bfloat16 rounding (under 0.005 of probability, tests/explain/test_bf16_standin.py),
    # more than the float32 probe's tolerance, and one row at a time would undo the speed-up.
    return dataclasses.replace(loaded, model=mixed, checked_batching=batching(loaded))
