"""group_fairness figures against Fairlearn and plain numpy on the same predictions."""
from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest
from fairlearn.metrics import MetricFrame, false_positive_rate, selection_rate, true_positive_rate
from sklearn.metrics import accuracy_score

from audits.checks import CheckContext, get_check
from audits.checks.bootstrap import confusion_cells, pair_metrics, resample_cells
from audits.checks.policy import DEFAULT_POLICY, metric_status


def _context(y_true, y_pred, groups: dict, privileged: dict, seed=0, resamples=500):
    n = len(y_true)
    return CheckContext(
        y_true=np.asarray(y_true, bool), y_pred=np.asarray(y_pred, bool), prob=np.full(n, 0.5),
        groups=pd.DataFrame(groups), privileged=privileged, policy=DEFAULT_POLICY,
        seed=seed, resamples=resamples, min_group_rows=10,
    )


def _synthetic(seed=0, n=3000):
    rng = np.random.default_rng(seed)
    race = rng.choice(["a", "b", "c"], size=n, p=[0.5, 0.3, 0.2])
    y_true = rng.random(n) < np.where(race == "a", 0.6, 0.45)
    flip = rng.random(n) < np.where(race == "c", 0.35, 0.15)
    y_pred = np.where(flip, ~y_true, y_true)
    return y_true, y_pred, race


def test_figures_equal_fairlearn_per_group():
    y_true, y_pred, race = _synthetic()
    [result] = get_check("group_fairness")(_context(y_true, y_pred, {"race": race}, {"race": ["a"]}))
    frame = MetricFrame(
        metrics={"sel": selection_rate, "tpr": true_positive_rate, "fpr": false_positive_rate,
                 "acc": accuracy_score},
        y_true=y_true, y_pred=y_pred, sensitive_features=race,
    ).by_group
    priv = frame.loc["a"]
    for group in ("b", "c"):
        g = frame.loc[group]
        figures = result["groups"][group]
        assert figures["statistical_parity_difference"] == pytest.approx(g.sel - priv.sel, abs=1e-9)
        assert figures["disparate_impact"] == pytest.approx(g.sel / priv.sel, abs=1e-9)
        assert figures["equal_opportunity_difference"] == pytest.approx(g.tpr - priv.tpr, abs=1e-9)
        assert figures["average_odds_difference"] == pytest.approx(
            0.5 * ((g.fpr - priv.fpr) + (g.tpr - priv.tpr)), abs=1e-9)
        assert figures["false_positive_rate_difference"] == pytest.approx(g.fpr - priv.fpr, abs=1e-9)
        assert figures["accuracy"] == pytest.approx(g.acc, abs=1e-9)
        assert figures["count"] == (race == group).sum()
    # The worst group is reported at the top, with its name.
    di = result["metrics"]["disparate_impact"]
    worst = min(("b", "c"), key=lambda grp: frame.loc[grp].sel / priv.sel)
    assert di["group"] == worst
    assert di["ci_low"] <= di["value"] <= di["ci_high"]


def test_bootstrap_point_matches_and_interval_is_seeded():
    y_true, y_pred, race = _synthetic(1)
    ctx = _context(y_true, y_pred, {"race": race}, {"race": ["a"]}, seed=7)
    first = get_check("group_fairness")(ctx)
    second = get_check("group_fairness")(ctx)
    assert first == second
    u = confusion_cells(y_true[race == "b"], y_pred[race == "b"])
    p = confusion_cells(y_true[race == "a"], y_pred[race == "a"])
    point = pair_metrics(u, p)
    assert point["disparate_impact"] == pytest.approx(first[0]["groups"]["b"]["disparate_impact"], abs=1e-12)
    # Multinomial resampling of the cells keeps each group's size fixed (stratified).
    draws = resample_cells(u, 100, np.random.default_rng(0))
    assert (draws.sum(axis=1) == u.sum()).all()


@pytest.mark.parametrize(
    ("value", "low", "high", "expected"),
    [(0.9, 0.85, 0.95, "pass"), (0.75, 0.7, 0.85, "warn"), (0.7, 0.6, 0.79, "fail"),
     (1.3, 1.26, 1.4, "fail"), (float("nan"), None, None, "skipped")],
)
def test_status_rule(value, low, high, expected):
    assert metric_status(value, low, high, {"low": 0.8, "high": 1.25}) == expected


def _planted(seed: int, cut: float):
    rng = np.random.default_rng(seed)
    n = 2000
    gender = rng.choice(["m", "f"], size=n)
    y_true = rng.random(n) < 0.5
    base = rng.random(n) < 0.5
    # Cut the unprivileged group's favourable prediction rate by `cut` (0 = unbiased).
    y_pred = base & ~((gender == "f") & (rng.random(n) < cut))
    return y_true, y_pred, gender


def test_planted_bias_fails_and_control_passes():
    planted, control = [], []
    for seed in range(20):
        for cut, bucket in ((0.4, planted), (0.0, control)):
            y_true, y_pred, gender = _planted(seed, cut)
            [res] = get_check("group_fairness")(
                _context(y_true, y_pred, {"gender": gender}, {"gender": ["m"]}, seed=seed, resamples=300))
            bucket.append(res["metrics"]["disparate_impact"]["status"])
    assert planted.count("fail") >= 19
    assert control.count("pass") >= 19


