"""A model folder's weights: the dtype they load as, and whether they fit this worker.

Weights load from safetensors, memory-mapped: transformers 5.24 hands the file's mapped
tensors to the model when they already have the dtype asked for, so loading copies
nothing and the resident memory grows only by the pages a forward pass reads (measured
with a Qwen2-0.5B-shaped model, 1.98 GB of float32 weights: peak RSS 0.39 GB after
loading, 2.29 GB after a forward pass had read every page). Loading as another dtype
converts every tensor (the same model as bfloat16: peak 3.2 GB while loading, 1.36 GB
after).

settings.MODEL_DTYPE (float32 or bfloat16) is the dtype of every floating-point weight,
for head classifiers and prompted causal LMs alike. A model whose weights would take
more than settings.WORKER_MAX_MODEL_BYTES in that dtype is refused before anything is
loaded: the size is summed from the safetensors headers, which only the tensors' names,
dtypes and shapes are read from.
"""
from __future__ import annotations

import math
import re
from pathlib import Path

import torch
from django.conf import settings
from safetensors import safe_open

DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16}
# safetensors dtype names of floating-point tensors: these load as MODEL_DTYPE; the
# others (integer buffers such as position ids) keep their own.
FLOAT_DTYPES = {"F64", "F32", "F16", "BF16", "F8_E4M3", "F8_E5M2"}
STORED_BYTES = {"F64": 8, "F32": 4, "F16": 2, "BF16": 2, "F8_E4M3": 1, "F8_E5M2": 1,
                "I64": 8, "I32": 4, "I16": 2, "I8": 1, "U8": 1, "BOOL": 1}
SHARD = re.compile(r"model-\d{5}-of-\d{5}\.safetensors")


class ModelTooLarge(ValueError):
    """The weights would take more memory than this worker is configured to give a model."""


def load_dtype() -> torch.dtype:
    """settings.MODEL_DTYPE as a torch dtype."""
    name = str(settings.MODEL_DTYPE).strip().lower()
    if name not in DTYPES:
        raise ValueError(f"MODEL_DTYPE is {settings.MODEL_DTYPE!r}; use {' or '.join(DTYPES)}.")
    return DTYPES[name]


def weight_files(folder: Path) -> list[Path]:
    """model.safetensors, or the shards model-XXXXX-of-XXXXX.safetensors."""
    single = folder / "model.safetensors"
    if single.is_file():
        return [single]
    return sorted(p for p in folder.iterdir() if SHARD.fullmatch(p.name))


def weights_bytes(folder: Path, dtype: torch.dtype) -> int:
    """Bytes the folder's weights take once loaded with floating-point tensors as `dtype`."""
    size = torch.tensor([], dtype=dtype).element_size()
    total = 0
    for path in weight_files(folder):
        with safe_open(path, framework="pt") as handle:
            for name in handle.keys():
                tensor = handle.get_slice(name)
                stored = tensor.get_dtype()
                total += math.prod(tensor.get_shape()) * (size if stored in FLOAT_DTYPES else STORED_BYTES.get(stored, 8))
    return total


def check_fits(folder: Path) -> None:
    """Refuse, before loading, weights over settings.WORKER_MAX_MODEL_BYTES in MODEL_DTYPE."""
    limit = settings.WORKER_MAX_MODEL_BYTES
    if limit <= 0:
        return
    dtype = load_dtype()
    need = weights_bytes(folder, dtype)
    if need <= limit:
        return
    name = str(dtype).removeprefix("torch.")
    hint = ("; MODEL_DTYPE=bfloat16 would halve them" if dtype == torch.float32 and need // 2 <= limit
            else "; run it on a worker with more memory")
    raise ModelTooLarge(f"the weights take {need:,} bytes as {name} ({need / 1e9:.2f} GB), over this worker's "
                        f"limit of {limit:,} bytes (WORKER_MAX_MODEL_BYTES){hint}")
