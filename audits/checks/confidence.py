"""Confidence intervals, one method per kind of statistic, each containing its estimate.

- a rate (x of n): Wilson's score interval, which stays inside [0, 1] and is not
  [0, 0] for 0 of n (Wilson 1927; Brown, Cai & DasGupta 2001);
- a difference of independent rates (SPD, EOD, FPR and FNR differences) and any other
  linear combination of them (AOD): the MOVER of Zou & Donner (2008) over the rates'
  Wilson intervals, which for one difference is Newcombe's (1998) hybrid score
  interval, his method 10;
- a ratio of independent rates (disparate impact): the Katz log interval (Katz et al.
  1978), with 0.5 added to every cell of the 2 x 2 table when one is empty, so that 0
  of 58 gives a wide interval from 0, not [0, 0];
- anything else (AUC gaps, a minimum over groups): the bias-corrected percentile
  bootstrap (Efron 1987). A statistic whose bootstrap distribution is shifted from its
  estimate (a minimum) gets its percentiles moved back;
- calibration error, whose binned estimate is biased upward by noise in small bins
  (a sum of absolute values): the union of those intervals for the ECE and for a
  noise-corrected ECE (automation_bias.debiased_ece), so the lower end can reach a
  truth below the estimate.

Whatever the method, an interval that would still exclude its estimate is widened to
reach it, and its method says so: a reader is never shown a point outside its own
interval. bench/interval_coverage.py measures how often the 95 % intervals cover known truths.
"""
from __future__ import annotations

import numpy as np
from scipy.stats import norm

LEVEL = 0.95
WILSON = "Wilson score"
NEWCOMBE = "Newcombe hybrid score (MOVER over Wilson intervals)"
KATZ = "Katz log interval"
KATZ_CORRECTED = "Katz log interval, 0.5 added to each cell (an empty cell)"
BOOTSTRAP = "bias-corrected percentile bootstrap"
BOOTSTRAP_UNION = ("bias-corrected and plain percentile bootstrap of the ECE and of its noise-corrected estimate,"
                   " combined")
WIDENED = ", widened to include the estimate"
# An interval from a few surviving resamples would look sure and be wrong.
MIN_FINITE_SHARE = 0.9


def _z(level: float) -> float:
    return float(norm.ppf(0.5 + level / 2))


def wilson(successes, n, level: float = LEVEL) -> tuple[np.ndarray, np.ndarray]:
    """Wilson score interval of successes / n; NaN where n is 0."""
    x = np.asarray(successes, dtype=np.float64)
    n = np.asarray(n, dtype=np.float64)
    z = _z(level)
    with np.errstate(divide="ignore", invalid="ignore"):
        p = x / n
        centre = (p + z * z / (2 * n)) / (1 + z * z / n)
        half = z / (1 + z * z / n) * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    low, high = np.clip(centre - half, 0.0, 1.0), np.clip(centre + half, 0.0, 1.0)
    empty = n <= 0
    return np.where(empty, np.nan, low), np.where(empty, np.nan, high)


def mover(estimates, lows, highs, coefficients) -> tuple[float, float]:
    """Interval of sum(c_i * estimate_i) for independent estimates with intervals (MOVER).

    Each term contributes its own distance to the edge of its interval on the side
    being bounded, so an asymmetric Wilson interval stays asymmetric in the sum.
    """
    terms, below, above = [], [], []
    for est, low, high, c in zip(estimates, lows, highs, coefficients, strict=True):
        ends = sorted((c * low, c * high))
        terms.append(c * est)
        below.append(c * est - ends[0])
        above.append(ends[1] - c * est)
    total = float(np.sum(terms))
    return total - float(np.sqrt(np.sum(np.square(below)))), total + float(np.sqrt(np.sum(np.square(above))))


def rate_combination(counts: list[tuple[int, int]], coefficients: list[float],
                     level: float = LEVEL) -> tuple[float | None, float | None]:
    """MOVER interval of sum(c_i * x_i / n_i) over independent rates given as (x_i, n_i).

    [(x1, n1), (x2, n2)] with [1, -1] is Newcombe's interval for p1 - p2. None where a
    rate has no rows.
    """
    if any(n <= 0 for _, n in counts):
        return None, None
    rates = [x / n for x, n in counts]
    lows, highs = wilson([x for x, _ in counts], [n for _, n in counts], level)
    return mover(rates, lows, highs, coefficients)


