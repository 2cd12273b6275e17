"""labelling_bias against Fairlearn and numpy, and Krippendorff's alpha against textbook examples."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from fairlearn.metrics import MetricFrame, selection_rate

from audits.checks import CheckContext, get_check
from audits.checks.labelling_bias import krippendorff_alpha
from audits.checks.policy import DEFAULT_POLICY

N = None


def _context(y_true, groups: dict, privileged: dict, seed=0, resamples=300, annotators=None):
    n = len(y_true)
    return CheckContext(
        y_true=np.asarray(y_true, bool), y_pred=np.zeros(n, bool), prob=np.full(n, 0.5),
        groups=pd.DataFrame(groups), privileged=privileged, policy=DEFAULT_POLICY,
        seed=seed, resamples=resamples, min_group_rows=10, annotators=annotators,
    )


def test_alpha_wikipedia_example():
    # Wikipedia, "Krippendorff's alpha", computational example: 3 coders, 15 units, 4 values.
    # Coincidences: n = 26 pairable values, n_c = 7, 4, 10, 5 for values 1-4, off-diagonal
    # total 6, so alpha_nominal = 1 - 25 * 6 / (26^2 - 190) = 1 - 150/486 = 56/81, published as 0.691.
    frame = pd.DataFrame({
        "A": [N, N, N, N, N, 3, 4, 1, 2, 1, 1, 3, 3, N, 3],
        "B": [1, N, 2, 1, 3, 3, 4, 3, N, N, N, N, N, N, N],
        "C": [N, N, 2, 1, 3, 4, 4, N, 2, 1, 1, 3, 3, N, 4],
    })
    assert krippendorff_alpha(frame) == pytest.approx(56 / 81, abs=1e-12)
    assert round(krippendorff_alpha(frame), 3) == 0.691


def test_alpha_krippendorff_2011_example():
    # Krippendorff (2011), "Computing Krippendorff's alpha-reliability", section C:
    # 4 observers, 12 units; o-diagonal 7 + 10 + 8 + 4 + 3 = 32 of n = 40, n_c = 9, 13, 10, 5, 3,
    # so alpha = 1 - 39 * 8 / (1600 - 384) = 113/152, published as 0.743.
    frame = pd.DataFrame({
        "A": [1, 2, 3, 3, 2, 1, 4, 1, 2, N, N, N],
        "B": [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, N, 3],
        "C": [N, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, N],
        "D": [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, N],
    })
    assert krippendorff_alpha(frame) == pytest.approx(113 / 152, abs=1e-12)


def test_alpha_small_binary_cases_by_hand():
    # Units (T,T), (T,F), (F,F), (F,F): o_TT = 2, o_TF = o_FT = 1, o_FF = 4; n_T = 3, n_F = 5, n = 8.
    # alpha = 1 - (n - 1) * (o_TF + o_FT) / (2 n_T n_F) = 1 - 7 * 2 / 30 = 8/15.
    frame = pd.DataFrame({"a": [True, True, False, False], "b": [True, False, False, False]})
    assert krippendorff_alpha(frame) == pytest.approx(8 / 15, abs=1e-12)
    assert krippendorff_alpha(pd.DataFrame({"a": [True, False, True], "b": [True, False, True]})) == 1.0
    # No variation at all: expected disagreement is zero and alpha is undefined.
    assert krippendorff_alpha(pd.DataFrame({"a": [True, True], "b": [True, True]})) is None


def _synthetic(seed=0, n=2000, label_gap=0.0, noisy=0.05):
    rng = np.random.default_rng(seed)
    gender = rng.choice(["m", "f"], size=n)
    y = rng.random(n) < np.where(gender == "f", 0.5 - label_gap, 0.5)
    flip = np.where(gender == "f", noisy, 0.05)
    annotators = pd.DataFrame({f"r{j}": np.where(rng.random(n) < flip, ~y, y) for j in range(3)}).astype(object)
    annotators.iloc[rng.random(n) < 0.2, 2] = None  # the third annotator skipped a fifth of the items
    return y, gender, annotators


def test_rates_equal_fairlearn_and_annotator_figures_equal_numpy():
    y, gender, annotators = _synthetic(label_gap=0.1, noisy=0.2)
    [res] = get_check("labelling_bias")(_context(y, {"gender": gender}, {"gender": ["m"]}, annotators=annotators))
    rates = MetricFrame(metrics=selection_rate, y_true=y, y_pred=y, sensitive_features=gender).by_group
    f, m = res["groups"]["f"], res["groups"]["privileged: m"]
    assert f["base_rate"] == pytest.approx(rates["f"], abs=1e-12)
    assert m["base_rate"] == pytest.approx(rates["m"], abs=1e-12)
    assert f["statistical_parity_difference"] == pytest.approx(rates["f"] - rates["m"], abs=1e-9)
    assert f["disparate_impact"] == pytest.approx(rates["f"] / rates["m"], abs=1e-9)
    assert res["metrics"]["disparate_impact"]["ci_low"] <= f["disparate_impact"] <= res["metrics"][
        "disparate_impact"]["ci_high"]
    values = annotators.to_numpy(dtype=object)
    for key, mask in (("f", gender == "f"), ("privileged: m", gender == "m")):
        rows = values[mask]
        given = [[v for v in row if v is not None] for row in rows]
        pairable = [g for g in given if len(g) >= 2]
        split = np.mean([len(set(g)) > 1 for g in pairable])
        assert res["groups"][key]["disagreement_rate"] == pytest.approx(split, abs=1e-12)
        assert res["groups"][key]["krippendorff_alpha"] == pytest.approx(
            krippendorff_alpha(annotators[mask]), abs=1e-12)
    assert res["metrics"]["krippendorff_alpha"]["value"] == pytest.approx(krippendorff_alpha(annotators), abs=1e-12)
    assert f["annotator_disagreement_difference"] == pytest.approx(
        f["disagreement_rate"] - m["disagreement_rate"], abs=1e-12)


def test_planted_label_and_annotator_bias_fail_and_control_passes():
    planted, control = [], []
    for seed in range(20):
        for (gap, noisy), bucket in (((0.2, 0.3), planted), ((0.0, 0.05), control)):
            y, gender, annotators = _synthetic(seed, label_gap=gap, noisy=noisy)
            [res] = get_check("labelling_bias")(_context(
                y, {"gender": gender}, {"gender": ["m"]}, seed=seed, resamples=200, annotators=annotators))
            metrics = res["metrics"]
            bucket.append((metrics["disparate_impact"]["status"],
                           metrics["annotator_disagreement_difference"]["status"], res["status"]))
    assert sum(s == ("fail", "fail", "fail") for s in planted) >= 19
    assert sum(s == ("pass", "pass", "pass") for s in control) >= 19


def test_without_annotators_and_with_a_small_privileged_group():
    y, gender, _ = _synthetic(1, n=500)
    [res] = get_check("labelling_bias")(_context(y, {"gender": gender}, {"gender": ["m"]}))
    assert "krippendorff_alpha" not in res["metrics"]
    assert "annotator_disagreement_difference" not in res["metrics"]
    few = np.where(np.arange(500) < 3, "m", "f")
    [res] = get_check("labelling_bias")(_context(y, {"gender": few}, {"gender": ["m"]}))
    assert res["status"] == "skipped" and "has 3 rows" in res["message"]
    with pytest.raises(ValueError, match="annotator table has 2 rows"):
        get_check("labelling_bias")(_context(y, {"gender": gender}, {"gender": ["m"]},
                                             annotators=pd.DataFrame({"a": [1, 0], "b": [1, 1]})))


def test_same_seed_same_result_and_strict_json():
    y, gender, annotators = _synthetic(2, n=600)
    ctx = _context(y, {"gender": gender}, {"gender": ["m"]}, seed=4, annotators=annotators)
    first = get_check("labelling_bias")(ctx)
    assert first == get_check("labelling_bias")(ctx)
    json.dumps(first, allow_nan=False)
