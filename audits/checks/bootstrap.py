"""Seeded bootstrap intervals for confusion-matrix metrics.

Every group-fairness metric is a function of each group's four confusion cells
(TP, FP, TN, FN). Resampling a group's rows with replacement is therefore the same as
drawing its cell counts from a multinomial with the observed proportions, which makes
1,000 stratified resamples a few array operations regardless of dataset size.
"""
from __future__ import annotations

import numpy as np

CELLS = ("tp", "fp", "tn", "fn")


def confusion_cells(y_true: np.ndarray, y_pred: np.ndarray) -> np.ndarray:
    y_true = np.asarray(y_true, dtype=bool)
    y_pred = np.asarray(y_pred, dtype=bool)
    return np.array(
        [
            np.sum(y_true & y_pred),
            np.sum(~y_true & y_pred),
            np.sum(~y_true & ~y_pred),
            np.sum(y_true & ~y_pred),
        ],
        dtype=np.int64,
    )


def resample_cells(cells: np.ndarray, resamples: int, rng: np.random.Generator) -> np.ndarray:
    """(resamples, 4) cell counts of bootstrap resamples of one group."""
    n = int(cells.sum())
    if n == 0:
        return np.zeros((resamples, 4), dtype=np.int64)
    return rng.multinomial(n, cells / n, size=resamples)


def _ratio(num, den):
    num = np.asarray(num, dtype=np.float64)
    den = np.asarray(den, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(den > 0, num / np.where(den > 0, den, 1), np.nan)


def group_rates(cells: np.ndarray) -> dict[str, np.ndarray]:
    """Rates of one group from cells shaped (..., 4)."""
    tp, fp, tn, fn = (cells[..., i] for i in range(4))
    n = tp + fp + tn + fn
    return {
        "selection_rate": _ratio(tp + fp, n),
        "base_rate": _ratio(tp + fn, n),
        "accuracy": _ratio(tp + tn, n),
        "tpr": _ratio(tp, tp + fn),
        "fpr": _ratio(fp, fp + tn),
        "fnr": _ratio(fn, tp + fn),
        "count": n.astype(np.float64),
    }


def pair_metrics(unpriv: np.ndarray, priv: np.ndarray) -> dict[str, np.ndarray]:
    """AIF360's difference and ratio metrics (unprivileged against privileged)."""
    u, p = group_rates(unpriv), group_rates(priv)
    return {
        "statistical_parity_difference": u["selection_rate"] - p["selection_rate"],
        "disparate_impact": _ratio(u["selection_rate"], p["selection_rate"]),
        "equal_opportunity_difference": u["tpr"] - p["tpr"],
        "average_odds_difference": 0.5 * ((u["fpr"] - p["fpr"]) + (u["tpr"] - p["tpr"])),
        "false_positive_rate_difference": u["fpr"] - p["fpr"],
        "false_negative_rate_difference": u["fnr"] - p["fnr"],
        "accuracy_difference": u["accuracy"] - p["accuracy"],
    }


def percentile_interval(samples: np.ndarray, level: float = 0.95) -> tuple[float | None, float | None]:
    finite = samples[np.isfinite(samples)]
    # An interval from a few surviving resamples would look sure and be wrong.
    if finite.size < 0.9 * samples.size or finite.size == 0:
        return None, None
    tail = (1 - level) / 2 * 100
    low, high = np.percentile(finite, [tail, 100 - tail])
    return float(low), float(high)
