"""Fixtures of the mitigation tests: the biased tiny model and its synthetic dataset."""
from __future__ import annotations

from pathlib import Path

import pytest

from audits.mitigation.adversarial import one_thread
from tests.audits.mitigation.synthetic import make_biased_model, make_dataset


@pytest.fixture(scope="session")
def biased_model_dir(tmp_path_factory) -> Path:
    with one_thread():
        return make_biased_model(tmp_path_factory.mktemp("biased") / "model")


@pytest.fixture(scope="session")
def people():
    """600 rows: texts, labels, group, privileged mask."""
    texts, labels, group = make_dataset(600, seed=7)
    return texts, labels, group, group == "straight"
