"""Fixtures of the audit tests: the tiny model registered in the user's organisation."""
import pytest

from audits.services.models import model_register_folder


@pytest.fixture
def model(org, user, tiny_model_dir):
    return model_register_folder(organisation=org, user=user, name="tiny", folder=tiny_model_dir)
