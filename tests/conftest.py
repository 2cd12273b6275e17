"""Shared fixtures: one organisation with a user, another organisation, a tiny model."""
from __future__ import annotations

from pathlib import Path

import pytest

from audits.models import Organisation
from tests.factories import make_tiny_model, make_user


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.MODEL_CACHE_DIR = tmp_path / "model-cache"
    settings.BOOTSTRAP_RESAMPLES = 200


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory) -> Path:
    return make_tiny_model(tmp_path_factory.mktemp("tiny") / "model")


@pytest.fixture(scope="session")
def tiny_causal_lm_dir(tmp_path_factory) -> Path:
    """A 2-layer Llama-architecture causal LM (no prompt spec) with a tokenizer trained offline."""
    from tests.causal_factories import make_causal_lm

    return make_causal_lm(tmp_path_factory.mktemp("causal") / "model", "llama")


@pytest.fixture
def org(db):
    return Organisation.objects.create(name="Acme")


@pytest.fixture
def other_org(db):
    return Organisation.objects.create(name="Other Corp")


@pytest.fixture
def user(org):
    return make_user("alice", org)


@pytest.fixture
def other_user(other_org):
    return make_user("mallory", other_org)


@pytest.fixture
def client_in(client, user):
    client.force_login(user)
    return client
