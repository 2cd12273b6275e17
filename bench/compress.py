"""Benchmark: what the compression recipes buy, against the float32 parent in the same run.

Run from the repository root: `python bench/compress.py [--rows N] [--repeats N] [--train N]`.

For the demo model (VAR_DIR/demo-model when `manage.py demo` has built it, else the base
all-MiniLM-L6-v2 with a fresh, seeded 2-label head: bench/common.py says which), at
TORCH_THREADS (2 unless set): texts/s through the runtime and size for float32, int8
(dynamic, Linear layers), 50 % magnitude-pruned (unstructured: dense kernels still
multiply the zeros, so no speed-up is expected; its gzip size shows what the zeros save
on disk) and a 3-layer student distilled on the demo's training rows; and each one's
label agreement with the parent on the same held-out comments. Figures are measurements,
not assertions: the ratio is each variant's texts/s over the parent's.
"""
from __future__ import annotations

import argparse
import copy
import gzip
import io
import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np  # noqa: E402
import torch  # noqa: E402
from common import race, sample_texts, setup  # noqa: E402 - sets up Django first

import runtime  # noqa: E402
from audits.compression.distil import distil, save_student  # noqa: E402
from audits.demo import MAPPING, RECIPE, TEXT, demo_split, load_frame  # noqa: E402
from runtime.compress import label_agreement, prune_magnitude, quantize_int8, sparsity_of  # noqa: E402


def _bytes_of_state(model: torch.nn.Module) -> int:
    buffer = io.BytesIO()
    torch.save(model.state_dict(), buffer)
    return buffer.tell()


def _safetensors_bytes(folder: Path) -> tuple[int, int]:
    """(bytes, gzip bytes) of the folder's safetensors weights."""
    data = b"".join(p.read_bytes() for p in sorted(folder.glob("*.safetensors")))
    return len(data), len(gzip.compress(data, compresslevel=6))


def _student(s, scratch: Path, n_train: int, layers: int) -> runtime.LoadedModel:
    train, _ = demo_split(load_frame(), seed=0, held_out=RECIPE["held_out"])
    train = train.sample(n=min(n_train, len(train)), random_state=0)
    texts = train[TEXT].astype(str).tolist()
    label2id = {v: k for k, v in s.loaded.id2label.items()}
    labels = np.array([label2id.get(str(v), 0) for v in train[MAPPING["label_column"]].astype(str)])
    teacher = runtime.predict_proba(s.loaded, texts)
    student = distil(s.loaded, texts=texts, labels=labels, teacher_probs=teacher, layers=layers, seed=0,
                     options={"epochs": 1})
    return runtime.load_model(save_student(student, s.loaded.tokenizer, scratch / "student"))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--train", type=int, default=512, help="training rows of the student (1 epoch)")
    args = parser.parse_args()
    s = setup()
    texts, _ids, described = sample_texts(s.loaded, args.rows)
    print("Compression recipes against the float32 parent, through runtime.predict_proba")
    print(f"model: {s.which}")
    print(f"texts: {described}")
    print(f"torch threads {torch.get_num_threads()}, best of {args.repeats}, round-robin, after a warm-up; "
          f"load average {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} {os.getloadavg()[2]:.2f}")
    with tempfile.TemporaryDirectory(prefix="bench-compress-") as scratch:
        scratch = Path(scratch)
        int8 = copy.copy(s.loaded)
        int8.model, int8.checked_batching = quantize_int8(s.loaded.model), None
        # Dynamic int8 quantises each batch's activations with one scale, so a row's result
        # depends on its batch: the runtime's probe finds batches inexact and runs int8 row by
        # row (what an audit does). "int8 batched" forces fp32's batching to show the cost.
        int8_batched = copy.copy(int8)
        int8_batched.checked_batching = runtime.batching(s.loaded)
        pruned_model = prune_magnitude(copy.deepcopy(s.loaded.model), 0.5)
        save_student(pruned_model, s.loaded.tokenizer, scratch / "pruned")
        pruned = runtime.load_model(scratch / "pruned")
        student = _student(s, scratch, args.train, 3)
        sides = {"fp32": s.loaded, "int8": int8, "int8 batched": int8_batched, "pruned 50%": pruned,
                 "student 3 layers": student}
        for loaded in sides.values():
            runtime.predict_proba(loaded, texts[:8])  # warm-up
        seconds, probs = race({k: (lambda m=m: runtime.predict_proba(m, texts)) for k, m in sides.items()},
                              args.repeats)
        parent_bytes = _safetensors_bytes(save_student(s.loaded.model, s.loaded.tokenizer, scratch / "parent"))
        sizes = {"fp32": parent_bytes, "int8": (_bytes_of_state(int8.model), None),
                 "int8 batched": (_bytes_of_state(int8.model), None),
                 "pruned 50%": _safetensors_bytes(scratch / "pruned"),
                 "student 3 layers": _safetensors_bytes(scratch / "student")}
        print()
        print(f"{'variant':<18}{'texts/s':>9}{'ratio':>7}{'size MB':>9}{'gzip MB':>9}{'agreement':>11}")
        for name in sides:
            size, zipped = sizes[name]
            rate = len(texts) / seconds[name]
            print(f"{name:<18}{rate:9.1f}{seconds['fp32'] / seconds[name]:7.2f}{size / 1e6:9.1f}"
                  f"{(zipped / 1e6 if zipped else float('nan')):9.1f}"
                  f"{label_agreement(probs['fp32'], probs[name]):11.2%}")
        print(f"\npruned sparsity of the encoder's Linear weights: {sparsity_of(pruned_model):.1%} "
              "(unstructured, dense kernels: no speed-up expected; the zeros only shrink the gzip size)")
        print("int8 size: its quantised state dict as torch.save writes it (safetensors holds no quantised "
              "modules; the platform stores the float weights and re-quantises at load)")
        print(f"quantised engine: {torch.backends.quantized.engine}; int8 batches exact: {runtime.batching(int8).exact} "
              f"({runtime.batching(int8).reason})")


if __name__ == "__main__":
    main()
