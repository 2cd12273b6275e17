"""Fixtures for the explanation tests: the tiny model, loaded once, and a fresh model function."""
from __future__ import annotations

import pytest
import torch

import runtime
from explain.engine import ModelFunction

GAY_TEXTS = [
    "you are gay and nice",
    "I don't like playing football with the gay guys",
    "the gay community is here and proud",
]
OTHER_TEXTS = ["short", "what a lovely morning it was"]


@pytest.fixture(scope="package", autouse=True)
def _one_torch_thread():
    # The tiny model's batches are far too small to gain from intra-op threads, and on a
    # shared two-core machine two threads fighting another process make each forward
    # pass ten times slower; this keeps the suite's time predictable.
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def loaded(tiny_model_dir):
    return runtime.load_model(tiny_model_dir)


@pytest.fixture
def fn(loaded):
    return ModelFunction(loaded, favourable_id=1)


@pytest.fixture
def gay_ids(loaded):
    return runtime.tokenize(loaded, GAY_TEXTS)
