"""Fixtures for the explanation tests: the tiny model, loaded once, and a fresh model function."""
from __future__ import annotations

import pytest

import runtime
from explain.engine import ModelFunction
from tests.torch_threads import one_torch_thread  # noqa: F401 - an autouse fixture

GAY_TEXTS = [
    "you are gay and nice",
    "I don't like playing football with the gay guys",
    "the gay community is here and proud",
]
OTHER_TEXTS = ["short", "what a lovely morning it was"]


@pytest.fixture(scope="session")
def loaded(tiny_model_dir):
    return runtime.load_model(tiny_model_dir)


@pytest.fixture
def fn(loaded):
    return ModelFunction(loaded, favourable_id=1)


@pytest.fixture
def gay_ids(loaded):
    return runtime.tokenize(loaded, GAY_TEXTS)
