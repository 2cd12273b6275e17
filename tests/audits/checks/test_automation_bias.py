"""automation_bias against loop implementations of ECE and the review threshold, and sklearn's Brier."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import brier_score_loss

from audits.checks import CheckContext, get_check
from audits.checks.policy import DEFAULT_POLICY


def _context(y_true, prob, groups: dict, privileged: dict, seed=0, resamples=300, **extra):
    return CheckContext(
        y_true=np.asarray(y_true, bool), y_pred=np.asarray(prob) >= 0.5, prob=np.asarray(prob, float),
        groups=pd.DataFrame(groups), privileged=privileged, policy=DEFAULT_POLICY,
        seed=seed, resamples=resamples, min_group_rows=10, **extra,
    )


def loop_reliability(y, prob, bins=10):
    """Top-label reliability table and ECE, one bin at a time (bins over [0.5, 1], (lo, hi])."""
    predicted = prob >= 0.5
    conf = np.where(predicted, prob, 1 - prob)
    correct = predicted == y
    edges = np.linspace(0.5, 1.0, bins + 1)
    table, ece = [], 0.0
    for k in range(bins):
        lo, hi = edges[k], edges[k + 1]
        in_bin = ((conf >= lo) if k == 0 else (conf > lo)) & (conf <= hi)
        if in_bin.sum() == 0:
            table.append((None, None, 0))
            continue
        acc, mean_conf = correct[in_bin].mean(), conf[in_bin].mean()
        table.append((mean_conf, acc, int(in_bin.sum())))
        ece += in_bin.sum() / len(y) * abs(acc - mean_conf)
    return table, ece


def loop_review_threshold(y, prob, target):
    predicted = prob >= 0.5
    conf = np.where(predicted, prob, 1 - prob)
    correct = predicted == y
    for t in np.sort(np.unique(conf)):  # lowest first: the largest automated set wins
        if correct[conf >= t].mean() >= target:
            return t, float((conf < t).mean())
    return None, None


def _synthetic(seed=0, n=4000, sharpen=1.0):
    rng = np.random.default_rng(seed)
    gender = rng.choice(["m", "f"], size=n)
    p = rng.uniform(0.03, 0.97, n)
    y = rng.random(n) < p
    # Planted: the model's probabilities for "f" are overconfident (logit scaled up).
    logit = np.log(p / (1 - p)) * np.where(gender == "f", sharpen, 1.0)
    return y, 1 / (1 + np.exp(-logit)), gender


def test_figures_equal_loop_and_sklearn():
    y, prob, gender = _synthetic(n=3000, sharpen=2.0)
    prob = np.round(prob, 2)  # values on bin edges exercise the (lo, hi] rule
    [res] = get_check("automation_bias")(_context(y, prob, {"gender": gender}, {"gender": ["m"]}))
    overall = res["groups"]["all rows"]
    table, ece = loop_reliability(y, prob)
    assert overall["expected_calibration_error"] == pytest.approx(ece, abs=1e-9)
    assert overall["brier_score"] == pytest.approx(brier_score_loss(y, prob), abs=1e-12)
    assert overall["reliability_count"] == [c for _, _, c in table]
    for key, col in (("reliability_confidence", 0), ("reliability_accuracy", 1)):
        assert overall[key] == pytest.approx([row[col] for row in table], abs=1e-9)
    for group, key in (("m", "privileged: m"), ("f", "f")):
        g = gender == group
        figures = res["groups"][key]
        _, group_ece = loop_reliability(y[g], prob[g])
        assert figures["expected_calibration_error"] == pytest.approx(group_ece, abs=1e-9)
        assert figures["brier_score"] == pytest.approx(brier_score_loss(y[g], prob[g]), abs=1e-12)
        conf = np.maximum(prob[g], 1 - prob[g])
        wrong = (conf >= 0.9) & ((prob[g] >= 0.5) != y[g])
        assert figures["confidently_wrong_rate"] == pytest.approx(wrong.mean(), abs=1e-12)
    _, ece_m = loop_reliability(y[gender == "m"], prob[gender == "m"])
    _, ece_f = loop_reliability(y[gender == "f"], prob[gender == "f"])
    assert res["groups"]["f"]["expected_calibration_error_difference"] == pytest.approx(ece_f - ece_m, abs=1e-9)
    threshold, share = loop_review_threshold(y, prob, 0.95)
    assert res["metrics"]["review_threshold"]["value"] == pytest.approx(threshold, abs=1e-12)
    assert res["metrics"]["review_share"]["value"] == pytest.approx(share, abs=1e-12)
    m = res["metrics"]["expected_calibration_error"]
    assert m["group"] == "f" and m["ci_low"] <= m["value"] <= m["ci_high"]


def test_bins_and_target_are_configurable():
    y, prob, gender = _synthetic(1, n=1500)
    ctx = _context(y, prob, {"gender": gender}, {"gender": ["m"]}, calibration_bins=15, review_target_accuracy=0.9)
    [res] = get_check("automation_bias")(ctx)
    assert len(res["groups"]["all rows"]["reliability_count"]) == 15
    assert res["groups"]["all rows"]["expected_calibration_error"] == pytest.approx(
        loop_reliability(y, prob, bins=15)[1], abs=1e-9)
    assert res["metrics"]["review_threshold"]["value"] == pytest.approx(loop_review_threshold(y, prob, 0.9)[0])
    # A target nothing reaches: review everything, said plainly.
    [res] = get_check("automation_bias")(_context(y, np.full(1500, 0.5), {"gender": gender}, {"gender": ["m"]},
                                                  review_target_accuracy=0.99))
    assert res["metrics"]["review_threshold"]["value"] is None
    assert "every prediction needs a person's review" in res["message"]


def test_planted_miscalibration_fails_and_control_passes():
    planted, control = [], []
    for seed in range(20):
        for sharpen, bucket in ((3.0, planted), (1.0, control)):
            y, prob, gender = _synthetic(seed, sharpen=sharpen)
            [res] = get_check("automation_bias")(
                _context(y, prob, {"gender": gender}, {"gender": ["m"]}, seed=seed, resamples=200))
            bucket.append((res["metrics"]["expected_calibration_error_difference"]["status"], res["status"]))
    assert sum(s == ("fail", "fail") for s in planted) >= 19
    assert sum(s == ("pass", "pass") for s in control) >= 19


def test_small_groups_and_missing_privileged():
    y, prob, gender = _synthetic(2, n=400)
    tiny = np.where(np.arange(400) < 4, "tiny", gender)
    [res] = get_check("automation_bias")(_context(y, prob, {"g": tiny}, {"g": ["m"]}))
    assert "tiny (4)" in res["message"] and "tiny" not in res["groups"]
    # No privileged rows: calibration is still judged per group, the difference is not.
    [res] = get_check("automation_bias")(_context(y, prob, {"g": gender}, {"g": ["absent"]}))
    assert res["metrics"]["expected_calibration_error_difference"]["status"] == "skipped"
    assert res["metrics"]["expected_calibration_error"]["value"] is not None


def test_same_seed_same_result_and_strict_json():
    y, prob, gender = _synthetic(3, n=800)
    ctx = _context(y, prob, {"gender": gender}, {"gender": ["m"]}, seed=11)
    first = get_check("automation_bias")(ctx)
    assert first == get_check("automation_bias")(ctx)
    json.dumps(first, allow_nan=False)


def test_noise_corrected_ece_removes_the_noise_floor_and_keeps_a_real_gap():
    from audits.checks.automation_bias import debiased_ece

    rng = np.random.default_rng(11)
    count = np.full(10, 40.0)
    conf = np.linspace(0.55, 0.95, 10) * count
    draws = rng.binomial(40, conf / count, size=(500, 10)).astype(float)
    plug_in = np.abs(draws - conf).sum(axis=1) / count.sum()
    corrected = debiased_ece(np.broadcast_to(count, draws.shape), draws, np.broadcast_to(conf, draws.shape))
    # Calibrated: the plug-in ECE is all noise floor; the corrected one keeps less of it.
    assert plug_in.mean() > 0.04 and corrected.mean() < 0.65 * plug_in.mean()
    assert (corrected <= plug_in + 1e-12).all()
    shifted = np.clip(conf - 0.3 * count, 0, None)
    # A gap of 0.3 in every bin stands far above the noise: both read it.
    assert debiased_ece(count, shifted, conf) == pytest.approx(0.3, abs=0.02)
    # Batched over the leading axes, empty bins add nothing.
    both = debiased_ece(np.stack([count, np.r_[count[:5], np.zeros(5)]]),
                        np.stack([shifted, np.r_[shifted[:5], np.zeros(5)]]),
                        np.stack([conf, np.r_[conf[:5], np.zeros(5)]]))
    assert both.shape == (2,) and both[1] == pytest.approx(0.3, abs=0.02)
