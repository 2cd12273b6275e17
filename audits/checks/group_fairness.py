"""group_fairness: does the model treat groups alike?

Point values come from AIF360's ClassificationMetric on the audit's predictions.
Intervals come from the confusion cells: Newcombe's interval for a difference of rates
(SPD, EOD, FPR / FNR / accuracy differences), its MOVER extension for AOD (half the sum
of two differences), the Katz log interval for DI (confidence.py); the Theil indices,
which are no simple function of rates, from a seeded, group-stratified bootstrap of
the cells, bias-corrected.
Each non-privileged group is compared with the privileged one, per attribute and per
intersection of two dataset attributes. With more than two labels the comparison is
one-vs-rest: the favourable label against all others (the caller's y_true / y_pred).
"""
from __future__ import annotations

import logging

import numpy as np

from .aif import classification_metric
from .bootstrap import confusion_cells, group_rates, resample_cells, theil_indices
from .confidence import NEWCOMBE, parity_intervals, rate_combination
from .context import CheckContext
from .crossings import crossable_pairs, skipped_crossing
from .intervals import finding_text, metric_entry, worst_entry
from .policy import worst_status
from .registry import register
from .verdicts import describe, group_status, insufficient_text, mark_insufficient, outside_policy, rate_rule

log = logging.getLogger(__name__)

POLICY_METRICS = (
    "statistical_parity_difference",
    "disparate_impact",
    "equal_opportunity_difference",
    "average_odds_difference",
)
EXTRA_METRICS = (
    "false_positive_rate_difference",
    "false_negative_rate_difference",
    "accuracy_difference",
    "theil_index",
    "between_group_theil_index",
)
MAX_INTERSECTIONS = 6


def aif360_metrics(y_true, y_pred, is_priv) -> dict[str, float]:
    """The AIF360 figures for one unprivileged group (is_priv False) against the privileged."""
    metric = classification_metric(y_true, y_pred, is_priv)
    with np.errstate(divide="ignore", invalid="ignore"):
        return {
            "statistical_parity_difference": metric.statistical_parity_difference(),
            "disparate_impact": metric.disparate_impact(),
            "equal_opportunity_difference": metric.equal_opportunity_difference(),
            "average_odds_difference": metric.average_odds_difference(),
            "false_positive_rate_difference": metric.false_positive_rate_difference(),
            "false_negative_rate_difference": metric.false_negative_rate_difference(),
            "accuracy_difference": metric.accuracy(privileged=False) - metric.accuracy(privileged=True),
            "theil_index": metric.theil_index(),
            "between_group_theil_index": metric.between_group_theil_index(),
        }


def _clean(x) -> float | None:
    x = float(x)
    return x if np.isfinite(x) else None


def rate_counts(cells: np.ndarray) -> dict[str, tuple[int, int]]:
    """(successes, rows) of each rate of one group, from its cells (TP, FP, TN, FN)."""
    tp, fp, tn, fn = (int(c) for c in cells)
    return {"selection_rate": (tp + fp, tp + fp + tn + fn), "tpr": (tp, tp + fn), "fpr": (fp, fp + tn),
            "fnr": (fn, tp + fn), "accuracy": (tp + tn, tp + fp + tn + fn)}


def pair_intervals(u_cells: np.ndarray, p_cells: np.ndarray) -> dict[str, tuple]:
    """(low, high, method) of each rate-based metric of one group against the privileged."""
    u, p = rate_counts(u_cells), rate_counts(p_cells)

    def difference(rate: str) -> tuple:
        return (*rate_combination([u[rate], p[rate]], [1, -1]), NEWCOMBE)

    return {
        **parity_intervals(*u["selection_rate"], *p["selection_rate"]),
        "equal_opportunity_difference": difference("tpr"),
        "average_odds_difference": (*rate_combination([u["fpr"], p["fpr"], u["tpr"], p["tpr"]],
                                                      [0.5, -0.5, 0.5, -0.5]), NEWCOMBE),
        "false_positive_rate_difference": difference("fpr"),
        "false_negative_rate_difference": difference("fnr"),
        "accuracy_difference": difference("accuracy"),
    }


def _group_result(ctx: CheckContext, unpriv_mask, priv_mask, rng) -> tuple[dict, dict]:
    """Metrics with intervals, and plain per-group figures, for one unprivileged group."""
    rows = unpriv_mask | priv_mask
    points = aif360_metrics(ctx.y_true[rows], ctx.y_pred[rows], priv_mask[rows])
    u_cells = confusion_cells(ctx.y_true[unpriv_mask], ctx.y_pred[unpriv_mask])
    p_cells = confusion_cells(ctx.y_true[priv_mask], ctx.y_pred[priv_mask])
    closed = pair_intervals(u_cells, p_cells)
    boot = theil_indices(resample_cells(u_cells, ctx.resamples, rng), resample_cells(p_cells, ctx.resamples, rng))
    metrics = {}
    for name in POLICY_METRICS + EXTRA_METRICS:
        threshold = ctx.policy["thresholds"].get(name) if name in POLICY_METRICS else None
        if name in closed:
            low, high, method = closed[name]
            metrics[name] = metric_entry(points[name], None, threshold, interval=(low, high), method=method)
        else:
            metrics[name] = metric_entry(points[name], boot[name], threshold)
    rates = {k: _clean(v) for k, v in group_rates(u_cells).items()}
    return metrics, rates


