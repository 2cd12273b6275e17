"""Seeded, group-stratified bootstrap for metrics that are not functions of confusion cells.

AUC, calibration error, Brier score, base rates and Krippendorff's alpha all depend on
the individual rows, so bootstrap.py's multinomial-over-cells shortcut does not apply.
Here each resample draws row indices with replacement *within each stratum* (a group,
or a group crossed with the label), and is handed to the statistic as a weight matrix:
weights[r, i] is how often row i was drawn in resample r. Every statistic in the
checks is written for weights (sums, ratios of sums, a weighted AUC), so a whole chunk
of resamples costs a few array operations, and with unit weights the same code gives
the point value.

Memory stays bounded: resamples are drawn in chunks of at most `max_cells` weights
(rows x resamples), whatever the dataset size.
"""
from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np
import pandas as pd
from scipy import sparse

from .confidence import BOOTSTRAP, bc_interval, contain
from .policy import NO_EVIDENCE, distance_outside, metric_status, worst_status

DEFAULT_RESAMPLES = 1000
# 2**21 float64 weights is 16 MiB per chunk; statistics make a few copies of it.
MAX_CELLS = 2**21

Statistic = Callable[[np.ndarray], dict[str, np.ndarray]]


def strata_codes(*columns) -> np.ndarray:
    """One integer code per row for each distinct combination of the given columns."""
    if not columns:
        raise ValueError("strata_codes needs at least one column")
    frame = pd.DataFrame({i: np.asarray(c) for i, c in enumerate(columns)})
    return frame.groupby(list(frame.columns), sort=True, dropna=False).ngroup().to_numpy()


