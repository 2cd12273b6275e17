"""A language model probed on sentence pairs through the API alone: upload, mapping, audit, report."""
from __future__ import annotations

import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from audits.models import Dataset
from tests.audits.api.conftest import token_client
from tests.factories import make_user, zip_folder
from tests.lm_factories import PAIRS_CSV, make_masked_lm

PAIRS = {"more_column": "sent_more", "less_column": "sent_less", "bias_type_column": "bias_type",
         "direction_column": "direction"}


@pytest.fixture(scope="module")
def masked_dir(tmp_path_factory):
    return make_masked_lm(tmp_path_factory.mktemp("mlm") / "model")


def _dataset(api) -> int:
    response = api.post(reverse("api:dataset-list"), {
        "name": "pairs", "file": SimpleUploadedFile("pairs.csv", PAIRS_CSV.read_bytes())}, format="multipart")
    assert response.status_code == 201, response.content
    return response.json()["id"]


@pytest.mark.django_db
def test_pairs_audit_through_the_api(user, masked_dir, django_capture_on_commit_callbacks):
    api = token_client(user)
    response = api.post(reverse("api:model-list"), {
        "name": "mlm", "archive": SimpleUploadedFile("mlm.zip", zip_folder(masked_dir))}, format="multipart")
    assert response.status_code == 201, response.content
    model = response.json()
    assert model["architecture"] == "BertForMaskedLM" and model["labels"] == {} and model["kind"] == "masked_lm"
    dataset = _dataset(api)
    response = api.post(reverse("api:dataset-mapping", args=[dataset]), PAIRS, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["mapping"]["kind"] == "pairs"
    # A classifier check on a language model is refused before anything is queued.
    refused = api.post(reverse("api:audit-list"), {"model": model["id"], "dataset": dataset,
                                                   "checks": ["group_fairness"]}, format="json")
    assert refused.status_code == 400 and "can run stereotype_pairs only" in refused.content.decode()
    with django_capture_on_commit_callbacks(execute=True):
        response = api.post(reverse("api:audit-list"), {"model": model["id"], "dataset": dataset,
                                                        "checks": ["stereotype_pairs"], "seed": 2}, format="json")
    assert response.status_code == 201, response.content
    audit = api.get(response.json()["links"]["self"]).json()
    assert audit["status"] == "done", audit
    response = api.get(reverse("api:audit-report-json", args=[audit["id"]]))
    report = json.loads(b"".join(response.streaming_content))
    entry = report["checks"][0]["metrics"]["stereotype_score"]
    assert report["checks"][0]["id"] == "stereotype_pairs"
    assert entry["ci_low"] <= entry["value"] <= entry["ci_high"] and entry["threshold"]["low"] == 0.45


@pytest.mark.django_db
@pytest.mark.parametrize(("body", "message"), [
    ({}, "text_column"),
    ({"more_column": "sent_more"}, "choose the less-stereotypical sentence column"),
    ({**PAIRS, "text_column": "sent_more"}, "Map either a labelled dataset"),
    ({"more_column": "sent_more", "less_column": "nope"}, "no column 'nope'"),
])
def test_bad_pairs_mappings_are_400(user, body, message):
    api = token_client(user)
    dataset = _dataset(api)
    response = api.post(reverse("api:dataset-mapping", args=[dataset]), body, format="json")
    assert response.status_code == 400 and message in response.content.decode(), response.content
    assert Dataset.objects.get().mapping is None


@pytest.mark.django_db
def test_another_organisations_dataset_cannot_be_mapped_as_pairs(user, other_org):
    dataset = _dataset(token_client(user))
    response = token_client(make_user("eve", other_org)).post(
        reverse("api:dataset-mapping", args=[dataset]), PAIRS, format="json")
    assert response.status_code == 404
    assert Dataset.objects.get().mapping is None
