"""Honest figures for a mitigation: a seeded stratified split, and held-out metrics.

Fairness metrics reuse the group-fairness check's pieces: AIF360's ClassificationMetric
for the point values and the multinomial confusion-cell bootstrap for the intervals.
Accuracy and ROC AUC are bootstrapped over rows with the checks' row bootstrap and
weighted AUC (audits.checks.intervals), with the same seeded generator.
"""
from __future__ import annotations

import numpy as np
from sklearn.linear_model import LogisticRegression

from audits.checks import MIN_GROUP_ROWS
from audits.checks.bootstrap import confusion_cells, pair_metrics, percentile_interval, resample_cells
from audits.checks.group_fairness import POLICY_METRICS, aif360_metrics
from audits.checks.intervals import AUC, bootstrap, clean


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
    out.update({name: clean(metrics[name]) for name in POLICY_METRICS})
    out["fairness_gap"] = clean(fairness_gap(metrics, goal))
    out["collapsed"] = collapsed(labels, predictions)
    return out


# A classifier that gives one label to this share of rows or more is constant in effect.
CONSTANT_SHARE = 0.99


def collapsed(labels, predictions) -> bool:
    """Whether the predictions collapsed to (nearly) one label while the true labels did
    not: such a classifier has no fairness gap and no use, and is never a success."""
    def top_share(values) -> float:
        return float(np.unique(np.asarray(values), return_counts=True)[1].max() / len(values)) if len(values) else 0.0
    return top_share(predictions) >= CONSTANT_SHARE > top_share(labels)


def _interval(value, samples) -> dict:
    low, high = percentile_interval(np.asarray(samples, dtype=np.float64))
    return {"value": clean(value) if value is not None else None, "ci_low": low, "ci_high": high}


def held_out_figures(labels, predictions, fav_score, favourable_id: int, group, privileged,
                     resamples: int, rng: np.random.Generator, min_rows: int = MIN_GROUP_ROWS) -> dict:
    """{NAME: {"value","ci_low","ci_high"}}: accuracy, ROC AUC (None without a score),
    and the policy metrics for the worst non-privileged group (of min_rows rows or more)
    against the privileged.
    Under "groups", {GROUP: {NAME: value}} for every non-privileged group: the same point
    values the group-fairness check writes in its "groups", so an audit of these rows can
    be compared with them group by group."""
    labels, predictions, privileged = np.asarray(labels), np.asarray(predictions), np.asarray(privileged, bool)
    n = len(labels)
    fav_true, fav_pred = labels == favourable_id, predictions == favourable_id
    correct = (labels == predictions).astype(np.float64)
    auc = AUC(fav_score, fav_true) if fav_score is not None else None

    def statistic(weights: np.ndarray) -> dict[str, np.ndarray]:
        out = {"accuracy": weights @ correct / weights.sum(axis=1)}
        if auc is not None:
            out["roc_auc"] = auc(weights)
        return out

    samples = bootstrap(statistic, np.zeros(n, dtype=np.int64), rng, resamples=resamples)
    figures = {"accuracy": _interval(correct.mean(), samples["accuracy"])}
    if auc is not None:
        figures["roc_auc"] = _interval(auc(np.ones(n))[0], samples["roc_auc"])
    else:
        figures["roc_auc"] = {"value": None, "ci_low": None, "ci_high": None}
    worst: dict = {}
    per_group: dict[str, dict] = {}
    p_cells = confusion_cells(fav_true[privileged], fav_pred[privileged])
    group = np.asarray(group).astype(str)
    names = sorted(set(group[~privileged]))
    sizes = {g: int(((group == g) & ~privileged).sum()) for g in names}
    # As the group-fairness check does: the worst group is sought among groups of at least
    # min_rows rows (a one-row group is always "worst"); only when none is that big, among all.
    judged = {g for g in names if sizes[g] >= min_rows} or set(names)
    for name_group in names:
        mask = (group == name_group) & ~privileged
        rows = mask | privileged
        points = aif360_metrics(fav_true[rows], fav_pred[rows], privileged[rows])
        boot = pair_metrics(resample_cells(confusion_cells(fav_true[mask], fav_pred[mask]), resamples, rng),
                            resample_cells(p_cells, resamples, rng))
        per_group[name_group] = {name: clean(points[name]) for name in POLICY_METRICS}
        if name_group not in judged:
            continue
        for name in POLICY_METRICS:
            entry = {**_interval(points[name], boot[name]), "group": name_group, "rows": sizes[name_group]}
            # Worst: farthest from parity (0 for differences, 1 for the ratio).
            parity = 1.0 if name == "disparate_impact" else 0.0
            distance = abs(entry["value"] - parity) if entry["value"] is not None else -1.0
            if name not in worst or distance > worst[name][0]:
                worst[name] = (distance, entry)
    figures.update({name: entry for name, (_, entry) in worst.items()})
    figures["groups"] = per_group
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
