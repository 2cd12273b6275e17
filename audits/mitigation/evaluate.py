"""Honest figures for a mitigation: a seeded stratified split, and held-out metrics.

Fairness metrics reuse the group-fairness check's pieces: AIF360's ClassificationMetric
for the point values and the multinomial confusion-cell bootstrap for the intervals.
Accuracy and ROC AUC are bootstrapped over rows with the same seeded generator.
"""
from __future__ import annotations

import numpy as np
from sklearn.linear_model import LogisticRegression

from audits.checks.bootstrap import confusion_cells, pair_metrics, percentile_interval, resample_cells
from audits.checks.group_fairness import POLICY_METRICS, aif360_metrics

# Rows resampled at once when bootstrapping accuracy and AUC, to bound memory.
_CHUNK = 100


def stratified_split(labels: np.ndarray, privileged: np.ndarray, held_out: float,
                     rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Train and held-out row indices; every (label, privileged) stratum split alike."""
    strata = np.asarray(labels).astype(np.int64) * 2 + np.asarray(privileged, dtype=np.int64)
    train, test = [], []
    for stratum in np.unique(strata):
        rows = rng.permutation(np.flatnonzero(strata == stratum))
        # A stratum of one row goes to training: the held-out figures need no singleton.
        k = int(round(held_out * len(rows))) if len(rows) > 1 else 0
        test.append(rows[:k])
        train.append(rows[k:])
    return np.sort(np.concatenate(train)), np.sort(np.concatenate(test))


def fairness_gap(metrics: dict, goal: str) -> float:
    """One number per goal: |SPD| for demographic parity, the larger of |TPR diff| and
    |FPR diff| for equalised odds (Fairlearn's equalized_odds_difference)."""
    if goal == "demographic_parity":
        return abs(metrics["statistical_parity_difference"])
    fpr = metrics["false_positive_rate_difference"]
    return max(abs(metrics["equal_opportunity_difference"]), abs(fpr))


def point_figures(labels, predictions, favourable_id: int, privileged, goal: str) -> dict:
    """Quick held-out figures for the sweep: accuracy and the fairness metrics from cells."""
    labels, predictions, priv = np.asarray(labels), np.asarray(predictions), np.asarray(privileged, bool)
    fav_true, fav_pred = labels == favourable_id, predictions == favourable_id
    metrics = {k: float(v) for k, v in pair_metrics(
        confusion_cells(fav_true[~priv], fav_pred[~priv]), confusion_cells(fav_true[priv], fav_pred[priv])
    ).items()}
    out = {"accuracy": float(np.mean(labels == predictions))}
    out.update({name: _clean(metrics[name]) for name in POLICY_METRICS})
    out["fairness_gap"] = _clean(fairness_gap(metrics, goal))
    return out


def _clean(x) -> float | None:
    x = float(x)
    return x if np.isfinite(x) else None


def _interval(value, samples) -> dict:
    low, high = percentile_interval(np.asarray(samples, dtype=np.float64))
    return {"value": _clean(value) if value is not None else None, "ci_low": low, "ci_high": high}


def weighted_auc(scores: np.ndarray, positive: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """ROC AUC of (..., n) row weights (bootstrap counts), ties counted half; the
    Mann-Whitney statistic computed block-wise over distinct scores."""
    order = np.argsort(scores, kind="stable")
    sorted_scores = scores[order]
    starts = np.flatnonzero(np.r_[True, sorted_scores[1:] != sorted_scores[:-1]])
    w = weights[..., order].astype(np.float64)
    pos = positive[order]
    block_pos = np.add.reduceat(w * pos, starts, axis=-1)
    block_neg = np.add.reduceat(w * ~pos, starts, axis=-1)
    below = np.cumsum(block_neg, axis=-1) - block_neg
    total = block_pos.sum(axis=-1) * block_neg.sum(axis=-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(total > 0, (block_pos * (below + 0.5 * block_neg)).sum(axis=-1) / total, np.nan)


def held_out_figures(labels, predictions, fav_score, favourable_id: int, group, privileged,
                     resamples: int, rng: np.random.Generator) -> dict:
    """{NAME: {"value","ci_low","ci_high"}}: accuracy, ROC AUC (None without a score),
    and the policy metrics for the worst non-privileged group against the privileged."""
    labels, predictions, privileged = np.asarray(labels), np.asarray(predictions), np.asarray(privileged, bool)
    n = len(labels)
    fav_true, fav_pred = labels == favourable_id, predictions == favourable_id
    correct = (labels == predictions).astype(np.float64)
    acc_samples, auc_samples = [], []
    for start in range(0, resamples, _CHUNK):
        counts = rng.multinomial(n, np.full(n, 1.0 / n), size=min(_CHUNK, resamples - start))
        acc_samples.append(counts @ correct / n)
        if fav_score is not None:
            auc_samples.append(weighted_auc(fav_score, fav_true, counts))
    figures = {"accuracy": _interval(correct.mean(), np.concatenate(acc_samples))}
    if fav_score is not None:
        figures["roc_auc"] = _interval(weighted_auc(fav_score, fav_true, np.ones(n)), np.concatenate(auc_samples))
    else:
        figures["roc_auc"] = {"value": None, "ci_low": None, "ci_high": None}
    worst: dict = {}
    p_cells = confusion_cells(fav_true[privileged], fav_pred[privileged])
    for name_group in sorted(set(np.asarray(group)[~privileged].astype(str))):
        mask = (np.asarray(group).astype(str) == name_group) & ~privileged
        rows = mask | privileged
        points = aif360_metrics(fav_true[rows], fav_pred[rows], privileged[rows])
        boot = pair_metrics(resample_cells(confusion_cells(fav_true[mask], fav_pred[mask]), resamples, rng),
                            resample_cells(p_cells, resamples, rng))
        for name in POLICY_METRICS:
            entry = {**_interval(points[name], boot[name]), "group": name_group}
            # Worst: farthest from parity (0 for differences, 1 for the ratio).
            parity = 1.0 if name == "disparate_impact" else 0.0
            distance = abs(entry["value"] - parity) if entry["value"] is not None else -1.0
            if name not in worst or distance > worst[name][0]:
                worst[name] = (distance, entry)
    figures.update({name: entry for name, (_, entry) in worst.items()})
    return figures


def adversary_inputs(fav_logit, fav_true, goal: str, edges: np.ndarray | None) -> np.ndarray:
    """The paper's adversary inputs, s = sigmoid(logit) (and s*y, s*(1-y) for equalised
    odds); with `edges`, one-hot score bins instead of s, for the stronger probe."""
    fav_logit = np.asarray(fav_logit, dtype=np.float64)
    if edges is None:
        x = (1 / (1 + np.exp(-np.clip(fav_logit, -30, 30))))[:, None]
    else:
        x = np.eye(len(edges) + 1)[np.digitize(fav_logit, edges)]
    if goal == "equalised_odds":
        y = np.asarray(fav_true, dtype=np.float64)[:, None]
        return np.hstack([x, x * y, x * (1 - y)]) if edges is None else np.hstack([x * y, x * (1 - y)])
    return x


def adversary_accuracy(train_logit, train_true, train_priv, test_logit, test_true, test_priv, goal: str,
                       probe: bool = False) -> float:
    """Held-out accuracy of a fresh adversary, fitted on the training rows, predicting
    privilege from the model's favourable logit (and the label, for equalised odds).

    probe False: the paper's adversary (logistic regression on the sigmoid), the one the
    predictor was trained against. probe True: logistic regression on score deciles,
    which also finds a dependence that is not monotone in the score.
    """
    train_priv, test_priv = np.asarray(train_priv, bool), np.asarray(test_priv, bool)
    if len(np.unique(train_priv)) < 2:
        return float(np.mean(test_priv == train_priv[0]))
    edges = np.unique(np.quantile(train_logit, np.linspace(0.1, 0.9, 9))) if probe else None
    model = LogisticRegression(max_iter=1000)
    model.fit(adversary_inputs(train_logit, train_true, goal, edges), train_priv)
    return float(model.score(adversary_inputs(test_logit, test_true, goal, edges), test_priv))
