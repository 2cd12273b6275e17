"""The small-group rule: how many rows a group needs before the policy's question can be
decided for it.

A group is large enough when a test at alpha 0.05 (two-sided) would detect a
difference of the policy threshold's size with 80 % power:

- rates against the privileged group (group_fairness, labelling_bias): the two-
  proportion z-test, given the privileged group's rate and size, for a gap of the
  statistical parity threshold (0.1 by default);
- ranking (subgroup_auc): a subgroup AUC whose Hanley & McNeil (1982) standard error,
  at the overall AUC and the group's share of unfavourable rows, resolves a shortfall
  of the AUC-gap threshold (0.05);
- calibration (automation_bias): the one-sample test of a proportion that detects
  accuracy differing from stated confidence by the ECE threshold (0.05), at the
  overall accuracy.

A group below its rule is reported with its figures, its status `insufficient` and the
rows it would need, and decides no verdict alone; but a figure whose whole interval
already lies outside the policy is a breach shown even in few rows, and stays `fail`
(intervals.mark_insufficient).
"""
from __future__ import annotations

import math
from collections.abc import Callable

from scipy.stats import norm

ALPHA, POWER = 0.05, 0.80
Z_ALPHA, Z_POWER = float(norm.ppf(1 - ALPHA / 2)), float(norm.ppf(POWER))
MAX_ROWS = 10**8


def _smallest(enough: Callable[[int], bool]) -> int | None:
    """The smallest n in [1, MAX_ROWS] with enough(n) (monotone in n), or None."""
    if not enough(MAX_ROWS):
        return None
    low, high = 1, MAX_ROWS
    while low < high:
        mid = (low + high) // 2
        if enough(mid):
            high = mid
        else:
            low = mid + 1
    return low


def _alternatives(rate: float, gap: float) -> list[float]:
    return [p for p in (rate - gap, rate + gap) if 0.0 <= p <= 1.0]


def two_proportion_power(p1: float, n1: int, p2: float, n2: int) -> float:
    """Power of the two-sided two-proportion z-test (pooled under H0) at ALPHA."""
    pooled = (n1 * p1 + n2 * p2) / (n1 + n2)
    se0 = math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
    se1 = math.sqrt(p1 * (1 - p1) / n1 + p2 * (1 - p2) / n2)
    margin = abs(p1 - p2) - Z_ALPHA * se0
    if se1 == 0:
        return 1.0 if margin > 0 else 0.0
    return float(norm.cdf(margin / se1))


def rows_for_rate_gap(reference_rate: float, reference_rows: int, gap: float) -> int | None:
    """Rows a group needs for a rate `gap` from the reference group's to be detected;
    None when no number of rows is enough (the reference group itself is too small).
    Both directions are tried and the harder one counts."""
    needs = [_smallest(lambda n, p=p: two_proportion_power(reference_rate, reference_rows, p, n) >= POWER)
             for p in _alternatives(reference_rate, gap)]
    if not needs:
        return 1  # the threshold is wider than any rate can move: nothing to detect
    return None if None in needs else max(needs)


def rows_for_calibration_gap(accuracy: float, gap: float) -> int:
    """Rows for a one-sample test of a proportion to tell `accuracy` from accuracy -/+ gap."""
    needs = [math.ceil(((Z_ALPHA * math.sqrt(accuracy * (1 - accuracy)) + Z_POWER * math.sqrt(p * (1 - p))) / gap)
                       ** 2) for p in _alternatives(accuracy, gap)]
    return max(needs, default=1)


def auc_standard_error(auc: float, positives: float, negatives: float) -> float:
    """Hanley & McNeil (1982), equation 2."""
    q1, q2 = auc / (2 - auc), 2 * auc * auc / (1 + auc)
    variance = (auc * (1 - auc) + (positives - 1) * (q1 - auc * auc) + (negatives - 1) * (q2 - auc * auc)) \
        / (positives * negatives)
    return math.sqrt(max(variance, 0.0))


def rows_for_auc_gap(auc: float, positive_share: float, gap: float) -> int | None:
    """Rows a group with this share of positives needs for its AUC's standard error to
    resolve a shortfall of `gap` (z-test at ALPHA, POWER); None for a group of one class."""
    if not 0 < positive_share < 1:
        return None

    def enough(n: int) -> bool:
        positives, negatives = n * positive_share, n * (1 - positive_share)
        if positives < 1 or negatives < 1:
            return False
        return (Z_ALPHA + Z_POWER) * auc_standard_error(auc, positives, negatives) <= gap

    return _smallest(enough)
