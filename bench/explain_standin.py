"""Faster copies of the demo model for SHAP's and LIME's perturbed inputs: how often each
agrees with the audited model, how far a row moves with its batch, and its speed.

    python bench/explain_standin.py [--madlib 10000] [--int8]

On `--madlib` madlib comments (bench/madlib.py) and the 1,492 demo comments it prints, for
the bfloat16 copy the audit uses (runtime.bf16_linears) and the variants it was chosen
from: label agreement with the float32 model, the largest probability difference from it,
the largest move of a row between batches of 17 and of 64 rows (3,000 rows), and the
microseconds per token against float32 on 2,000 madlib comments (best of 4, alternating).
`--int8` adds the int8 copies tried (agreement only): fixed input ranges
(runtime.int8_ranges), the same after smoothing each Linear's input channels into its
weights (SmoothQuant's s_j = max|x_j|^a / max|w_j|^(1-a)), and int8 in one kind of Linear
only with the rest bfloat16.
"""
from __future__ import annotations

import argparse
import copy
import dataclasses
import time

import common  # noqa: F401  # isort: skip - sets up Django
import numpy as np
import torch
from madlib import bench_model, madlib_comments

import runtime
from audits import demo
from audits.services.explain_engine import _masked_halves
from runtime.bf16_linears import INTO_ACTIVATION, Bf16Linear, bf16_copy
from runtime.compress import encoder_linears, with_encoder_linears
from runtime.int8_ranges import FixedRangeInt8Linear, calibrate_ranges, int8_with_ranges
from runtime.loaded import batching


class FloatOutBf16Linear(torch.nn.Module):
    """The first bfloat16 copy's Linear: product in bfloat16, float32 out, bias in float32."""

    def __init__(self, linear: torch.nn.Linear) -> None:
        super().__init__()
        self.weight = linear.weight.detach().to(torch.bfloat16).clone()
        self.bias = linear.bias.detach().float().clone()

    def forward(self, x):
        return torch.nn.functional.linear(x.to(torch.bfloat16), self.weight).float() + self.bias


class SmoothedInt8Linear(torch.nn.Module):
    """x / s into an int8 Linear whose weights were multiplied by s, input channel by channel."""

    def __init__(self, linear: torch.nn.Linear, s: torch.Tensor, low: float, high: float) -> None:
        super().__init__()
        scaled = copy.deepcopy(linear)
        scaled.weight.data = scaled.weight.data * s[None, :]
        self.inverse = 1.0 / s
        self.inner = FixedRangeInt8Linear(scaled, low, high)

    def forward(self, x):
        return self.inner(x * self.inverse)


def variant(loaded, make) -> runtime.LoadedModel:
    return dataclasses.replace(loaded, model=with_encoder_linears(loaded, make, what="bench"),
                               checked_batching=batching(loaded))


def channel_ranges(loaded, ids) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """Per encoder Linear: each input channel's lowest and highest value over the float
    model's forwards of `ids` (what the smoothing and the smoothed ranges derive from)."""
    seen: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}

    def recorder(name):
        def record(_module, args):
            x = args[0].detach().reshape(-1, args[0].shape[-1])
            low, high = x.amin(0), x.amax(0)
            if name in seen:
                low, high = torch.minimum(seen[name][0], low), torch.maximum(seen[name][1], high)
            seen[name] = (low, high)
        return record

    handles = [m.register_forward_pre_hook(recorder(n)) for n, m in encoder_linears(loaded.model).items()]
    try:
        runtime.predict_token_ids(loaded, ids)
    finally:
        for handle in handles:
            handle.remove()
    return seen