def resample_weights(
    strata: np.ndarray, resamples: int, rng: np.random.Generator, max_cells: int = MAX_CELLS
) -> Iterator[np.ndarray]:
    """Chunks of (k, n) weights: row counts of bootstrap resamples drawn within each stratum.

    Each stratum keeps its size in every resample, so a small group is never swamped
    or emptied by chance; the draws are indices, turned into counts with one bincount.
    """
    strata = np.asarray(strata)
    n = strata.size
    members = [np.flatnonzero(strata == code) for code in np.unique(strata)]
    chunk = max(1, max_cells // max(n, 1))
    for start in range(0, resamples, chunk):
        k = min(chunk, resamples - start)
        if n == 0:
            yield np.zeros((k, 0))
            continue
        draws = np.concatenate(
            [rows[rng.integers(0, rows.size, size=(k, rows.size))] for rows in members], axis=1
        )
        flat = (draws + (np.arange(k) * n)[:, None]).ravel()
        yield np.bincount(flat, minlength=k * n).reshape(k, n).astype(np.float64)


def bootstrap(
    statistic: Statistic, strata: np.ndarray, rng: np.random.Generator, *,
    resamples: int = DEFAULT_RESAMPLES, max_cells: int = MAX_CELLS,
) -> dict[str, np.ndarray]:
    """Each figure the statistic returns, evaluated on every resample: name -> (resamples, ...).

    `statistic` maps (k, rows) weights to a dict of arrays whose first axis is k; the
    checks call it once more with np.ones((1, rows)) for the point value.
    """
    if resamples < 1:
        raise ValueError(f"resamples must be at least 1, not {resamples}")
    parts = [statistic(w) for w in resample_weights(strata, resamples, rng, max_cells)]
    return {name: np.concatenate([p[name] for p in parts]) for name in parts[0]}


def ratio(num, den) -> np.ndarray:
    """num / den, NaN where den is zero (an empty group has no rate, not a zero rate)."""
    num = np.asarray(num, dtype=np.float64)
    den = np.asarray(den, dtype=np.float64)
    safe = np.where(den != 0, den, 1.0)
    return np.where(den != 0, num / safe, np.nan)


class AUC:
    """ROC AUC of fixed scores and labels under any row weights: P(score of a positive >
    score of a negative), ties counting half; with unit weights the Mann-Whitney AUC
    that sklearn computes.

    The ranks are fixed by the scores, so they are found once: for each positive, how
    many negatives score below it (`lo`) and up to a tie (`hi`). A chunk of resamples
    then costs one running sum over the negatives' weights and two gathers, with no
    sorting. `rows` restricts the AUC to those rows of the weight matrix it is given.
    """

    def __init__(self, scores: np.ndarray, labels: np.ndarray, rows: np.ndarray | None = None):
        scores = np.asarray(scores, dtype=np.float64)
        labels = np.asarray(labels, dtype=bool)
        rows = np.arange(scores.size) if rows is None else np.asarray(rows)
        negatives, positives = rows[~labels[rows]], rows[labels[rows]]
        order = np.argsort(scores[negatives], kind="stable")
        self.neg, self.pos = negatives[order], positives
        self.lo = np.searchsorted(scores[self.neg], scores[self.pos], side="left")
        self.hi = np.searchsorted(scores[self.neg], scores[self.pos], side="right")

    def __call__(self, weights: np.ndarray) -> np.ndarray:
        weights = np.atleast_2d(np.asarray(weights, dtype=np.float64))
        below = np.zeros((weights.shape[0], self.neg.size + 1))
        np.cumsum(weights[:, self.neg], axis=1, out=below[:, 1:])
        pos = weights[:, self.pos]
        credit = 0.5 * (pos * (below[:, self.lo] + below[:, self.hi])).sum(axis=1)
        return ratio(credit, pos.sum(axis=1) * below[:, -1])


def weighted_auc(scores: np.ndarray, labels: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """ROC AUC per weight row (see AUC); NaN where a row weighs no positive or no negative."""
    return AUC(scores, labels)(weights)


def onehot(codes: np.ndarray, n_codes: int, values=None) -> sparse.csr_array:
    """(rows, n_codes): `values` (or 1) in each row's code column; weights @ it sums per code.

    Sparse, because a dense one for a large dataset with many groups (times bins) would
    take more memory than the resamples themselves.
    """
    codes = np.asarray(codes)
    data = np.ones(codes.size) if values is None else np.asarray(values, dtype=np.float64)
    return sparse.csr_array((data, (np.arange(codes.size), codes)), shape=(codes.size, n_codes))


def group_sums(weights: np.ndarray, codes: np.ndarray, n_codes: int, values=None) -> np.ndarray:
    """(k, n_codes) sums of weights (times `values` when given) over the rows of each code."""
    return weights @ onehot(codes, n_codes, values)


def clean(x) -> float | None:
    """A finite float, or None: the report holds no NaN or infinity."""
    if x is None:
        return None
    x = float(x)
    return x if np.isfinite(x) else None


def metric_entry(value, samples: np.ndarray | None, threshold: dict | None, *,
                 interval: tuple | None = None, method: str | None = None) -> dict:
    """One report metric: value, 95% interval, its method, threshold and status.

    The interval is `interval` (low, high) from a closed form named by `method`, or
    else the bias-corrected bootstrap interval of `samples`; either way it is widened,
    and its method says so, if it would exclude the value (confidence.py). A metric the
    policy has no threshold for is reported with status "info": it explains a finding
    but does not decide the verdict.
    """
    value = clean(value)
    if interval is not None:
        low, high = (clean(v) for v in interval)
    elif samples is not None:
        low, high = bc_interval(samples, value)
        method = BOOTSTRAP
    else:
        low, high = None, None
    low, high, method = contain(value, low, high, method or "")
    if value is None:
        status = "skipped"
    elif threshold is None:
        status = "info"
    else:
        status = metric_status(value, low, high, threshold)
    entry = {"value": value, "ci_low": low, "ci_high": high, "threshold": threshold, "status": status}
    if low is not None and method:
        entry["ci_method"] = method
    return entry


def worst_entry(per_group: dict[str, dict], worse: str = "both") -> dict | None:
    """The entry of the worst group, tagged with its name.

    worse="high" (a larger value is worse: calibration error, disagreement) or "low"
    (a smaller one is: AUC gaps) picks the extreme value; "both" (SPD, DI) the group
    furthest outside, or nearest the edge of, its two-sided range. A one-sided metric
    must not use "both": its ideal value (an ECE of 0) sits on an edge of its range.
    Entries of groups below the small-group rule (status insufficient) are passed over
    while any other group has a figure.
    """
    usable = {g: e for g, e in per_group.items() if e["value"] is not None}
    if not usable:
        return None
    # Groups below the small-group rule are the worst only when no other group is judged.
    usable = {g: e for g, e in usable.items() if e["status"] not in NO_EVIDENCE} or usable
    if worse == "high":
        group = max(usable, key=lambda g: usable[g]["value"])
    elif worse == "low":
        group = min(usable, key=lambda g: usable[g]["value"])
    else:
        group = max(usable, key=lambda g: distance_outside(usable[g]["value"], usable[g]["threshold"]))
    return {**usable[group], "group": group}


def verdict(metrics: dict[str, dict]) -> str:
    """The result's status: the worst of its thresholded metrics ("info" ones do not count)."""
    return worst_status(m["status"] for m in metrics.values() if m["status"] != "info")


VERDICT_TEXT = {
    "pass": "Within policy.",
    "warn": "Outside policy at the point estimate, but the interval does not rule out compliance.",
    "fail": "Outside policy across the whole confidence interval.",
    "inconclusive": "Inconclusive: these figures show neither compliance nor a breach.",
}


def merge_privileged(values: np.ndarray, privileged) -> tuple[np.ndarray, str | None]:
    """Group values with every privileged value folded into one group, and that group's name.

    An attribute may name several privileged values; they are compared as one group,
    as in group_fairness. The name is None when no row is privileged.
    """
    values = np.asarray(values).astype(str)
    privileged = sorted({str(v) for v in privileged})
    is_priv = np.isin(values, privileged)
    if not is_priv.any():
        return values, None
    name = ", ".join(privileged) if len(privileged) > 1 else privileged[0]
    return np.where(is_priv, name, values), name


def finding_text(parts: list[str], status: str, too_small: list[str], insufficient: str = "") -> str:
    """A check's message: its own sentences, the verdict, the groups below the small-group
    rule (verdicts.insufficient_text), then the groups too small to compute at all."""
    parts = [*parts, VERDICT_TEXT.get(status, ""), insufficient]
    if too_small:
        parts.append("Too few rows to judge: " + ", ".join(too_small) + ".")
    return " ".join(p for p in parts if p)
