"""Where one demo-size explanation chunk spends its time: per method, wall and CPU
seconds, model rows, real and padded tokens, forward batches and CPU ms per row.

    python bench/explain_profile.py [--texts 5] [--methods shap,lime,ig] [--adaptive 0|1]

Counts come from wrapping runtime.forward (every batched prediction of the engine goes
through it); IG's path points are counted at captum's calls. The texts are the demo's
held-out comments as bench/audit_10k.py --demo-rows picks them. OMP_WAIT_POLICY is
PASSIVE unless set (OMP_WAIT_POLICY=ACTIVE shows libgomp's spinning at work).
"""
from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # before torch loads: see bench/audit_10k.py

import argparse  # noqa: E402
import time  # noqa: E402

from common import setup  # noqa: E402

# isort: split
import numpy as np  # noqa: E402

import explain.run  # noqa: E402
import runtime  # noqa: E402
from audits import demo  # noqa: E402


class Forwards:
    """Wrap runtime.forward: batches, rows, real and padded tokens, seconds inside."""

    def __init__(self):
        self.reset()
        original = runtime.forward

        def counted(loaded, input_ids, attention_mask):
            started, cpu = time.perf_counter(), time.process_time()
            try:
                return original(loaded, input_ids, attention_mask)
            finally:
                self.batches += 1
                self.rows += int(input_ids.shape[0])
                self.padded += int(input_ids.numel())
                self.real += int(attention_mask.sum())
                self.seconds += time.perf_counter() - started
                self.cpu += time.process_time() - cpu

        runtime.forward = counted

    def reset(self):
        self.batches = self.rows = self.padded = self.real = 0
        self.seconds = self.cpu = 0.0


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--texts", type=int, default=5)
    parser.add_argument("--methods", default="shap,lime,ig,attention")
    parser.add_argument("--adaptive", type=int, default=0)
    parser.add_argument("--lime", type=int, default=1000)
    parser.add_argument("--shap", type=int, default=500)
    args = parser.parse_args()
    s = setup()
    _, held = demo.demo_split(demo.load_frame(), seed=0, held_out=demo.RECIPE["held_out"])
    texts = held[demo.TEXT].astype(str).tolist()
    rows = sorted(np.random.default_rng(0).choice(len(texts), size=20, replace=False).tolist())[: args.texts]
    lengths = [len(x) for x in runtime.tokenize(s.loaded, [texts[r] for r in rows])]
    print(f"model: {s.which}; threads {s.threads}; load {os.getloadavg()}")
    print(f"{len(rows)} texts, {min(lengths)}-{max(lengths)} tokens, mean {np.mean(lengths):.0f}")
    meter = Forwards()
    for method in args.methods.split(","):
        meter.reset()
        started, cpu = time.perf_counter(), time.process_time()
        out = explain.run.explain_chunk(
            s.loaded, texts=texts, favourable_id=s.favourable_id, rows=rows, methods=[method],
            options={"adaptive": bool(args.adaptive), "lime_num_samples": args.lime, "shap_max_evals": args.shap})
        wall, used = time.perf_counter() - started, time.process_time() - cpu
        print(f"{method:9} wall {wall:7.1f} s CPU {used:7.1f} s | forward: {meter.batches} batches, "
              f"{meter.rows} rows, real tokens {meter.real}, padded {meter.padded} "
              f"({meter.padded / max(1, meter.real):.2f}x), {meter.cpu:.1f} CPU s inside "
              f"({1000 * meter.cpu / max(1, meter.rows):.1f} ms/row, "
              f"{1e6 * meter.cpu / max(1, meter.padded):.0f} us/padded token) | engine {out['engine']} "
              f"| timings {out['timings']}")


if __name__ == "__main__":
    main()
