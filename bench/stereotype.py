"""Benchmark: stereotype-pair scoring of a masked LM, ours against the naive loop.

Run from the repository root: `python bench/stereotype.py [--pairs N] [--repeats N]`.

The model is a masked LM of all-MiniLM-L6-v2's shapes (6 layers, hidden 384, WordPiece
vocabulary of 30,522): MiniLM's encoder weights with a seeded, untrained MLM head, saved
as safetensors and loaded through runtime.load_model (the speed is a real model's; the
scores are not meaningful). Pairs: the 48 of audits/data/stereotype_pairs_example.csv,
each behind a few lead-in phrases, the first N (300 by default).

Naive: the CrowS-Pairs loop (Nangia et al. 2020) with transformers as documented, one
masked sentence per call: for each pair, difflib over the token ids, then for each
shared token a forward pass of the sentence with that token masked, log-softmax over
the vocabulary at that position. Ours: runtime.score_pairs, all masked variants of all
pairs batched by padded tokens, the LM head applied at the masked position only. Both
run the same model object, in float32, on the same thread count; the scores are
compared pair by pair (max absolute difference, goal <= 1e-6) and the times as a ratio
(goal >= 3x). Goals are reported, not asserted.
"""
from __future__ import annotations

import argparse
import difflib
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "auditplatform.settings")
os.environ.setdefault("DEBUG", "1")  # a local script: settings' development defaults apply

import django  # noqa: E402

django.setup()

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import torch  # noqa: E402
from django.conf import settings  # noqa: E402
from transformers import AutoTokenizer, BertForMaskedLM  # noqa: E402
from transformers.utils import logging as hf_logging  # noqa: E402

import runtime  # noqa: E402
from audits.demo import minilm_folder  # noqa: E402

PAIRS_CSV = ROOT / "audits" / "data" / "stereotype_pairs_example.csv"
LEADS = ("", "I heard that ", "Everyone said that ", "Apparently ", "It is no surprise that ", "Last week ",
         "My friend told me that ")
GOAL_RATIO, GOAL_DIFFERENCE = 3.0, 1e-6


def bench_pairs(n: int) -> tuple[list[str], list[str]]:
    frame = pd.read_csv(PAIRS_CSV)
    more, less = [], []
    for lead in LEADS:
        for m, s in zip(frame["sent_more"], frame["sent_less"], strict=True):
            lower = lead and lead[0].isupper()
            more.append(lead + (m[0].lower() + m[1:] if lower else m))
            less.append(lead + (s[0].lower() + s[1:] if lower else s))
    return more[:n], less[:n]


def masked_lm_folder(scratch: Path) -> Path:
    torch.manual_seed(0)
    model = BertForMaskedLM.from_pretrained(minilm_folder(), local_files_only=True, use_safetensors=True)
    model.save_pretrained(scratch, safe_serialization=True)
    AutoTokenizer.from_pretrained(minilm_folder(), local_files_only=True).save_pretrained(scratch)
    return scratch


def naive_scores(model, tokenizer, more: list[str], less: list[str]) -> np.ndarray:
    """(pairs, 2) PLL over the shared tokens, one masked sentence per forward pass."""
    out = np.zeros((len(more), 2))
    special = set(tokenizer.all_special_ids)
    with torch.inference_mode():
        for p, (a_text, b_text) in enumerate(zip(more, less, strict=True)):
            a, b = tokenizer(a_text)["input_ids"], tokenizer(b_text)["input_ids"]
            blocks = difflib.SequenceMatcher(None, a, b, autojunk=False).get_matching_blocks()
            for side, (ids, start) in enumerate(((a, 0), (b, 1))):
                for block in blocks:
                    for k in range(block.size):
                        i = (block.a, block.b)[start] + k
                        if ids[i] in special:
                            continue
                        masked = torch.tensor([ids])
                        masked[0, i] = tokenizer.mask_token_id
                        logits = model(input_ids=masked).logits[0, i]
                        out[p, side] += float(torch.log_softmax(logits.double(), dim=-1)[ids[i]])
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--pairs", type=int, default=300)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--float64-pairs", type=int, default=12,
                        help="pairs compared again with the model in float64, where rounding does not hide a fault")
    args = parser.parse_args()
    hf_logging.set_verbosity_error()
    threads = settings.TORCH_THREADS or 2
    with tempfile.TemporaryDirectory(prefix="bench-mlm-") as scratch:
        loaded = runtime.load_model(masked_lm_folder(Path(scratch)))
    torch.set_num_threads(threads)
    more, less = bench_pairs(args.pairs)
    runtime.score_pairs(loaded, more[:8], less[:8])  # warm-up, both paths share it
    naive_scores(loaded.model, loaded.tokenizer, more[:2], less[:2])
    times = {"naive": [], "ours": []}
    for _ in range(args.repeats):
        for name in times:
            start, cpu = time.perf_counter(), time.process_time()
            if name == "naive":
                naive = naive_scores(loaded.model, loaded.tokenizer, more, less)
            else:
                scores = runtime.score_pairs(loaded, more, less)
            times[name].append((time.perf_counter() - start, time.process_time() - cpu))
    ours = np.stack([scores.more.total, scores.less.total], axis=1)
    difference = float(np.abs(ours - naive).max())
    agree = float(np.mean((ours[:, 0] > ours[:, 1]) == (naive[:, 0] > naive[:, 1])))
    best = {name: min(t, key=lambda x: x[0]) for name, t in times.items()}
    masked = int(scores.more.tokens.sum() + scores.less.tokens.sum())
    print("stereotype pairs: masked-LM pseudo-log-likelihood over shared tokens (CrowS-Pairs)")
    print(f"model: BertForMaskedLM of all-MiniLM-L6-v2's shapes ({sum(p.numel() for p in loaded.model.parameters()):,}"
          f" parameters, float32), via runtime.load_model")
    print(f"pairs: {len(more)} ({masked:,} masked sentences, one forward pass each in the naive loop)")
    print(f"torch threads {torch.get_num_threads()}, best of {args.repeats}; load average {os.getloadavg()}")
    for name in ("naive", "ours"):
        wall, cpu = best[name]
        print(f"{name:5s} {wall:8.2f} s wall  {cpu:8.2f} s CPU")
    ratio, cpu_ratio = best["naive"][0] / best["ours"][0], best["naive"][1] / best["ours"][1]
    print(f"ratio {ratio:.2f}x wall, {cpu_ratio:.2f}x CPU  (goal >= {GOAL_RATIO}x: "
          f"{'met' if ratio >= GOAL_RATIO else 'MISSED'})")
    relative = float(np.max(np.abs(ours - naive) / np.maximum(np.abs(naive), 1e-12)))
    print(f"float32: max |score difference| {difference:.2e} (largest relative {relative:.1e}; goal <= "
          f"{GOAL_DIFFERENCE:g}: {'met' if difference <= GOAL_DIFFERENCE else 'MISSED'}); same preferred sentence "
          f"in {agree:.1%} of pairs")
    if args.float64_pairs:
        k = args.float64_pairs
        loaded.model.double()
        exact = runtime.score_pairs(loaded, more[:k], less[:k])
        plain = naive_scores(loaded.model, loaded.tokenizer, more[:k], less[:k])
        gap = float(np.abs(np.stack([exact.more.total, exact.less.total], axis=1) - plain).max())
        print(f"float64 (first {k} pairs, same model in float64): max |score difference| {gap:.2e} "
              f"(goal <= {GOAL_DIFFERENCE:g}: {'met' if gap <= GOAL_DIFFERENCE else 'MISSED'})")


if __name__ == "__main__":
    main()
