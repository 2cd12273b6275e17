"""The held-out figures judge groups as the audit does, and the recommendation says when
retraining alone, not the method, made the difference."""
from __future__ import annotations

import numpy as np

from audits.mitigation.evaluate import held_out_figures
from audits.mitigation.recommend import recommend


def _rows():
    # 60 privileged rows (half favourable), a 20-row group "big" (a quarter favourable)
    # and a 1-row group "one" whose only row is denied: the most extreme group there is.
    group = np.array(["none"] * 60 + ["big"] * 20 + ["one"])
    labels = np.array([1, 0] * 30 + [1] * 5 + [0] * 15 + [0])
    return group, labels, group == "none"


def test_worst_group_is_sought_among_groups_big_enough_to_judge():
    group, labels, privileged = _rows()
    figures = held_out_figures(labels, labels, None, 1, group, privileged, 100, np.random.default_rng(0))
    spd = figures["statistical_parity_difference"]
    assert spd["group"] == "big" and spd["rows"] == 20
    assert spd["value"] == 0.25 - 0.5
    # Every group's point values are still there, the one-row group too.
    assert figures["groups"]["one"]["statistical_parity_difference"] == -0.5
    # With a bar nobody reaches, all groups are candidates again and the extreme one wins.
    anyone = held_out_figures(labels, labels, None, 1, group, privileged, 100, np.random.default_rng(0), min_rows=50)
    assert anyone["statistical_parity_difference"]["group"] == "one"


def _candidate(gap, accuracy=0.9, weight=1.0):
    return {"method": "adversarial", "adversary_weight": weight, "makes_model": True,
            "accuracy": accuracy, "fairness_gap": gap}


def test_recommendation_says_when_retraining_alone_did_it():
    before = {"accuracy": 0.9, "fairness_gap": 0.6}
    same = recommend(before, [_candidate(0.5)], "demographic_parity", 0.02, retrained={"fairness_gap": 0.5})
    assert same["method"] == "adversarial" and "not from the method" in same["reason"]
    better = recommend(before, [_candidate(0.2)], "demographic_parity", 0.02, retrained={"fairness_gap": 0.5})
    assert "not from the method" not in better["reason"]
    assert "not from the method" not in recommend(before, [_candidate(0.5)], "demographic_parity", 0.02)["reason"]