def _attribute_result(ctx: CheckContext, attribute: str, rng, values=None, privileged=None) -> dict:
    values = ctx.groups[attribute].astype(str) if values is None else values
    privileged = set(ctx.privileged.get(attribute, []) if privileged is None else privileged)
    priv_mask = values.isin(privileged).to_numpy()
    base = {"id": "group_fairness", "attribute": attribute}
    if priv_mask.sum() < ctx.min_group_rows:
        return {**base, "status": "skipped", "metrics": {}, "groups": {},
                "message": f"The privileged group of '{attribute}' has {int(priv_mask.sum())} rows;"
                           f" at least {ctx.min_group_rows} are needed to judge."}
    groups, per_group_metrics, too_small, small = {}, {}, [], {}
    priv_cells = confusion_cells(ctx.y_true[priv_mask], ctx.y_pred[priv_mask])
    rule = rate_rule(ctx.policy, *rate_counts(priv_cells)["selection_rate"], "selection-rate")
    for group in sorted(set(values) - privileged):
        mask = (values == group).to_numpy()
        if mask.sum() < ctx.min_group_rows:
            too_small.append(f"{group} ({int(mask.sum())})")
            continue
        metrics, rates = _group_result(ctx, mask, priv_mask, rng)
        policy = {name: metrics[name] for name in POLICY_METRICS}
        if rule and (rule[0] is None or mask.sum() < rule[0]):
            small[group] = (int(mask.sum()), rule[0])
            mark_insufficient(policy)
        per_group_metrics[group] = metrics
        groups[group] = {"status": group_status(policy.values()), **rates,
                         **{k: m["value"] for k, m in metrics.items()}}
        if group in small:
            groups[group]["rows_needed"] = rule[0]
        # Every group's interval, not only the worst group's, for tables and charts.
        for name, m in metrics.items():
            groups[group][f"{name}_ci_low"], groups[group][f"{name}_ci_high"] = m["ci_low"], m["ci_high"]
    groups["privileged: " + ", ".join(sorted(privileged))] = {
        k: _clean(v) for k, v in group_rates(priv_cells).items()}
    if not per_group_metrics:
        return {**base, "status": "skipped", "metrics": {}, "groups": groups,
                "message": f"No non-privileged group of '{attribute}' has {ctx.min_group_rows} rows"
                           f" or more: {', '.join(too_small) or 'none'}."}
    worst = {name: worst_entry({g: m[name] for g, m in per_group_metrics.items()})
             or metric_entry(None, None, ctx.policy["thresholds"].get(name) if name in POLICY_METRICS else None)
             for name in POLICY_METRICS + EXTRA_METRICS}
    status = worst_status(worst[n]["status"] for n in POLICY_METRICS)
    policy_entries = {g: {n: m[n] for n in POLICY_METRICS} for g, m in per_group_metrics.items()}
    message = _finding(attribute, policy_entries, worst, status, too_small,
                       insufficient_text(small, rule[1]) if rule else "")
    return {**base, "status": status, "metrics": worst, "groups": groups, "message": message}


# How a group's figure reads, and its value at parity (above it the group is favoured).
READS = {
    "disparate_impact": ("receives the favourable outcome at {v:.2f} times the privileged group's rate", 1.0),
    "statistical_parity_difference": ("has a selection rate {v:+.3f} from the privileged group's", 0.0),
    "equal_opportunity_difference": ("has a true positive rate {v:+.3f} from the privileged group's", 0.0),
    "average_odds_difference": ("has true and false positive rates {v:+.3f} on average from the privileged"
                                " group's", 0.0),
}


def _finding(attribute: str, per_group: dict, worst: dict, status: str, too_small: list[str], small: str) -> str:
    bad = outside_policy(per_group)
    if bad:
        parts = [f"For '{attribute}', {len(bad)} of {len(per_group)} groups compared with the privileged group"
                 f" {'is' if len(bad) == 1 else 'are'} outside the policy: "
                 + "; ".join(describe(g, e, *READS[name]) for g, name, e in bad) + "."]
    else:
        di = worst["disparate_impact"]
        parts = [f"For '{attribute}', " + ("no group has enough rows to decide." if status == "inconclusive"
                                           else "no group is outside the policy.")]
        if di["value"] is not None:
            parts.append("Furthest from parity: " + describe(di["group"], di, *READS["disparate_impact"]) + ".")
    return finding_text(parts, status, too_small, small)


def _intersections(ctx: CheckContext, rng) -> list[dict]:
    """Pairs of dataset attributes: privileged is privileged on both.

    Identity-term attributes are left out: nearly every text mentions no term of most
    categories, so their intersections repeat the single-attribute results. So are pairs
    that describe one partition, or where one determines the other (crossings.py); the
    report names them with the reason.
    """
    identity = set(ctx.groups.attrs.get("identity_attributes", []))
    columns = [c for c in ctx.groups.columns if c not in identity]
    pairs, skipped = crossable_pairs(ctx.groups, columns)
    results = []
    for first, second in pairs[:MAX_INTERSECTIONS]:
        values = ctx.groups[first].astype(str) + " & " + ctx.groups[second].astype(str)
        privileged = {f"{a} & {b}" for a in ctx.privileged.get(first, []) for b in ctx.privileged.get(second, [])}
        results.append(_attribute_result(ctx, f"{first} & {second}", rng, values, privileged))
    return results + [skipped_crossing("group_fairness", a, b, why) for (a, b), why in skipped.items()]


@register("group_fairness")
def run(ctx: CheckContext) -> list[dict]:
    rng = np.random.default_rng(ctx.seed)
    results = [_attribute_result(ctx, attribute, rng) for attribute in ctx.groups.columns]
    return results + _intersections(ctx, rng)
