"""The compression audit through the services: variants registered with their parent and
recipe, audited on the same rows, checks and seed, and the report's compression section."""
from __future__ import annotations

import pytest

from audits.errors import BadInput
from audits.models import Audit, ModelArtifact
from audits.services.audits import audit_run
from audits.services.model_uploads import model_local_folder
from runtime.compress import COMPRESSION_FILE
from tests.factories import people_audit, people_dataset


@pytest.fixture
def dataset(org, user):
    return people_dataset(org, user, rows=160)


@pytest.fixture
def train(org, user):
    return people_dataset(org, user, rows=96, seed=5)


def test_variants_are_registered_and_audited_beside_the_parent(org, user, model, dataset, train):
    audit = people_audit(org, user, model, dataset, compress="int8,prune:0.5,heads:0.5,distil:1",
                         train_dataset=train.pk, checks=["group_fairness", "automation_bias"])
    audit = audit_run(audit_id=audit.pk, inline=True)
    assert audit.status == Audit.Status.DONE, audit.error
    section = audit.report["compression"]
    assert section["parent"]["model_id"] == model.pk
    recipes = [v["recipe"] for v in section["variants"]]
    assert recipes == ["int8", "prune:0.5", "heads:0.5", "distil:1"]
    for variant in section["variants"]:
        assert variant["status"] == "done", variant
        made = ModelArtifact.objects.get(pk=variant["model_id"])
        assert made.parent_id == model.pk and made.provenance["compression"] == variant["recipe"]
        # Same checks on the same attributes, each metric with the parent's value beside it.
        assert [(c["id"], c["attribute"]) for c in variant["checks"]] == \
            [(c["id"], c["attribute"]) for c in audit.report["checks"]]
        spd = next(c for c in variant["checks"] if c["id"] == "group_fairness")["metrics"][
            "statistical_parity_difference"]
        assert spd["ci_low"] <= spd["value"] <= spd["ci_high"] and "change" in spd
        agreement = variant["agreement_with_parent"]
        assert agreement["ci_low"] <= agreement["value"] <= agreement["ci_high"] and agreement["n"] == 160
        groups = variant["disagreement_by_group"]["gender"]
        assert set(groups) == {"male", "female"}
        assert variant["verdict"]["status"] in {"pass", "warn", "fail", "inconclusive"}
        assert variant["size_bytes"] > 0 and variant["texts_per_second"] > 0
    int8, pruned, _heads, student = section["variants"]
    assert (model_local_folder(model=ModelArtifact.objects.get(pk=int8["model_id"])) / COMPRESSION_FILE).is_file()
    assert int8["size_bytes"] < section["parent"]["size_bytes"]
    assert pruned["nonzero_parameters"] < section["parent"]["parameters"]
    assert student["parameters"] < section["parent"]["parameters"]
    assert section["fast_path"]["agreement"] == int8["agreement_with_parent"]["value"]


def test_a_second_run_reuses_the_registered_variant(org, user, model, dataset):
    first = audit_run(audit_id=people_audit(org, user, model, dataset, compress="prune:0.3").pk, inline=True)
    second = audit_run(audit_id=people_audit(org, user, model, dataset, compress="prune:0.3").pk, inline=True)
    assert first.report["compression"]["variants"][0]["model_id"] == \
        second.report["compression"]["variants"][0]["model_id"]
    assert ModelArtifact.objects.filter(parent=model).count() == 1


@pytest.mark.parametrize(("compress", "message"), [
    ("int8,zip", "Unknown compression recipe 'zip'"),
    ("prune:2", "strictly between 0 and 1"),
    ("distil:1", "distil needs a training dataset"),
])
def test_bad_recipes_are_refused_before_anything_is_stored(org, user, model, dataset, compress, message):
    with pytest.raises(BadInput, match=message):
        people_audit(org, user, model, dataset, compress=compress)
    assert not Audit.objects.exists()


def test_a_training_dataset_of_another_organisation_is_refused(org, user, model, dataset, other_org, other_user):
    theirs = people_dataset(other_org, other_user)
    with pytest.raises(BadInput, match="does not exist in your organisation"):
        people_audit(org, user, model, dataset, compress="distil:1", train_dataset=theirs.pk)


def test_identity_term_figures_of_a_variant_carry_intervals_and_the_change(org, user, model, dataset):
    audit = people_audit(org, user, model, dataset, compress="prune:0.5", identity_terms=True,
                         checks=["group_fairness", "subgroup_auc", "counterfactual"])
    audit = audit_run(audit_id=audit.pk, inline=True)
    assert audit.status == Audit.Status.DONE, audit.error
    [variant] = audit.report["compression"]["variants"]
    assert variant["status"] == "done", variant
    by_id = {(c["id"], c["attribute"]): c for c in variant["checks"]}
    parent = {(c["id"], c["attribute"]): c for c in audit.report["checks"]}
    assert set(by_id) == set(parent) and any(k[0] == "subgroup_auc" for k in by_id)
    for key, check in by_id.items():
        for name, metric in check["metrics"].items():
            if not isinstance(metric, dict) or not isinstance(metric.get("value"), float):
                continue
            assert metric["parent_value"] == parent[key]["metrics"][name]["value"]
            if metric["parent_value"] is not None:
                assert metric["change"] == pytest.approx(metric["value"] - metric["parent_value"])
            if metric.get("ci_low") is not None:
                assert metric["ci_low"] <= metric["value"] <= metric["ci_high"]
