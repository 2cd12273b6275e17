"""Bfloat16 matrix products for explanations, on CPUs that multiply bfloat16 natively.

A copy of the audited model whose encoder Linears multiply in bfloat16 (weights and bias
stored in bfloat16, each input rounded to bfloat16, products accumulated in float32 by
oneDNN, which adds the bias before rounding the output) and hand float32 back, except the
feed-forward's first Linear, whose output stays bfloat16 through GELU into the second (which
would round it anyway). Layer norms, softmax, the residual stream, the pooler and the
classification head stay float32. On 10,000 madlib comments and the 1,492 demo comments
(demo model, 2 threads): 1.60-1.66x faster than float32 (1.21-1.43x when every Linear handed
float32 back and added its bias in float32); labels agree on 9,991 and 1,492 of them; a row's
probability moved by at most 0.0016 between batches of 17 and of 64 rows (0.0038 before:
rounding each output to bfloat16 hides float32's batch-to-batch differences rather than
passing them on). Casting the whole model to bfloat16 rounds the residual stream at every
layer, and a row then moved by up to 0.012 with its batch; keeping the attention's
queries, keys and values in bfloat16 too was 8 % faster but moved rows by 0.0065
(bench/explain_standin.py).

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


# Linears whose output goes only through the feed-forward activation into the next Linear,
# which rounds its input to bfloat16 anyway: their output stays bfloat16 through the
# activation, saving two casts of the layer's widest tensor (BERT, RoBERTa, MiniLM, ELECTRA,
# DeBERTa: "intermediate.dense"; DistilBERT: "ffn.lin1").
INTO_ACTIVATION = ("intermediate.dense", "ffn.lin1")


class Bf16Linear(torch.nn.Module):
    """A Linear whose product and bias run in bfloat16 (oneDNN accumulates in float32 and
    adds the bias before rounding) and whose output is float32, or stays bfloat16 where
    `into_activation`."""

    def __init__(self, linear: torch.nn.Linear, *, into_activation: bool = False) -> None:
        super().__init__()
        self.register_buffer("weight", linear.weight.detach().to(torch.bfloat16).clone())
        bias = None if linear.bias is None else linear.bias.detach().to(torch.bfloat16).clone()
        self.register_buffer("bias", bias)
        self.into_activation = into_activation

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = torch.nn.functional.linear(x.to(torch.bfloat16), self.weight, self.bias)
        return out if self.into_activation else out.float()


def bf16_copy(loaded: LoadedModel) -> LoadedModel:
    """A copy of `loaded` (CPU, float32 weights) whose encoder Linears are Bf16Linear; the
    tokenizer and labels are shared, the audited model is untouched."""
    mixed = with_encoder_linears(
        loaded, lambda name, linear: Bf16Linear(linear, into_activation=name.endswith(INTO_ACTIVATION)),
        what="Bfloat16 explanations")
    # The audited model's padding verdict, not a new probe: the copy's rows move with their
    # batch by bfloat16 rounding (under 0.005 of probability, tests/explain/test_bf16_standin.py),
    # more than the float32 probe's tolerance, and one row at a time would undo the speed-up.
    return dataclasses.replace(loaded, model=mixed, checked_batching=batching(loaded))
