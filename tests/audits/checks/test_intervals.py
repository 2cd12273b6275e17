"""Every interval contains its estimate, on every check and every generated dataset; and the
closed-form intervals against their published formulas and worked examples."""
from __future__ import annotations

import json

import numpy as np
import pytest
from scipy.stats import binomtest

from audits.checks import available_checks, get_check
from audits.checks.confidence import WIDENED, bc_interval, contain, katz_ratio, rate_combination, wilson

from .generated import GENERATORS


def _intervals(result: dict):
    """(where, value, low, high) of every metric and every per-group figure with an interval."""
    for name, metric in result["metrics"].items():
        if metric.get("ci_low") is not None or metric.get("ci_high") is not None:
            yield f"metrics.{name}", metric["value"], metric["ci_low"], metric["ci_high"]
    for group, figures in result["groups"].items():
        for key, low in figures.items():
            if key.endswith("_ci_low") and (low is not None or figures.get(key[:-7] + "_ci_high") is not None):
                name = key[:-7]
                yield f"groups.{group}.{name}", figures.get(name), low, figures.get(name + "_ci_high")


@pytest.mark.parametrize("dataset", sorted(GENERATORS))
def test_every_interval_contains_its_estimate(dataset):
    ctx = GENERATORS[dataset]()
    seen = 0
    for check_id in available_checks():
        if check_id == "stereotype_pairs":
            continue  # reads sentence pairs, not labelled rows
        for result in get_check(check_id)(ctx):
            json.dumps(result, allow_nan=False)
            for where, value, low, high in _intervals(result):
                seen += 1
                assert None not in (value, low, high), f"{check_id} {result['attribute']} {where}"
                assert low <= value <= high, f"{check_id} {result['attribute']} {where}: {value} not in [{low}, {high}]"
    assert seen > 50


def test_a_zero_rate_gives_a_wide_disparate_impact_interval_not_zero_zero():
    [result] = [r for r in get_check("group_fairness")(GENERATORS["no favourable for a group"]())
                if r["attribute"] == "race"]
    figures = result["groups"]["c"]
    assert figures["disparate_impact"] == 0.0
    assert figures["disparate_impact_ci_low"] == 0.0 and figures["disparate_impact_ci_high"] > 0.05
    assert figures["statistical_parity_difference_ci_high"] > figures["statistical_parity_difference"]


def test_wilson_equals_scipy():
    for x, n in ((0, 58), (3, 20), (20, 20), (512, 1000)):
        low, high = wilson(x, n)
        expected = binomtest(x, n).proportion_ci(confidence_level=0.95, method="wilson")
        assert (float(low), float(high)) == pytest.approx((expected.low, expected.high), abs=1e-12)


def test_newcombe_worked_examples():
    # Newcombe (1998), Table II, method 10: 56/70 - 48/80 = 0.2, 95% CI 0.0524 to 0.3339;
    # 9/10 - 3/10 = 0.6, 0.1705 to 0.8090.
    assert rate_combination([(56, 70), (48, 80)], [1, -1]) == pytest.approx((0.0524, 0.3339), abs=5e-5)
    assert rate_combination([(9, 10), (3, 10)], [1, -1]) == pytest.approx((0.1705, 0.8090), abs=5e-5)
    assert rate_combination([(5, 0), (3, 10)], [1, -1]) == (None, None)


def test_katz_ratio_by_formula_and_with_empty_cells():
    low, high, _ = katz_ratio(20, 50, 30, 50)
    se = np.sqrt(1 / 20 - 1 / 50 + 1 / 30 - 1 / 50)
    assert (low, high) == pytest.approx((2 / 3 * np.exp(-1.959964 * se), 2 / 3 * np.exp(1.959964 * se)), rel=1e-6)
    low, high, method = katz_ratio(0, 58, 30, 60)
    assert 0 < low < high and high > 0.05 and "0.5 added" in method
    assert katz_ratio(5, 10, 0, 10)[:2] == (None, None)  # an infinite ratio has no interval


def test_bias_corrected_bootstrap_follows_a_shifted_distribution_and_contain_says_when_it_widens():
    rng = np.random.default_rng(0)
    samples = rng.normal(1.3, 0.2, 4000)  # the bootstrap sits above the estimate, as an ECE's does
    low, high = bc_interval(samples, 1.1)
    plain = np.quantile(samples, [0.025, 0.975])
    assert low < plain[0] and high < plain[1] and low < 1.1 < high
    assert contain(1.0, 0.7, 0.9, "m") == (0.7, 1.0, "m" + WIDENED)
    assert contain(0.8, 0.7, 0.9, "m") == (0.7, 0.9, "m")
    assert bc_interval(np.full(100, np.nan), 0.5) == (None, None)
