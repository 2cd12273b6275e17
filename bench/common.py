"""Shared bits of the benchmarks: Django set-up, the demo model, seeded demo texts, timing.

Imported by the scripts in bench/ (run from the repository root as
`python bench/<script>.py`, which puts bench/ on sys.path). Importing this module sets
up Django with the development defaults, as a local script needs.
"""
from __future__ import annotations

import os
import sys
import tempfile
import time
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "auditplatform.settings")
os.environ.setdefault("DEBUG", "1")  # a local script: settings' development defaults apply

import django  # noqa: E402

django.setup()

import numpy as np  # noqa: E402
import torch  # noqa: E402
from django.conf import settings  # noqa: E402
from transformers import AutoModelForSequenceClassification, AutoTokenizer  # noqa: E402
from transformers.utils import logging as hf_logging  # noqa: E402

import runtime  # noqa: E402
from audits.demo import MAPPING, RECIPE, TEXT, demo_split, load_frame, minilm_folder  # noqa: E402


def model_folder(scratch: Path) -> tuple[Path, str]:
    """The demo model when built, else base MiniLM saved with a seeded 2-label head."""
    demo = Path(settings.VAR_DIR) / "demo-model"
    if (demo / "model.safetensors").is_file():
        return demo, f"demo model ({demo})"
    torch.manual_seed(0)
    labels = {0: "False", 1: "True"}
    model = AutoModelForSequenceClassification.from_pretrained(
        minilm_folder(), num_labels=2, id2label=labels, label2id={v: k for k, v in labels.items()},
        local_files_only=True, use_safetensors=True,
    )
    model.save_pretrained(scratch, safe_serialization=True)
    AutoTokenizer.from_pretrained(minilm_folder(), local_files_only=True).save_pretrained(scratch)
    return scratch, "base all-MiniLM-L6-v2 with a fresh 2-label head (run `manage.py demo` for the trained one)"


def best_of(fn, repeats: int):
    """(best seconds, last result) over `repeats` calls."""
    best, result = float("inf"), None
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - start)
    return best, result


@dataclass
class Setup:
    loaded: runtime.LoadedModel
    which: str
    favourable_id: int
    threads: int


def setup() -> Setup:
    """Quiet logs, the bench's thread count (TORCH_THREADS, else 2) and the loaded model.

    The favourable label is the demo audit's ("False": not toxic), as the audit explains it.
    """
    hf_logging.set_verbosity_error()
    warnings.filterwarnings("ignore")
    threads = settings.TORCH_THREADS or 2
    torch.set_num_threads(threads)
    with tempfile.TemporaryDirectory(prefix="bench-model-") as scratch:
        folder, which = model_folder(Path(scratch))
        loaded = runtime.load_model(folder)
    # load_model sets threads only when TORCH_THREADS is set; keep the bench's choice.
    torch.set_num_threads(threads)
    label2id = {v: k for k, v in loaded.id2label.items()}
    favourable = label2id.get(MAPPING["favorable_label"], loaded.num_labels - 1)
    return Setup(loaded, which, favourable, threads)


def sample_texts(loaded, n: int, *, seed: int = 0, max_tokens: int | None = None) -> tuple[list[str], list[list[int]], str]:
    """A fixed, seeded sample of the demo's held-out comments, its token ids and a description.

    `max_tokens` keeps only comments of at most that many tokens ([CLS]/[SEP] included),
    for methods whose naive use costs minutes on the longest comments; the description
    says so.
    """
    _, held = demo_split(load_frame(), seed=0, held_out=RECIPE["held_out"])
    texts = held[TEXT].astype(str).tolist()
    ids = runtime.tokenize(loaded, texts)
    pool = [i for i, x in enumerate(ids) if max_tokens is None or len(x) <= max_tokens]
    rows = sorted(np.random.default_rng(seed).choice(pool, size=min(n, len(pool)), replace=False).tolist())
    lengths = [len(ids[r]) for r in rows]
    limit = f" of the {len(pool)} with <= {max_tokens} tokens" if max_tokens else ""
    described = (f"{len(rows)} held-out demo comments{limit} (of {len(texts)}; seeded sample, seed {seed}, "
                 f"rows {rows}), {min(lengths)}-{max(lengths)} tokens (mean {np.mean(lengths):.0f})")
    return [texts[r] for r in rows], [list(ids[r]) for r in rows], described


def race(sides: Mapping[str, Callable[[], object]], repeats: int) -> tuple[dict[str, float], dict[str, object]]:
    """Best seconds and last result of each side, timed round-robin.

    Round-robin, not one side after another: a busy spell on a shared machine then slows
    one repeat of every side instead of all repeats of one.
    """
    seconds = dict.fromkeys(sides, float("inf"))
    results: dict[str, object] = {}
    for _ in range(repeats):
        for name, fn in sides.items():
            took, results[name] = best_of(fn, 1)
            seconds[name] = min(seconds[name], took)
    return seconds, results


def header(title: str, s: Setup, texts_line: str, repeats: int) -> None:
    print(title)
    print(f"model: {s.which}; favourable label {s.loaded.id2label[s.favourable_id]!r} (id {s.favourable_id})")
    print(f"texts: {texts_line}")
    print(f"torch threads {torch.get_num_threads()} (both sides), best of {repeats}, round-robin, after a warm-up")


def verdict(naive: float, ours: float, goal: float, equivalence: str) -> float:
    """Print both times, the ratio against its goal (reported, not asserted) and the equivalence figure."""
    ratio = naive / ours
    print()
    print(f"naive {naive:9.2f} s")
    print(f"ours  {ours:9.2f} s")
    print(f"ratio {ratio:9.2f}x   (goal >= {goal}x: {'met' if ratio >= goal else 'MISSED'})")
    print(f"equivalence: {equivalence}")
    return ratio