def test_too_small_groups_are_skipped_with_reason():
    y_true, y_pred, race = _synthetic(2, n=200)
    race = np.where(np.arange(200) < 5, "tiny", "a")
    [res] = get_check("group_fairness")(_context(y_true, y_pred, {"race": race}, {"race": ["a"]}))
    assert res["status"] == "skipped"
    assert "tiny (5)" in res["message"]


def test_theil_indices_from_cells_equal_aif360():
    from audits.checks.bootstrap import theil_indices
    from audits.checks.group_fairness import aif360_metrics

    y_true, y_pred, race = _synthetic(4)
    rows = np.isin(race, ["a", "c"])
    expected = aif360_metrics(y_true[rows], y_pred[rows], race[rows] == "a")
    ours = theil_indices(confusion_cells(y_true[race == "c"], y_pred[race == "c"]),
                         confusion_cells(y_true[race == "a"], y_pred[race == "a"]))
    assert float(ours["theil_index"]) == pytest.approx(expected["theil_index"], abs=1e-12)
    assert float(ours["between_group_theil_index"]) == pytest.approx(
        expected["between_group_theil_index"], abs=1e-12)
    # And by the textbook formula on the rows themselves.
    b = y_pred[rows].astype(float) - y_true[rows] + 1
    ratio = b / b.mean()
    textbook = np.mean(np.where(ratio > 0, ratio * np.log(np.where(ratio > 0, ratio, 1)), 0))
    assert float(ours["theil_index"]) == pytest.approx(textbook, abs=1e-12)


def test_intersections_of_two_attributes():
    y_true, y_pred, race = _synthetic(5)
    sex = np.where(np.arange(len(race)) % 2 == 0, "m", "f")
    results = get_check("group_fairness")(
        _context(y_true, y_pred, {"race": race, "sex": sex}, {"race": ["a"], "sex": ["m"]}))
    assert [r["attribute"] for r in results] == ["race", "sex", "race & sex"]
    inter = results[-1]
    assert "privileged: a & m" in inter["groups"]
    mask_u = (race == "c") & (sex == "f")
    mask_p = (race == "a") & (sex == "m")
    expected = y_pred[mask_u].mean() / y_pred[mask_p].mean()
    assert inter["groups"]["c & f"]["disparate_impact"] == pytest.approx(expected, abs=1e-12)


def test_attributes_describing_one_partition_are_not_crossed_and_the_report_says_why():
    y_true, y_pred, race = _synthetic(6)
    sex = np.where(np.arange(len(race)) % 2 == 0, "m", "f")
    gender = np.where(sex == "m", "man", "woman")
    results = get_check("group_fairness")(_context(
        y_true, y_pred, {"race": race, "sex": sex, "gender": gender}, {"race": ["a"], "sex": ["m"], "gender": ["man"]}))
    by_attribute = {r["attribute"]: r for r in results}
    assert by_attribute["sex & gender"]["status"] == "skipped"
    assert "same partition" in by_attribute["sex & gender"]["message"]
    assert by_attribute["race & sex"]["groups"] and by_attribute["race & gender"]["groups"]


def test_headline_names_every_group_outside_the_policy_with_its_direction():
    rng = np.random.default_rng(7)
    n = 6000
    race = rng.choice(["a", "b", "c", "d"], size=n)
    y_true = rng.random(n) < 0.5
    rate = {"a": 0.5, "b": 0.3, "c": 0.75, "d": 0.5}  # b disfavoured, c favoured
    y_pred = rng.random(n) < np.vectorize(rate.get)(race)
    [res, *_] = get_check("group_fairness")(_context(y_true, y_pred, {"race": race}, {"race": ["a"]}))
    message = res["message"]
    assert "2 of 3 groups" in message
    assert re.search(r"b is disfavoured: it receives the favourable outcome at 0\.[56]\d times", message)
    assert re.search(r"c is favoured: it receives the favourable outcome at 1\.[45]\d times", message)
    assert "least favoured" not in message and "d is" not in message.split("outside the policy:")[1]
    statuses = {g: f.get("status") for g, f in res["groups"].items()}
    assert statuses == {"b": "fail", "c": "fail", "d": "pass", "privileged: a": None}


def test_a_group_below_the_power_rule_is_insufficient_and_decides_nothing_alone():
    rng = np.random.default_rng(8)
    race = np.repeat(["a", "b", "c"], [2000, 1000, 40])
    y_true = rng.random(race.size) < 0.5
    # c's point estimate is outside the policy, but 40 rows cannot tell.
    y_pred = rng.random(race.size) < np.where(race == "c", 0.4, 0.5)
    [res] = get_check("group_fairness")(_context(y_true, y_pred, {"race": race}, {"race": ["a"]}))
    c = res["groups"]["c"]
    assert c["status"] == "insufficient" and c["rows_needed"] > 40
    assert res["groups"]["b"]["status"] == "pass" and "rows_needed" not in res["groups"]["b"]
    assert res["status"] == "pass"
    assert res["metrics"]["statistical_parity_difference"]["group"] == "b"
    assert f"c (40 rows, {c['rows_needed']:,} needed)" in res["message"]
    assert "two-proportion z-test" in res["message"]
    # Alone, a small group gives no verdict: inconclusive, not pass.
    only = race != "b"
    [alone] = get_check("group_fairness")(_context(y_true[only], y_pred[only], {"race": race[only]},
                                                   {"race": ["a"]}))
    assert alone["status"] == "inconclusive"
