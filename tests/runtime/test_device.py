"""MODEL_DEVICE places models, and their inputs follow them (tested with "cpu": this
machine has no GPU; the same code path runs with "cuda" on a GPU worker)."""
from __future__ import annotations

import pytest
import torch

import runtime
from runtime.device import DeviceError, model_device, worker_device


@pytest.fixture
def fresh_cache():
    runtime.clear_cache()
    yield
    runtime.clear_cache()


def test_the_model_is_placed_on_the_workers_device_and_predicts_there(settings, tiny_model_dir, fresh_cache):
    settings.MODEL_DEVICE = " CPU "
    loaded = runtime.load_model(tiny_model_dir)
    assert {p.device for p in loaded.model.parameters()} == {torch.device("cpu")}
    ids = runtime.tokenize(loaded, ["you are gay", "a longer text than the other one"])
    logits = runtime.forward(loaded, *runtime.pad_token_ids(loaded, ids))
    assert logits.device == model_device(loaded.model)
    probs = runtime.predict_token_ids(loaded, ids)
    assert probs.shape == (2, 2) and probs.dtype.name == "float64"
    assert runtime.prediction_facts(loaded, ["x"])["device"] == "cpu"


@pytest.mark.parametrize("name", ["gpu", "cuda:x", "cuda0", ""])
def test_a_malformed_device_is_refused_by_name(settings, name):
    settings.MODEL_DEVICE = name
    with pytest.raises(DeviceError, match="use cpu, cuda or cuda:N"):
        worker_device()


@pytest.mark.skipif(torch.cuda.is_available(), reason="this worker has a GPU")
def test_a_cuda_worker_without_cuda_is_refused_before_loading(settings, tiny_model_dir, fresh_cache):
    settings.MODEL_DEVICE = "cuda:1"
    with pytest.raises(DeviceError, match="no CUDA device"):
        runtime.load_model(tiny_model_dir)
