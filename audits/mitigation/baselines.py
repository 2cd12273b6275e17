"""The two baselines: reweighing sample weights and per-group threshold post-processing.

Reweighing (Kamiran & Calders 2012, AIF360's `Reweighing`) gives each (group, label)
cell the weight P(group) P(label) / P(group, label), so that in the weighted training
data the label is independent of privilege; the weights then feed the same fine-tuning
as adversarial debiasing. Threshold post-processing is Fairlearn's ThresholdOptimizer on
the parent's favourable-class probability: per-group (randomised) thresholds, which need
the group at prediction time and leave the model's weights as they are.
"""
from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin


def reweighing_weights(fav_true: np.ndarray, privileged: np.ndarray) -> np.ndarray:
    """AIF360 Reweighing's instance weights, for a binary favourable label and privilege."""
    fav_true, privileged = np.asarray(fav_true, bool), np.asarray(privileged, bool)
    n = len(fav_true)
    weights = np.ones(n, dtype=np.float64)
    for g in (True, False):
        for y in (True, False):
            cell = (privileged == g) & (fav_true == y)
            # An empty cell has no rows to weigh (AIF360 would divide by zero here).
            if cell.any():
                weights[cell] = (privileged == g).sum() * (fav_true == y).sum() / (n * cell.sum())
    return weights


class _Score(ClassifierMixin, BaseEstimator):
    """An already-fitted 'classifier' whose probability is the single input column."""

    def fit(self, X, y=None):
        self.classes_ = np.array([0, 1])
        return self

    def predict_proba(self, X):
        p = np.asarray(X, dtype=np.float64)[:, 0]
        return np.column_stack([1 - p, p])

    def predict(self, X):
        return (self.predict_proba(X)[:, 1] >= 0.5).astype(int)


def threshold_fit(fav_score, fav_true, group, goal: str):
    """Fairlearn's ThresholdOptimizer fitted on the training split's scores."""
    from fairlearn.postprocessing import ThresholdOptimizer

    optimiser = ThresholdOptimizer(
        estimator=_Score().fit(None),
        constraints="demographic_parity" if goal == "demographic_parity" else "equalized_odds",
        objective="accuracy_score", prefit=True, predict_method="predict_proba",
    )
    optimiser.fit(np.asarray(fav_score)[:, None], np.asarray(fav_true, int),
                  sensitive_features=np.asarray(group).astype(str))
    return optimiser


def threshold_predict(optimiser, fav_score, group, seed: int) -> np.ndarray:
    """Favourable decisions (bool); randomised between two thresholds where the optimum says so."""
    decisions = optimiser.predict(np.asarray(fav_score)[:, None], sensitive_features=np.asarray(group).astype(str),
                                  random_state=seed)
    return np.asarray(decisions).astype(bool)


def threshold_rules(optimiser) -> dict:
    """Per group: the thresholds on p(favourable) and how often each is used, for the report."""
    rules = {}
    for group, rule in optimiser.interpolated_thresholder_.interpolation_dict.items():
        entry = {}
        for k in ("0", "1"):
            operation = rule[f"operation{k}"]
            entry[f"p{k}"] = float(rule[f"p{k}"])
            entry[f"threshold{k}"] = float(operation.threshold)
            entry[f"operator{k}"] = str(operation.operator)
        if "p_ignore" in rule:
            # Equalised odds: with this probability the decision is a coin with this bias.
            entry["p_ignore"] = float(rule["p_ignore"])
            entry["prediction_constant"] = float(rule["prediction_constant"])
        rules[str(group)] = entry
    return rules
