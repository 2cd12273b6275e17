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


def theil_indices(unpriv: np.ndarray, priv: np.ndarray) -> dict[str, np.ndarray]:
    """AIF360's theil_index and between_group_theil_index over both groups' rows.

    With b = prediction - label + 1, a false negative earns 0, a correct decision 1 and
    a false positive 2; every figure is therefore a function of the confusion cells.
    """
    both = unpriv + priv
    tp, fp, tn, fn = (both[..., i] for i in range(4))
    overall = _theil(np.stack([fn, tp + tn, fp], axis=-1), np.array([0.0, 1.0, 2.0]))
    means = []
    for cells in (unpriv, priv):
        tp_g, fp_g, tn_g, fn_g = (cells[..., i].astype(np.float64) for i in range(4))
        n_g = tp_g + fp_g + tn_g + fn_g
        with np.errstate(divide="ignore", invalid="ignore"):
            means.append((tp_g + tn_g + 2 * fp_g) / n_g)
    # Between groups: every row's benefit replaced by its group's mean benefit.
    counts = np.stack([unpriv.sum(axis=-1), priv.sum(axis=-1)], axis=-1)
    between = _theil(counts, np.stack(means, axis=-1))
    return {"theil_index": overall, "between_group_theil_index": between}


def _theil(counts: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Theil index (generalised entropy, alpha 1) of k blocks of rows, each block with
    one benefit value; `values` broadcasts against `counts` (..., k). 0 ln 0 is 0."""
    counts = counts.astype(np.float64)
    n = counts.sum(axis=-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        mu = np.nansum(counts * values, axis=-1) / n
        ratio = values / mu[..., None]
        terms = np.where((counts > 0) & (ratio > 0), ratio * np.log(np.where(ratio > 0, ratio, 1)), 0.0)
        return np.where(n > 0, (counts * terms).sum(axis=-1) / n, np.nan)


def percentile_interval(samples: np.ndarray, level: float = 0.95) -> tuple[float | None, float | None]:
    finite = samples[np.isfinite(samples)]
    # An interval from a few surviving resamples would look sure and be wrong.
    if finite.size < 0.9 * samples.size or finite.size == 0:
        return None, None
    tail = (1 - level) / 2 * 100
    low, high = np.percentile(finite, [tail, 100 - tail])
    return float(low), float(high)
