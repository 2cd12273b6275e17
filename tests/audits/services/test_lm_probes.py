"""Language-model probes through the services: upload, mapping, audit, report.json."""
from __future__ import annotations

import json

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage

from audits.errors import BadInput
from audits.models import Audit, ModelArtifact, Policy
from audits.services.audits import audit_create, audit_run
from audits.services.datasets import dataset_map, dataset_upload
from audits.services.lm_probes import model_kind
from audits.services.model_uploads import model_upload
from tests.factories import people_dataset, zip_folder
from tests.lm_factories import PAIRS_CSV, make_masked_lm

PAIRS_MAPPING = {"more_column": "sent_more", "less_column": "sent_less", "bias_type_column": "bias_type",
                 "direction_column": "direction"}


@pytest.fixture(scope="module")
def masked_dir(tmp_path_factory):
    return make_masked_lm(tmp_path_factory.mktemp("mlm") / "model")


def upload_model(org, user, folder, name="lm"):
    return model_upload(organisation=org, user=user, name=name,
                        files=[ContentFile(zip_folder(folder), name=f"{name}.zip")])


def pairs_dataset(org, user, mapping=PAIRS_MAPPING, data: bytes | None = None):
    upload = ContentFile(data if data is not None else PAIRS_CSV.read_bytes(), name="pairs.csv")
    dataset = dataset_upload(organisation=org, user=user, name="pairs", uploaded_file=upload)
    return dataset_map(dataset=dataset, mapping=mapping)


def probe_audit(org, user, model, dataset, **config):
    return audit_create(organisation=org, user=user, model=model, dataset=dataset, enqueue=False,
                        config={**dataset.mapping, "checks": ["stereotype_pairs"], "seed": 1, **config})


def test_a_masked_lm_upload_is_kept_as_a_language_model(org, user, masked_dir):
    model = upload_model(org, user, masked_dir)
    assert model.architecture == "BertForMaskedLM"
    assert model.labels == {}
    assert model_kind(model) == "masked_lm"


def test_a_causal_lm_without_a_prompt_is_a_causal_language_model(org, user, tiny_causal_lm_dir):
    model = upload_model(org, user, tiny_causal_lm_dir)
    assert model_kind(model) == "causal_lm"


@pytest.mark.parametrize("kind", ["masked", "causal"])
def test_probe_audit_writes_the_stereotype_scores_with_intervals(org, user, masked_dir, tiny_causal_lm_dir, kind):
    model = upload_model(org, user, masked_dir if kind == "masked" else tiny_causal_lm_dir)
    audit = probe_audit(org, user, model, pairs_dataset(org, user))
    audit = audit_run(audit_id=audit.pk, resamples=200, inline=True)
    assert audit.status == Audit.Status.DONE, audit.error
    results = [c for c in audit.report["checks"] if c["id"] == "stereotype_pairs"]
    assert [r["attribute"] for r in results] == [None, "age", "gender", "nationality", "socioeconomic"]
    for result in results:
        entry = result["metrics"]["stereotype_score"]
        assert set(entry) >= {"value", "ci_low", "ci_high", "threshold", "status"}
        assert entry["ci_low"] <= entry["value"] <= entry["ci_high"]
        assert entry["threshold"] == {"low": 0.45, "high": 0.55}
        assert result["pairs"] and result["pairs"][0]["more_segments"]
    assert set(results[0]["groups"]) == {"age", "gender", "nationality", "socioeconomic"}
    if kind == "causal":
        assert "stereotype_score_length_normalised" in results[0]["metrics"]
    with default_storage.open(f"{audit.artifacts_prefix}/predictions.csv") as fh:
        header = fh.read().decode().splitlines()[0]
    assert header.startswith("row,label,prediction,probability,bias_type,direction,more_score,less_score")
    assert audit.report["runtime"]["scoring"] == model_kind(model)
    html = default_storage.open(f"{audit.artifacts_prefix}/report.html").read().decode()
    assert 'id="check-stereotype_pairs"' in html
    note = audit.report["runtime"]["batching_note"]
    assert note.startswith("the first 3 pairs scored again one at a time differ by at most") and note in html
    assert float(note.rsplit(" ", 1)[1]) < 1e-3


def test_a_classifier_check_on_a_language_model_is_refused(org, user, masked_dir):
    model = upload_model(org, user, masked_dir)
    dataset = people_dataset(org, user)
    with pytest.raises(BadInput, match="is a masked language model .BertForMaskedLM. without a classification "
                                       "head: it can run stereotype_pairs only, not group_fairness"):
        audit_create(organisation=org, user=user, model=model, dataset=dataset, enqueue=False,
                     config={**dataset.mapping, "checks": ["group_fairness"], "seed": 1})
    assert not Audit.objects.exists()


def test_stereotype_pairs_on_a_classifier_is_refused(org, user, tiny_model_dir):
    model = upload_model(org, user, tiny_model_dir, name="clf")
    with pytest.raises(BadInput, match="is a classifier .BertForSequenceClassification.: stereotype_pairs scores "
                                       "sentences with a language model"):
        probe_audit(org, user, model, pairs_dataset(org, user))


def test_a_language_model_on_a_labelled_dataset_is_told_to_map_pairs(org, user, masked_dir):
    model = upload_model(org, user, masked_dir)
    dataset = people_dataset(org, user)
    with pytest.raises(BadInput, match="people.csv: stereotype_pairs needs a dataset of sentence pairs"):
        audit_create(organisation=org, user=user, model=model, dataset=dataset, enqueue=False,
                     config={**dataset.mapping, "checks": ["stereotype_pairs"], "seed": 1})


@pytest.mark.parametrize(("csv", "mapping", "message"), [
    ("a,b\nx,y\n", {"more_column": "sent_more", "less_column": "b"}, "no column 'sent_more'"),
    ("a,b\nx,x\ny,z\n", {"more_column": "a", "less_column": "b"}, "hold the same sentence in 1 row .0-based data row 0."),
    ("a,b\nx,\ny,z\n", {"more_column": "a", "less_column": "b"}, "column 'b' has no sentence in 1 row"),
    ("a,b,d\nx,y,stereo\nu,v,sideways\n", {"more_column": "a", "less_column": "b", "direction_column": "d"},
     "must say stereo or antistereo; it holds 'sideways' in 1 row .0-based data row 1."),
    ("a,b\nx,y\n", {"more_column": "a", "less_column": "a"}, "mapped to two roles"),
])
def test_bad_pairs_mappings_name_the_file_column_and_rows(org, user, csv, mapping, message):
    with pytest.raises(BadInput, match=message) as refused:
        pairs_dataset(org, user, mapping=mapping, data=csv.encode())
    assert str(refused.value).startswith("pairs.csv: ")


def test_an_older_policy_gets_a_new_version_with_the_stereotype_band(org, user, masked_dir):
    Policy.objects.create(organisation=org, name="default", version=1,
                          thresholds={"disparate_impact": {"low": 0.8, "high": 1.25}})
    model = upload_model(org, user, masked_dir)
    audit = probe_audit(org, user, model, pairs_dataset(org, user))
    assert audit.policy.version == 2
    assert audit.policy.thresholds["stereotype_score"] == {"low": 0.45, "high": 0.55}
    assert audit.policy.thresholds["disparate_impact"] == {"low": 0.8, "high": 1.25}
    assert json.dumps(audit.config["checks"]) == '["stereotype_pairs"]'
    assert ModelArtifact.objects.count() == 1
