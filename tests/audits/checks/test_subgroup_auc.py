"""subgroup_auc against the Jigsaw reference formulas and an independent pairwise AUC, and the
shared bootstrap helper."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from audits.checks import CheckContext, get_check
from audits.checks.intervals import bootstrap, resample_weights, strata_codes, weighted_auc
from audits.checks.policy import DEFAULT_POLICY


def _context(y_true, prob, groups: dict, privileged: dict, seed=0, resamples=300):
    return CheckContext(
        y_true=np.asarray(y_true, bool), y_pred=np.asarray(prob) >= 0.5, prob=np.asarray(prob, float),
        groups=pd.DataFrame(groups), privileged=privileged, policy=DEFAULT_POLICY,
        seed=seed, resamples=resamples, min_group_rows=10,
    )


def pairwise_auc(pos_scores, neg_scores) -> float:
    """AUC by its definition: every positive against every negative, ties counting half."""
    diff = np.asarray(pos_scores)[:, None] - np.asarray(neg_scores)[None, :]
    return float(((diff > 0) + 0.5 * (diff == 0)).mean())


def _synthetic(seed=0, n=1500, shift=0.0):
    rng = np.random.default_rng(seed)
    term = rng.choice(["none", "muslim", "gay"], size=n, p=[0.6, 0.25, 0.15])
    y = rng.random(n) < 0.5
    score = 0.5 + 0.2 * np.where(y, 1, -1) + rng.normal(0, 0.15, n)
    # Planted: the favourable (non-toxic) texts that mention "gay" get a lower favourable
    # probability, a higher toxicity: Borkan's BPSN shortfall, the identity-term false alarm.
    score -= shift * ((term == "gay") & y)
    return y, np.round(np.clip(score, 0, 1), 2), term  # rounded, so there are ties


# The Jigsaw reference (Borkan et al. 2019; the "Unintended Bias in Toxicity Classification"
# benchmark), written from the paper's definitions on a frame with a boolean subgroup
# column, the boolean toxicity label and the model's toxicity score.
def jigsaw_auc(labels, scores):
    try:
        return roc_auc_score(labels, scores)
    except ValueError:
        return None


def jigsaw_subgroup_auc(df, subgroup, label, model):
    examples = df[df[subgroup]]
    return jigsaw_auc(examples[label], examples[model])


def jigsaw_bpsn_auc(df, subgroup, label, model):
    """Background positive, subgroup negative."""
    examples = pd.concat([df[df[subgroup] & ~df[label]], df[~df[subgroup] & df[label]]])
    return jigsaw_auc(examples[label], examples[model])


def jigsaw_bnsp_auc(df, subgroup, label, model):
    """Background negative, subgroup positive."""
    examples = pd.concat([df[df[subgroup] & df[label]], df[~df[subgroup] & ~df[label]]])
    return jigsaw_auc(examples[label], examples[model])


def test_aucs_equal_the_jigsaw_reference_with_positive_the_unfavourable_label():
    y, prob, term = _synthetic(shift=0.3)
    [res] = get_check("subgroup_auc")(_context(y, prob, {"religion": term}, {"religion": ["none"]}))
    # A toxicity model: favourable = not toxic, so toxic = the unfavourable label.
    frame = pd.DataFrame({"toxic": ~y, "toxicity": 1 - prob})
    overall = jigsaw_auc(frame["toxic"], frame["toxicity"])
    assert res["metrics"]["overall_auc"]["value"] == pytest.approx(overall, abs=1e-12)
    assert overall == pytest.approx(pairwise_auc(prob[y], prob[~y]), abs=1e-12)
    for group in ("muslim", "gay"):
        frame[group] = term == group
        expected = {
            "subgroup_auc": jigsaw_subgroup_auc(frame, group, "toxic", "toxicity"),
            "bpsn_auc": jigsaw_bpsn_auc(frame, group, "toxic", "toxicity"),
            "bnsp_auc": jigsaw_bnsp_auc(frame, group, "toxic", "toxicity"),
        }
        figures = res["groups"][group]
        for name, value in expected.items():
            assert figures[name] == pytest.approx(value, abs=1e-12)
            assert figures[f"{name}_gap"] == pytest.approx(value - overall, abs=1e-12)
            assert figures[f"{name}_ci_low"] <= figures[name] <= figures[f"{name}_ci_high"]
        g = term == group
        assert figures["count"] == g.sum() and figures["positives"] == (g & ~y).sum()
    assert "none" not in res["groups"]  # the background is not its own subgroup
    # The planted false alarm is a BPSN shortfall of "gay", as a Jigsaw reader calls it.
    assert res["metrics"]["bpsn_auc_gap"]["group"] == "gay"
    assert res["groups"]["gay"]["bpsn_auc"] < res["groups"]["gay"]["bnsp_auc"]
    assert "gay (" in res["message"] and "is disfavoured: its BPSN AUC is" in res["message"]
    assert "towards the unfavourable label" in res["message"]


def test_weighted_auc_equals_sklearn_sample_weight():
    rng = np.random.default_rng(3)
    scores = np.round(rng.random(400), 1)
    labels = rng.random(400) < 0.4
    weights = rng.integers(0, 4, size=(5, 400)).astype(float)
    for row in weights:
        assert weighted_auc(scores, labels, row)[0] == pytest.approx(
            roc_auc_score(labels, scores, sample_weight=row), abs=1e-12)
    assert np.isnan(weighted_auc(scores, np.ones(400, bool), np.ones(400))[0])


def test_resample_weights_keep_strata_sizes_and_bound_memory():
    strata = strata_codes(np.repeat(["a", "b", "c"], [50, 30, 20]), np.tile([True, False], 50))
    chunks = list(resample_weights(strata, 250, np.random.default_rng(0), max_cells=1000))
    assert [c.shape for c in chunks] == [(10, 100)] * 25
    weights = np.concatenate(chunks)
    for code in np.unique(strata):
        assert (weights[:, strata == code].sum(axis=1) == (strata == code).sum()).all()
    again = np.concatenate(list(resample_weights(strata, 250, np.random.default_rng(0), max_cells=1000)))
    assert (weights == again).all()
    means = bootstrap(lambda w: {"m": w @ np.arange(100.0) / 100}, strata, np.random.default_rng(0), resamples=250)
    assert means["m"].shape == (250,)


def test_planted_bpsn_shortfall_fails_and_control_passes():
    planted, control = [], []
    for seed in range(20):
        for shift, bucket in ((0.35, planted), (0.0, control)):
            y, prob, term = _synthetic(seed, n=1200, shift=shift)
            [res] = get_check("subgroup_auc")(
                _context(y, prob, {"religion": term}, {"religion": ["none"]}, seed=seed, resamples=200))
            bucket.append((res["metrics"]["bpsn_auc_gap"]["status"], res["status"]))
    assert sum(s == ("fail", "fail") for s in planted) >= 19
    assert sum(s == ("pass", "pass") for s in control) >= 19


def test_skips_with_reasons():
    y, prob, term = _synthetic(1, n=300)
    [res] = get_check("subgroup_auc")(_context(np.ones(300, bool), prob, {"t": term}, {"t": ["none"]}))
    assert res["status"] == "skipped" and "same label" in res["message"]
    tiny = np.where(np.arange(300) < 5, "rare", "none")
    [res] = get_check("subgroup_auc")(_context(y, prob, {"t": tiny}, {"t": ["none"]}))
    assert res["status"] == "skipped" and "rare (5)" in res["message"]
    # A subgroup with unfavourable (positive) rows only: no subgroup AUC and no BPSN (no
    # subgroup negatives), but BNSP is defined: its toxic rows against the background's others.
    only_pos = np.where(~y & (np.arange(300) % 3 == 0), "x", "none")
    [res] = get_check("subgroup_auc")(_context(y, prob, {"t": only_pos}, {"t": ["none"]}))
    figures = res["groups"]["x"]
    assert figures["subgroup_auc"] is None and figures["bpsn_auc"] is None
    toxicity = 1 - prob
    assert figures["bnsp_auc"] == pytest.approx(
        pairwise_auc(toxicity[only_pos == "x"], toxicity[(only_pos == "none") & y]))
    assert res["metrics"]["subgroup_auc_gap"]["status"] == "skipped"


def test_same_seed_same_result_and_strict_json():
    y, prob, term = _synthetic(2, n=600)
    ctx = _context(y, prob, {"religion": term}, {"religion": ["none"]}, seed=5)
    first, second = get_check("subgroup_auc")(ctx), get_check("subgroup_auc")(ctx)
    assert first == second
    json.dumps(first, allow_nan=False)
    other = get_check("subgroup_auc")(_context(y, prob, {"religion": term}, {"religion": ["none"]}, seed=6))
    assert other[0]["metrics"]["overall_auc"]["ci_low"] != first[0]["metrics"]["overall_auc"]["ci_low"]
