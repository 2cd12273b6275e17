"""API fixtures: token clients per role, and stand-in rows of an organisation.

The stand-in rows have no files behind them: enough for access tests, which must be
answered before any file is read."""
from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from audits.api.tokens import token_rotate
from audits.models import Audit, Dataset, ModelArtifact
from tests.factories import make_user


def token_client(user) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token_rotate(user=user)}")
    return client


def stand_in_rows(organisation) -> dict:
    model = ModelArtifact.objects.create(
        organisation=organisation, name=f"{organisation.name} model", storage_prefix="models/x", sha256="a" * 64,
        architecture="BertForSequenceClassification", num_parameters=1, labels={"0": "a", "1": "b"},
    )
    dataset = Dataset.objects.create(
        organisation=organisation, name=f"{organisation.name} data", original_filename="t.csv",
        file_format="csv", parquet_path="datasets/x.parquet", sha256="b" * 64, rows=1, columns=[],
        mapping={"text_column": "t", "label_column": "l", "favorable_label": "a", "protected": {},
                 "identity_terms": True},
    )
    audit = Audit.objects.create(
        organisation=organisation, model=model, dataset=dataset, config={"checks": [], "seed": 0},
        status=Audit.Status.DONE, verdict="pass",
        report={"summary": {"status": "pass", "counts": {}}, "checks": []}, artifacts_prefix="audits/x",
    )
    return {"model": model, "dataset": dataset, "audit": audit}


@pytest.fixture
def api(user) -> APIClient:
    """Alice, a data scientist of Acme, with her token."""
    return token_client(user)


@pytest.fixture
def role_client(org):
    def make(role: str) -> APIClient:
        return token_client(make_user(f"{role}-user", org, role=role))

    return make
