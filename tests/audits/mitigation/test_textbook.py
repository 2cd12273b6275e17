"""Issue 16's textbook case: a classifier deciding by the name's group, audited on texts
whose labels ignore the names; a separate training dataset; training the top layer on
the cached outputs of the frozen one."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.metrics import roc_auc_score

import runtime
from audits.mitigation import mitigation_compute
from audits.mitigation.adversarial import one_thread
from audits.mitigation.cached import cached_predictor, can_cache, lower_outputs, replay_matches
from audits.mitigation.evaluate import collapsed, point_figures
from audits.mitigation.predictor import unfrozen_predictor
from audits.mitigation.recommend import recommend
from tests.audits.mitigation.textbook import (
    OPTIONS,
    case_rows,
    criterion,
    evaluation_rows,
    make_name_model,
    training_rows,
)


@pytest.fixture(scope="module")
def name_model(tmp_path_factory):
    folder = make_name_model(tmp_path_factory.mktemp("names") / "model", seed=0)
    yield folder
    runtime.clear_cache()


@pytest.fixture(scope="module")
def audit_rows():
    texts, labels, group = evaluation_rows(240, seed=5)
    return texts, labels, group, group == "m"


@pytest.fixture(scope="module")
def train_data():
    texts, labels, group = training_rows(400, seed=50)
    return {"texts": texts, "labels": labels, "group": group, "privileged": group == "m"}


def _compute(model, rows, tmp_path, options, train_data=None):
    texts, labels, group, privileged = rows
    return mitigation_compute(model_dir=model, texts=texts, labels=labels, group=group, privileged=privileged,
                              favourable_id=1, method="adversarial", options=options, seed=0, out_dir=tmp_path,
                              resamples=100, attribute="gender", train_data=train_data)


def test_the_parent_decides_by_name(name_model, audit_rows):
    texts, labels, group, privileged = audit_rows
    loaded = runtime.load_model(name_model)
    predicted = runtime.predict_proba(loaded, texts).argmax(1)
    figures = point_figures(labels, predicted, 1, privileged, "demographic_parity")
    assert figures["fairness_gap"] > 0.9, figures
    assert abs(figures["accuracy"] - 0.5) < 0.1, figures


def test_the_old_method_on_the_audit_rows_moves_nothing(name_model, audit_rows, tmp_path):
    # Before issue 16: the head alone, from the parent's saturated head, the paper's sigmoid
    # input, Adam with momentum and no decay, on a split of the audit's rows.
    old = {"unfreeze_layers": 0, "adversary_input": "sigmoid", "momentum": 0.9, "lr_decay": 0.0,
           "adversary_steps": 1, "epochs": 10}
    section = _compute(name_model, audit_rows, tmp_path, old).section
    assert section["fairness_gap"]["before"] > 0.9
    assert all(entry["fairness_gap"] > 0.9 for entry in section["sweep"]), section["sweep"]
    assert "held-out" in section["evaluated_on"]


def test_the_replay_on_cached_lower_layers_is_the_model(name_model, audit_rows):
    loaded = runtime.load_model(name_model)
    # Every layer may train on the cache: the embeddings' output is then what is cached.
    assert can_cache(loaded, 1) and can_cache(loaded, 2) and not can_cache(loaded, 3)
    ids_all = runtime.tokenize(loaded, audit_rows[0][:20])
    whole = cached_predictor(loaded, ids_all, 2, lower_outputs(loaded, ids_all, 2))
    assert replay_matches(loaded, whole, runtime.predict_token_ids(loaded, ids_all), rows=20)
    ids = runtime.tokenize(loaded, audit_rows[0][:50])
    cache = lower_outputs(loaded, ids, 1)
    assert len(cache) == 50 and all(c.shape == (len(row), 32) for c, row in zip(cache, ids, strict=True))
    probs = runtime.predict_token_ids(loaded, ids)
    predictor = cached_predictor(loaded, ids, 1, cache)
    assert replay_matches(loaded, predictor, probs, rows=50)
    # The same parameters as training the layer on full passes, and the same gradients.
    full = unfrozen_predictor(loaded, ids, 1)
    idx = torch.arange(12)
    grads = [torch.autograd.grad(p.forward(idx)[:, 1].sum(), p.params) for p in (predictor, full)]
    assert len(grads[0]) == len(grads[1])
    for a, b in zip(*grads, strict=True):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-4)


def test_a_training_dataset_trains_and_all_audit_rows_measure(name_model, audit_rows, train_data, tmp_path):
    options = {"unfreeze_layers": 1, "epochs": 4, "learning_rate": 3e-3, "lr_decay": 0.3, "sweep": [0.0, 0.1]}
    outcome = _compute(name_model, audit_rows, tmp_path, options, train_data=train_data)
    section = outcome.section
    assert section["held_out_rows"] == 240 and section["train_rows"] == 400
    # The epochs are chosen on a fifth of the training dataset's rows, never on the audit's.
    assert section["validation_rows"] == 80
    assert np.array_equal(outcome.held_out_rows, np.arange(240))
    assert "all of the audit's rows" in section["evaluated_on"] and "cached" in section["trained"]
    # Retraining the same layers on the training dataset, no method: the comparison's baseline.
    assert set(section["no_mitigation_retrained"]) >= {"accuracy", "fairness_gap", "collapsed"}
    assert {row["method"] for row in section["comparison"]} == {"adversarial", "reweighing", "threshold"}
    assert section["saved_model_agreement"] == 1.0
    # BPSN/BNSP AUCs before and after with intervals, against sklearn on the same rows.
    texts, labels, group, privileged = audit_rows
    bpsn = section["identity_aucs"]["f"]["bpsn_auc"]
    rows = (~(group == "f") & (labels == 0)) | ((group == "f") & (labels == 1))
    parent = runtime.predict_proba(runtime.load_model(name_model), texts)[:, 1]
    assert bpsn["before"]["value"] == pytest.approx(roc_auc_score(labels[rows] == 0, -parent[rows]))
    assert bpsn["after"]["value"] == pytest.approx(
        roc_auc_score(labels[rows] == 0, -outcome.after_probabilities[rows]), abs=1e-6)
    for entry in (bpsn["before"], bpsn["after"]):
        assert entry["ci_low"] <= entry["value"] <= entry["ci_high"]


@pytest.mark.parametrize("seed", [0, 3])
def test_the_adversary_closes_the_gap(seed, tmp_path):
    # The criterion on two seeds where retraining without the adversary misses the
    # 0.1 bar (bench/debias_textbook.py measures all five): |SPD| from above 0.9 to at most
    # 0.1 on the evaluation rows at an accuracy not below retraining's, the gap falling with
    # the weight, and the adversary, not the start, doing it (a weight kept a later epoch).
    # One thread, as the bench runs: the same floats, so the bench's figures (and 4-5x less time).
    rows, train_data = case_rows(seed)
    texts, labels, group, privileged = rows
    with one_thread():
        model = make_name_model(tmp_path / "model", seed=seed)
        section = mitigation_compute(model_dir=model, texts=texts, labels=labels, group=group,
                                     privileged=privileged, favourable_id=1, method="adversarial", options=OPTIONS,
                                     seed=seed, out_dir=tmp_path / "out", resamples=100, attribute="gender",
                                     train_data=train_data).section
    result = criterion(section)
    assert section["fairness_gap"]["before"] > 0.9
    # Strictly falling at every step is measured by the bench (4 of 5 seeds); here the largest
    # weight's gap must not exceed retraining's, which float differences between machines keep.
    assert result["met"] and result["falls_overall"], (result, section["sweep"], section["no_mitigation_retrained"])
    assert section["warm_start"] and "top 2 layer(s)" in section["trained"]
    # Retraining alone misses the bar the adversary meets. How far it misses depends on the
    # CPU's kernels: seed 0 left 0.231 with AVX2 (README's figures), 0.146 with AVX-512.
    assert section["no_mitigation_retrained"]["fairness_gap"] > 0.1
    assert any(entry["epoch_kept"] for entry in section["sweep"])


def test_a_constant_classifier_is_a_collapse_and_never_recommended():
    labels = np.array([0, 1] * 50)
    assert collapsed(labels, np.zeros(100, int)) and not collapsed(labels, labels)
    assert not collapsed(np.zeros(100, int), np.zeros(100, int))  # the labels are constant too
    before = {"fairness_gap": 0.8, "accuracy": 0.5}
    constant = {"method": "adversarial", "adversary_weight": 3.0, "makes_model": True, "accuracy": 0.5,
                "fairness_gap": 0.0, "collapsed": True}
    result = recommend(before, [constant], "demographic_parity", 0.02)
    assert result["method"] == "none" and "constant classifier" in result["reason"]
    working = {**constant, "adversary_weight": 1.0, "fairness_gap": 0.1, "collapsed": False}
    result = recommend(before, [constant, working], "demographic_parity", 0.02)
    assert result["adversary_weight"] == 1.0 and "adversary weight 3" in result["reason"]
