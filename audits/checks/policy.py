"""Policy thresholds and the pass / warn / fail rule.

A threshold is the acceptable range [low, high] of a metric. A metric fails when its
whole confidence interval lies outside the range, warns when only the point estimate
does, and passes otherwise (DESIGN.md).
"""
from __future__ import annotations

import math

DEFAULT_POLICY = {
    "name": "default",
    "version": 1,
    "thresholds": {
        # Four-fifths rule and its mirror image.
        "disparate_impact": {"low": 0.8, "high": 1.25},
        "statistical_parity_difference": {"low": -0.1, "high": 0.1},
        "equal_opportunity_difference": {"low": -0.1, "high": 0.1},
        "average_odds_difference": {"low": -0.1, "high": 0.1},
        # Borkan et al. 2019: a subgroup's AUCs within 0.05 of the overall AUC. Only a
        # shortfall harms the subgroup; 1.0 is the largest gap an AUC can show.
        "subgroup_auc_gap": {"low": -0.05, "high": 1.0},
        "bpsn_auc_gap": {"low": -0.05, "high": 1.0},
        "bnsp_auc_gap": {"low": -0.05, "high": 1.0},
        # Calibration: scores a person can take at face value, and no group worse off.
        "expected_calibration_error": {"low": 0.0, "high": 0.05},
        "expected_calibration_error_difference": {"low": -1.0, "high": 0.05},
        # Annotators disagreeing more on a group's texts than on the privileged group's.
        "annotator_disagreement_difference": {"low": -1.0, "high": 0.1},
        # Smallest observed / expected share over the groups: four-fifths again. The
        # smallest ratio can never exceed 1, because both sets of shares sum to 1.
        "representation_ratio": {"low": 0.8, "high": 1.0},
        # Cross-validated AUC of predicting the group from the text; 0.5 is no signal.
        "proxy_leakage_auc": {"low": 0.0, "high": 0.7},
        # Share of one-term identity swaps that change the decision (DESIGN.md).
        "counterfactual_flip_rate": {"low": 0.0, "high": 0.02},
        # Share of sentence pairs in which a language model prefers the more stereotypical
        # sentence (CrowS-Pairs); 0.5 is no preference.
        "stereotype_score": {"low": 0.45, "high": 0.55},
    },
}

STATUS_ORDER = {"pass": 0, "skipped": 0, "insufficient": 0, "inconclusive": 0, "warn": 1, "fail": 2, "error": 2}
# Statuses that say nothing was shown either way: a figure too uncertain to decide
# (a group below the small-group rule), or a result in which nothing could be judged.
NO_EVIDENCE = {"skipped", "insufficient", "inconclusive"}


def _finite(x: float | None) -> bool:
    return x is not None and math.isfinite(x)


def metric_status(value, ci_low, ci_high, threshold: dict | None) -> str:
    if not _finite(value):
        return "skipped"
    if threshold is None:
        return "pass"
    low, high = threshold["low"], threshold["high"]
    if value >= low and value <= high:
        return "pass"
    if _finite(ci_low) and _finite(ci_high) and (ci_high < low or ci_low > high):
        return "fail"
    return "warn"


def worst_status(statuses) -> str:
    """The verdict over several statuses: fail (or error) over warn over pass; with no
    pass, "inconclusive" when some figure was too uncertain to decide, else "skipped"."""
    statuses = list(statuses)
    worst = max(statuses, key=lambda s: STATUS_ORDER.get(s, 0), default="skipped")
    if worst not in NO_EVIDENCE and worst != "pass":
        return worst
    if "pass" in statuses:
        return "pass"
    return "inconclusive" if {"insufficient", "inconclusive"} & set(statuses) else "skipped"


def distance_outside(value, threshold: dict | None) -> float:
    """How far a value lies from its acceptable range; used to pick the worst group."""
    if not _finite(value):
        return -1.0
    if threshold is None:
        return abs(value)
    # A one-sided range (a minimum count) has None for its open end.
    low = -math.inf if threshold.get("low") is None else threshold["low"]
    high = math.inf if threshold.get("high") is None else threshold["high"]
    if low <= value <= high:
        # Inside: rank by closeness to the edge so the nearest-to-failing group wins.
        return -min(value - low, high - value) / 1e6
    return max(low - value, value - high)