def int8_variants(loaded, calibration) -> dict[str, runtime.LoadedModel]:
    out = {"int8, fixed ranges": int8_with_ranges(loaded, calibrate_ranges(loaded, calibration))}
    channels = channel_ranges(loaded, calibration)
    kinds = {"attention's q/k/v": "attention.self", "attention's output": "attention.output",
             "feed-forward's first": "intermediate.dense", "feed-forward's second": "output.dense"}
    for strength in (0.5, 0.7, 0.85):
        scales, ranges = {}, {}
        for name, linear in encoder_linears(loaded.model).items():
            low, high = channels[name]
            inputs = torch.maximum(-low, high).clamp(min=1e-5)
            weights = linear.weight.detach().abs().amax(0).clamp(min=1e-5)
            scales[name] = (inputs ** strength / weights ** (1 - strength)).clamp(min=1e-5)
            # x / s with s > 0: each channel's range divides by its s, no forward needed.
            ranges[name] = (min(0.0, float((low / scales[name]).min())), max(0.0, float((high / scales[name]).max())))

        def make(name, linear, only=None, scales=scales, ranges=ranges):
            if only is not None and not (only in name and not (only == "output.dense" and "attention" in name)):
                return Bf16Linear(linear, into_activation=name.endswith(INTO_ACTIVATION))
            return SmoothedInt8Linear(linear, scales[name], *ranges[name])

        out[f"int8, smoothed {strength}"] = variant(loaded, make)
        for label, part in kinds.items():
            out[f"int8 {label} only, smoothed {strength}"] = variant(
                loaded, lambda name, linear, part=part: make(name, linear, part))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--madlib", type=int, default=10_000)
    parser.add_argument("--int8", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(2)
    folder, what = bench_model(60)
    loaded = runtime.load_model(folder)
    madlib = runtime.tokenize(loaded, [c["comment"] for c in madlib_comments(args.madlib, seed=0)])
    demo_ids = runtime.tokenize(loaded, demo.load_frame()[demo.TEXT].tolist())
    ids = madlib + demo_ids
    print(f"model: {what}; {len(madlib)} madlib and {len(demo_ids)} demo comments; 2 torch threads")
    base = runtime.predict_token_ids(loaded, ids)
    labels = base.argmax(axis=1)
    rng = np.random.default_rng(0)
    moved = rng.permutation(len(ids))[:3000]
    queries = INTO_ACTIVATION + ("attention.self.query", "attention.self.key", "attention.self.value")
    copies = {"bfloat16 (the audit's)": bf16_copy(loaded),
              "bfloat16, float32 out, bias in float32": variant(loaded, lambda _n, linear: FloatOutBf16Linear(linear)),
              "bfloat16, queries, keys and values too": variant(
                  loaded, lambda name, linear: Bf16Linear(linear, into_activation=name.endswith(queries)))}
    for name, model in copies.items():
        probs = runtime.predict_token_ids(model, ids)
        again = runtime.predict_token_ids(model, [ids[i] for i in moved], batch_size=17)
        agree = probs.argmax(axis=1) == labels
        print(f"{name}: agrees on {agree[:len(madlib)].sum()}/{len(madlib)} madlib, "
              f"{agree[len(madlib):].sum()}/{len(demo_ids)} demo; max |p - p float32| "
              f"{np.abs(probs - base).max():.4f}; max move with the batch {np.abs(again - probs[moved]).max():.5f}")
    timed = madlib[:2000]
    tokens = sum(map(len, timed))
    best = {name: float("inf") for name in ["float32", *copies]}
    for _ in range(4):
        for name, model in [("float32", loaded), *copies.items()]:
            started = time.perf_counter()
            runtime.predict_token_ids(model, timed)
            best[name] = min(best[name], 1e6 * (time.perf_counter() - started) / tokens)
    for name, us in best.items():
        print(f"{name}: {us:.1f} us per token, {best['float32'] / us:.2f}x float32")
    if args.int8:
        calibration = [madlib[i] for i in rng.permutation(len(madlib))[:128]]
        calibration += _masked_halves(loaded, calibration, rng)
        for name, model in int8_variants(loaded, calibration).items():
            agree = runtime.predict_token_ids(model, madlib[:2000]).argmax(axis=1) == labels[:2000]
            print(f"{name}: agrees on {agree.sum()}/2000 madlib")


if __name__ == "__main__":
    main()