def katz_ratio(x1: int, n1: int, x2: int, n2: int, level: float = LEVEL) -> tuple[float | None, float | None, str]:
    """Interval of (x1 / n1) / (x2 / n2) on the log scale, and the method's name.

    None when the ratio itself is undefined (no rows, or x2 = 0 where it is infinite).
    """
    if n1 <= 0 or n2 <= 0 or x2 <= 0:
        return None, None, KATZ
    cells = (x1, n1 - x1, x2, n2 - x2)
    method = KATZ
    if min(cells) == 0:
        # Haldane's correction: without it 0 of n gives log 0 and a variance of 0.
        x1, n1, x2, n2 = x1 + 0.5, n1 + 1, x2 + 0.5, n2 + 1
        method = KATZ_CORRECTED
    log_ratio = np.log((x1 / n1) / (x2 / n2))
    se = np.sqrt(1 / x1 - 1 / n1 + 1 / x2 - 1 / n2)
    z = _z(level)
    return float(np.exp(log_ratio - z * se)), float(np.exp(log_ratio + z * se)), method


def parity_intervals(x_u: int, n_u: int, x_p: int, n_p: int) -> dict[str, tuple]:
    """(low, high, method) of the statistical parity difference and the disparate impact
    of rate x_u / n_u (unprivileged) against x_p / n_p (privileged)."""
    return {"statistical_parity_difference": (*rate_combination([(x_u, n_u), (x_p, n_p)], [1, -1]), NEWCOMBE),
            "disparate_impact": katz_ratio(x_u, n_u, x_p, n_p)}


def bc_interval(samples, estimate, level: float = LEVEL) -> tuple[float | None, float | None]:
    """Bias-corrected percentile interval of bootstrap `samples` around `estimate`.

    z0 = Phi^-1(share of resamples below the estimate, ties counting half) measures how
    far the bootstrap distribution sits from the estimate; the percentiles are taken at
    Phi(2 z0 -/+ z). When the estimate lies beyond the plain percentile interval the
    correction would push both ends into one tail, so that interval is kept instead
    (contain() then widens it).
    """
    samples = np.asarray(samples, dtype=np.float64).ravel()
    finite = samples[np.isfinite(samples)]
    if estimate is None or not np.isfinite(estimate) or finite.size == 0 \
            or finite.size < MIN_FINITE_SHARE * samples.size:
        return None, None
    tail = (1 - level) / 2
    below = float(np.mean(finite < estimate) + 0.5 * np.mean(finite == estimate))
    if tail < below < 1 - tail:
        z0 = norm.ppf(below)
        quantiles = norm.cdf(2 * z0 + norm.ppf([tail, 1 - tail]))
    else:
        quantiles = np.array([tail, 1 - tail])
    low, high = np.quantile(finite, quantiles)
    return float(low), float(high)


def union_interval(estimate, *sample_sets, level: float = LEVEL) -> tuple[float | None, float | None]:
    """The smallest interval holding the bias-corrected and the plain percentile intervals
    of every set of (samples, point) given: a conservative interval for a statistic whose
    bootstrap is unreliable near a kink (a sum of absolute values such as an ECE), where
    a second, noise-corrected estimator supplies the lower end the plug-in cannot."""
    lows, highs = [], []
    tail = (1 - level) / 2
    for samples, point in sample_sets:
        low, high = bc_interval(samples, point, level)
        if low is None:
            return None, None
        finite = np.asarray(samples, dtype=np.float64)
        finite = finite[np.isfinite(finite)]
        plain = np.quantile(finite, [tail, 1 - tail])
        lows += [low, float(plain[0])]
        highs += [high, float(plain[1])]
    if estimate is None or not lows:
        return None, None
    return min(lows), max(highs)


def contain(value, low, high, method: str) -> tuple[float | None, float | None, str]:
    """The interval widened, if need be, to include its estimate, and the method's name."""
    if value is None or low is None or high is None:
        return low, high, method
    if low <= value <= high:
        return low, high, method
    return min(low, value), max(high, value), method + WIDENED
