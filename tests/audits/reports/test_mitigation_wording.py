"""The mitigation section's wording: an accuracy gain reads as a gain (no minus sign before
"gained"), and a run that registered its model without recommending it says both."""
from __future__ import annotations

from audits.mitigation.recommend import recommend
from audits.reports.mitigation_view import mitigation_view

BEFORE = {"accuracy": {"value": 0.70}, "statistical_parity_difference": {"value": -0.3}}


def _section(after_accuracy: float, recommendation: dict, registered: bool = True) -> dict:
    section = {"method": "adversarial", "attribute": "gender", "before": BEFORE,
               "after": {"accuracy": {"value": after_accuracy}, "statistical_parity_difference": {"value": -0.1}},
               "recommendation": recommendation}
    if registered:
        section["model_sha256"] = "ab" * 32
    return section


def test_accuracy_cost_names_a_gain_without_a_minus_sign():
    gained = mitigation_view(_section(0.80, {"method": "adversarial", "reason": "r"}))
    assert gained["accuracy_cost"] == "10.0 percentage points gained"
    lost = mitigation_view(_section(0.67, {"method": "adversarial", "reason": "r"}))
    assert lost["accuracy_cost"] == "3.0 percentage points lost"


def test_a_registered_model_that_is_not_recommended_says_so():
    reason = recommend({"fairness_gap": 0.3, "accuracy": 0.7},
                       [{"method": "adversarial", "adversary_weight": 1.0, "fairness_gap": 0.5, "accuracy": 0.6,
                         "makes_model": True}], "demographic_parity", 0.02)
    assert reason["method"] == "none" and "keep the parent model" not in reason["reason"]
    view = mitigation_view(_section(0.6, reason))["recommendation"]
    assert "parent model remains the better choice" in view["method"]
    assert view["note"] == ("The debiased model is registered, so that it can be audited and compared, but it is not"
                            " recommended.")
    # A method that changes no weights registers nothing, and nothing is said about a model.
    assert mitigation_view(_section(0.6, reason, registered=False))["recommendation"]["note"] == ""
    assert mitigation_view(_section(0.6, {"method": "adversarial", "reason": "r"}))["recommendation"]["note"] == ""
