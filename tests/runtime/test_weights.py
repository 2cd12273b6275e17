"""Weights: sized from their headers, refused before loading when too large, loaded as
MODEL_DTYPE, and memory-mapped from the safetensors file rather than copied."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

import runtime
import runtime.prompted
from runtime.weights import ModelTooLarge, weights_bytes
from tests.causal_factories import TOXIC_SPEC, make_causal_lm
from tests.runtime import tiny_models

TEXTS = ["you are kind", "a short comment about nothing", "the straight editor wrote plain text and left"]


@pytest.fixture(scope="module")
def classifier_dir(tmp_path_factory) -> Path:
    return tiny_models.build(tmp_path_factory.mktemp("weights"), "llama", "eos", TEXTS)


@pytest.fixture(scope="module")
def prompted_dir(tmp_path_factory) -> Path:
    return make_causal_lm(tmp_path_factory.mktemp("weights") / "lm", "qwen2", spec=TOXIC_SPEC)


@pytest.fixture(autouse=True)
def _fresh_cache():
    runtime.clear_cache()
    yield
    runtime.clear_cache()


def _stored_bytes(folder: Path) -> tuple[int, int]:
    """(bytes of floating-point tensors, bytes of the others) as saved."""
    tensors = load_file(folder / "model.safetensors")
    floats = sum(t.numel() * t.element_size() for t in tensors.values() if t.is_floating_point())
    return floats, sum(t.numel() * t.element_size() for t in tensors.values() if not t.is_floating_point())


def test_weights_bytes_sums_the_headers_in_the_dtype_they_load_as(classifier_dir):
    floats, others = _stored_bytes(classifier_dir)  # saved as float32
    assert floats > 0
    assert weights_bytes(classifier_dir, torch.float32) == floats + others
    assert weights_bytes(classifier_dir, torch.bfloat16) == floats // 2 + others


@pytest.mark.parametrize("which", ["classifier", "prompted"])
def test_a_model_over_the_workers_limit_is_refused_before_anything_is_loaded(
        which, classifier_dir, prompted_dir, settings, monkeypatch):
    folder = classifier_dir if which == "classifier" else prompted_dir
    need = weights_bytes(folder, torch.float32)
    settings.WORKER_MAX_MODEL_BYTES = need - 1

    def never(*args, **kwargs):
        raise AssertionError("from_pretrained was called for a model over the limit")

    monkeypatch.setattr(runtime.AutoModelForSequenceClassification, "from_pretrained", never)
    monkeypatch.setattr(runtime.prompted.AutoModelForCausalLM, "from_pretrained", never)
    with pytest.raises(ModelTooLarge) as refused:
        runtime.load_model(folder)
    message = str(refused.value)
    assert f"{need:,} bytes as float32" in message and "WORKER_MAX_MODEL_BYTES" in message
    # Halved by bfloat16 it would fit, and the message says so; loaded as bfloat16 it is accepted.
    assert "MODEL_DTYPE=bfloat16" in message
    monkeypatch.undo()
    settings.MODEL_DTYPE = "bfloat16"
    assert runtime.load_model(folder).model.dtype == torch.bfloat16


def test_a_model_far_over_the_limit_is_told_to_find_a_larger_worker(classifier_dir, settings):
    settings.WORKER_MAX_MODEL_BYTES = 1000
    with pytest.raises(ModelTooLarge, match="worker with more memory"):
        runtime.load_model(classifier_dir)
    settings.WORKER_MAX_MODEL_BYTES = 0  # no limit
    runtime.load_model(classifier_dir)


@pytest.mark.parametrize("which", ["classifier", "prompted"])
def test_model_dtype_applies_to_head_and_prompted_models(which, classifier_dir, prompted_dir, settings):
    folder = classifier_dir if which == "classifier" else prompted_dir
    full = runtime.load_model(folder)
    assert {p.dtype for p in full.model.parameters()} == {torch.float32}
    expected = runtime.predict_proba(full, TEXTS)
    settings.MODEL_DTYPE = "bfloat16"
    half = runtime.load_model(folder)
    assert half is not full and {p.dtype for p in half.model.parameters()} == {torch.bfloat16}
    probs = runtime.predict_proba(half, TEXTS)
    assert probs.dtype == np.float64 and np.allclose(probs.sum(axis=1), 1.0)
    assert np.abs(probs - expected).max() < 0.1  # bfloat16 keeps 8 bits of mantissa


def test_an_unknown_model_dtype_is_refused_by_name(classifier_dir, settings):
    settings.MODEL_DTYPE = "float16"
    with pytest.raises(ValueError, match="MODEL_DTYPE is 'float16'; use float32 or bfloat16"):
        runtime.load_model(classifier_dir)


def _mapped_ranges(path: Path) -> list[tuple[int, int]]:
    ranges = []
    with open("/proc/self/maps") as maps:
        for line in maps:
            fields = line.split()
            if len(fields) >= 6 and fields[5] == str(path.resolve()):
                start, end = (int(x, 16) for x in fields[0].split("-"))
                ranges.append((start, end))
    return ranges


@pytest.mark.skipif(not Path("/proc/self/maps").exists(), reason="reads Linux's /proc/self/maps")
def test_weights_in_the_dtype_of_the_file_are_memory_mapped_not_copied(prompted_dir):
    loaded = runtime.load_model(prompted_dir)
    ranges = _mapped_ranges(prompted_dir / "model.safetensors")
    assert ranges, "model.safetensors is not mapped into the process"
    for name, param in loaded.model.named_parameters():
        start = param.data_ptr()
        assert any(a <= start and start + param.numel() * param.element_size() <= b for a, b in ranges), name
