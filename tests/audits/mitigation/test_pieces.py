"""The mitigation's small parts against hand-worked numbers and the reference libraries."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.metrics import roc_auc_score

from audits.checks.aif import binary_dataset
from audits.checks.intervals import weighted_auc
from audits.mitigation import OPTION_DEFAULTS, options_validate, projected_update
from audits.mitigation.baselines import reweighing_weights
from audits.mitigation.evaluate import stratified_split


def test_projected_update_matches_hand_computed_gradient():
    # g = (1, 2 | 3), h = (0, 1 | 1): g.h = 5, |h|^2 = 2, proj = 2.5 h = (0, 2.5 | 2.5)
    # g - proj = (1, -0.5 | 0.5); minus alpha h with alpha 0.5: (1, -1 | 0).
    g = [torch.tensor([1.0, 2.0]), torch.tensor([3.0])]
    h = [torch.tensor([0.0, 1.0]), torch.tensor([1.0])]
    update = projected_update(g, h, alpha=0.5)
    assert torch.equal(update[0], torch.tensor([1.0, -1.0]))
    assert torch.equal(update[1], torch.tensor([0.0]))
    # With alpha 0 what is left is orthogonal to the adversary's gradient.
    plain = torch.cat([u.reshape(-1) for u in projected_update(g, h, alpha=0.0)])
    assert torch.allclose(plain, torch.tensor([1.0, -0.5, 0.5]))
    assert float(plain @ torch.tensor([0.0, 1.0, 1.0])) == 0.0


def test_projected_update_without_adversary_gradient_is_the_predictor_gradient():
    g = [torch.tensor([[1.0, -2.0]])]
    update = projected_update(g, [torch.zeros(1, 2)], alpha=3.0)
    assert torch.equal(update[0], g[0])


def test_reweighing_weights_equal_aif360():
    from aif360.algorithms.preprocessing import Reweighing

    rng = np.random.default_rng(3)
    privileged = rng.random(300) < 0.4
    fav = rng.random(300) < np.where(privileged, 0.7, 0.3)
    dataset = binary_dataset(fav, privileged)
    theirs = Reweighing(unprivileged_groups=[{"priv": 0.0}], privileged_groups=[{"priv": 1.0}])
    expected = theirs.fit_transform(dataset).instance_weights
    ours = reweighing_weights(fav, privileged)
    np.testing.assert_allclose(ours, expected, rtol=1e-12)
    # The point of the weights: in the weighted data the label no longer depends on privilege.
    rate = [np.average(fav[privileged == p], weights=ours[privileged == p]) for p in (True, False)]
    assert rate[0] == pytest.approx(rate[1])


def test_weighted_auc_equals_sklearn_with_ties_and_weights():
    rng = np.random.default_rng(0)
    scores = rng.integers(0, 6, 200) / 5  # many ties
    positive = rng.random(200) < 0.4
    assert weighted_auc(scores, positive, np.ones(200)) == pytest.approx(roc_auc_score(positive, scores))
    counts = rng.integers(0, 3, 200)
    expected = roc_auc_score(positive, scores, sample_weight=counts)
    assert weighted_auc(scores, positive, counts[None, :])[0] == pytest.approx(expected)


def test_stratified_split_keeps_every_stratum_share_and_is_seeded():
    rng = np.random.default_rng(1)
    labels = rng.integers(0, 2, 1000)
    privileged = rng.random(1000) < 0.3
    train, test = stratified_split(labels, privileged, 0.3, np.random.default_rng(5))
    assert len(np.intersect1d(train, test)) == 0 and len(train) + len(test) == 1000
    for y in (0, 1):
        for p in (False, True):
            stratum = np.flatnonzero((labels == y) & (privileged == p))
            assert abs(np.isin(stratum, test).mean() - 0.3) < 0.01
    again = stratified_split(labels, privileged, 0.3, np.random.default_rng(5))[1]
    other = stratified_split(labels, privileged, 0.3, np.random.default_rng(6))[1]
    assert np.array_equal(test, again) and not np.array_equal(test, other)


def test_options_validate_fills_defaults_and_names_the_bad_option():
    cleaned = options_validate("adversarial", {"goal": "equalized_odds", "epochs": "5", "sweep": "1, 0.1"})
    assert cleaned["goal"] == "equalised_odds" and cleaned["epochs"] == 5 and cleaned["sweep"] == [0.1, 1.0]
    assert options_validate("threshold", {})["held_out"] == OPTION_DEFAULTS["held_out"]
    for bad, name in (({"adversary_weight": -1}, "adversary_weight"), ({"epochs": 2.5}, "epochs"),
                      ({"goal": "parity"}, "goal"), ({"held_out": 1.0}, "held_out"),
                      ({"unfreeze_layers": "two"}, "unfreeze_layers"), ({"sweep": [1, -2]}, "sweep[1]"),
                      ({"learning_rate": 0}, "learning_rate"), ({"colour": 1}, "colour")):
        with pytest.raises(ValueError, match=f"'?{name.replace('[', '.').replace(']', '.')}"):
            options_validate("adversarial", bad)
    with pytest.raises(ValueError, match="method"):
        options_validate("magic", {})


def test_the_adversary_l2_penalty_bounds_its_weight_on_separable_groups():
    from audits.mitigation.adversarial import Adversary, _adversary_fit
    # Logits that separate the groups perfectly: unpenalised, the refitted weight keeps growing.
    logit = torch.tensor([3.0, 2.0, 1.5, -1.5, -2.0, -3.0])
    target = torch.tensor([1.0, 1.0, 1.0, 0.0, 0.0, 0.0])
    weights = {}
    for l2 in (0.0, 0.05):
        torch.manual_seed(0)
        adversary = Adversary("demographic_parity")
        optimiser = torch.optim.Adam(adversary.parameters(), lr=0.05)
        _adversary_fit(adversary, optimiser, logit, torch.zeros(6), target, torch.tensor(1.0), 400, l2)
        weights[l2] = float(adversary.linear.weight.abs().sum())
    assert weights[0.0] > 2 * weights[0.05] and weights[0.05] < 1.5, weights
    assert options_validate("adversarial", {"adversary_l2": "0.05"})["adversary_l2"] == 0.05
    with pytest.raises(ValueError, match="adversary_l2"):
        options_validate("adversarial", {"adversary_l2": -1})
