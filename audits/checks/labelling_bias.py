"""labelling_bias: do the dataset's labels differ by group beyond chance? Do annotators?

A model trained or judged on skewed labels inherits the skew, so the labels themselves
are audited before the model is:

- base rate of the favourable label per group; label statistical parity difference
  and disparate impact against the privileged group (AIF360 BinaryLabelDatasetMetric
  for the point values, the policy's SPD / DI thresholds);
- with annotator columns (ctx.annotators, one per annotator, missing as NaN):
  Krippendorff's alpha (nominal) overall and per group, and each group's disagreement
  rate, the share of items seen by two or more annotators on which they do not all
  agree. A group whose texts annotators disagree on more than the privileged group's
  is flagged: its labels are less reliable, whatever their base rate. Alpha is shown
  but not judged, because within one group it also falls when the labels barely vary.

Alpha follows Krippendorff (2011), "Computing Krippendorff's alpha-reliability": for
nominal data alpha = 1 - (n - 1) * sum_u D_u / (n^2 - sum_c n_c^2), where D_u is the
number of disagreeing ordered pairs in item u over (m_u - 1) and n_c the pairable
values of category c; items with fewer than two values are left out. Every term is
a sum over items, so the bootstrap (stratified by group) weights items, not values.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import sparse

from .aif import label_metric
from .confidence import NEWCOMBE, WILSON, parity_intervals, rate_combination, wilson
from .context import CheckContext
from .intervals import (
    bootstrap,
    clean,
    finding_text,
    merge_privileged,
    metric_entry,
    onehot,
    ratio,
    verdict,
    worst_entry,
)
from .registry import register
from .verdicts import describe, group_status, insufficient_text, mark_insufficient, outside_policy, rate_rule

CHECK_ID = "labelling_bias"


def annotation_counts(annotators: pd.DataFrame) -> np.ndarray:
    """(items, categories) how many annotators gave each value to each item; NaN/None skipped."""
    values = annotators.to_numpy(dtype=object)
    present = ~pd.isna(values)
    counts = [((values == c) & present).sum(axis=1) for c in pd.unique(values[present])]
    return np.stack(counts, axis=1).astype(np.float64) if counts else np.zeros((values.shape[0], 0))


class Agreement:
    """Weighted Krippendorff's alpha and disagreement rate, per group code and overall."""

    def __init__(self, counts: np.ndarray, codes: np.ndarray, n_groups: int):
        m = counts.sum(axis=1)
        pairable = m >= 2
        with np.errstate(divide="ignore", invalid="ignore"):
            disagreement = np.where(pairable, (m**2 - (counts**2).sum(axis=1)) / (m - 1), 0.0)
        split = pairable & (counts.max(axis=1, initial=0) < m)
        self.pairable, self.split, self.n_groups, self.n_categories = pairable, split, n_groups, counts.shape[1]
        # Per group: pairable values of each category, the disagreement term, the
        # pairable items and the split ones; one matrix product per chunk of resamples.
        columns = [onehot(codes, n_groups, counts[:, c] * pairable) for c in range(counts.shape[1])]
        columns += [onehot(codes, n_groups, v) for v in (disagreement, pairable, split)]
        self.design = sparse.hstack(columns, format="csr")

    @staticmethod
    def _alpha(n_c: np.ndarray, observed: np.ndarray) -> np.ndarray:
        n = n_c.sum(axis=-1)
        return 1.0 - ratio((n - 1) * observed, n**2 - (n_c**2).sum(axis=-1))

    def __call__(self, w: np.ndarray) -> dict[str, np.ndarray]:
        sums = (w @ self.design).reshape(w.shape[0], self.n_categories + 3, self.n_groups)
        by_group = sums[:, :self.n_categories].transpose(0, 2, 1)  # (k, groups, categories)
        observed, items, split = sums[:, -3], sums[:, -2], sums[:, -1]
        return {
            "alpha_overall": self._alpha(by_group.sum(axis=1), observed.sum(axis=1)),
            "alpha": self._alpha(by_group, observed),
            "disagreement": ratio(split, items),
        }


def krippendorff_alpha(annotators: pd.DataFrame) -> float | None:
    """Nominal Krippendorff's alpha of a table with one column per annotator."""
    agreement = Agreement(annotation_counts(annotators), np.zeros(len(annotators), dtype=int), 1)
    return clean(agreement(np.ones((1, len(annotators))))["alpha_overall"][0])


def aif360_label_metrics(y_true: np.ndarray, is_priv: np.ndarray) -> dict[str, float]:
    """AIF360's label SPD and DI of one unprivileged group (is_priv False) against the privileged."""
    metric = label_metric(y_true, is_priv)
    with np.errstate(divide="ignore", invalid="ignore"):
        return {"statistical_parity_difference": metric.statistical_parity_difference(),
                "disparate_impact": metric.disparate_impact()}


def _rate_entry(x: int, n: int) -> dict:
    """A rate with its Wilson interval, no threshold."""
    low, high = wilson(x, n)
    return metric_entry(x / n if n else None, None, None, interval=(low, high), method=WILSON)


def _figures(entry: dict, key: str) -> dict:
    return {key: entry["value"], f"{key}_ci_low": entry["ci_low"], f"{key}_ci_high": entry["ci_high"]}


def _attribute_result(ctx: CheckContext, attribute: str, rng: np.random.Generator) -> dict:
    values, priv_name = merge_privileged(ctx.groups[attribute].to_numpy(), ctx.privileged.get(attribute, []))
    names, codes = np.unique(values, return_inverse=True)
    y = np.asarray(ctx.y_true, dtype=bool)
    agreement = None
    if ctx.annotators is not None and ctx.annotators.shape[1] >= 2:
        agreement = Agreement(annotation_counts(ctx.annotators), codes, names.size)

    # Only agreement needs the bootstrap (stratified by group); rates have closed forms.
    point = {k: v[0] for k, v in agreement(np.ones((1, y.size))).items()} if agreement else {}
    boot = bootstrap(agreement, codes, rng, resamples=ctx.resamples) if agreement else {}
    sizes = np.bincount(codes, minlength=names.size)
    favourable = np.bincount(codes, weights=y, minlength=names.size).astype(int)
    if agreement:  # items with two or more annotations per group, and those not unanimous
        items = np.bincount(codes, weights=agreement.pairable, minlength=names.size).astype(int)
        split = np.bincount(codes, weights=agreement.split, minlength=names.size).astype(int)
    big = [i for i in range(names.size) if sizes[i] >= ctx.min_group_rows]
    too_small = [f"{names[i]} ({int(sizes[i])})" for i in range(names.size) if sizes[i] < ctx.min_group_rows]
    base = {"id": CHECK_ID, "attribute": attribute}
    priv = next((i for i in big if names[i] == priv_name), None)
    if priv is None:
        rows = int(sizes[names == priv_name].sum()) if priv_name is not None else 0
        return {**base, "status": "skipped", "metrics": {}, "groups": {},
                "message": f"The privileged group of '{attribute}' has {rows} rows; at least"
                           f" {ctx.min_group_rows} are needed to judge."}
    thresholds = ctx.policy["thresholds"]
    groups, per_metric = {}, {"statistical_parity_difference": {}, "disparate_impact": {},
                              "annotator_disagreement_difference": {}}
    rule = rate_rule(ctx.policy, favourable[priv], sizes[priv], "favourable-label rate")
    small: dict[str, tuple[int, int | None]] = {}
    for i in big:
        g = str(names[i])
        figures = {"count": int(sizes[i]), **_figures(_rate_entry(favourable[i], sizes[i]), "base_rate")}
        if i != priv:
            rows = (codes == i) | (codes == priv)
            lib = aif360_label_metrics(y[rows], codes[rows] == priv)
            closed = parity_intervals(favourable[i], sizes[i], favourable[priv], sizes[priv])
            for name, (low, high, method) in closed.items():
                per_metric[name][g] = metric_entry(lib[name], None, thresholds.get(name), interval=(low, high),
                                                   method=method)
                figures[name] = per_metric[name][g]["value"]
        if agreement:
            figures["annotated_items"] = int(agreement.pairable[codes == i].sum())
            figures.update(_figures(metric_entry(point["alpha"][i], boot["alpha"][:, i], None), "krippendorff_alpha"))
            figures.update(_figures(_rate_entry(split[i], items[i]), "disagreement_rate"))
            if i != priv:
                low, high = rate_combination([(split[i], items[i]), (split[priv], items[priv])], [1, -1])
                entry = metric_entry(point["disagreement"][i] - point["disagreement"][priv], None,
                                     thresholds.get("annotator_disagreement_difference"), interval=(low, high),
                                     method=NEWCOMBE)
                per_metric["annotator_disagreement_difference"][g] = entry
                figures["annotator_disagreement_difference"] = entry["value"]
        if i != priv:
            entries = {name: per_metric[name][g] for name in per_metric if g in per_metric[name]}
            if rule and (rule[0] is None or sizes[i] < rule[0]):
                small[g] = (int(sizes[i]), rule[0])
                mark_insufficient(entries)
                figures["rows_needed"] = rule[0]
            figures = {"status": group_status(entries.values()), **figures}
        groups[f"privileged: {g}" if i == priv else g] = figures
    if not per_metric["disparate_impact"]:
        return {**base, "status": "skipped", "metrics": {}, "groups": groups,
                "message": f"No non-privileged group of '{attribute}' has {ctx.min_group_rows} rows or more:"
                           f" {', '.join(too_small) or 'none'}."}
    # SPD and DI have two-sided ranges; more disagreement than the privileged group is the only harm.
    worse = {"annotator_disagreement_difference": "high"}
    metrics = {name: worst_entry(entries, worse.get(name, "both")) or metric_entry(None, None, thresholds.get(name))
               for name, entries in per_metric.items() if entries or name != "annotator_disagreement_difference"}
    if agreement:
        metrics["krippendorff_alpha"] = metric_entry(point["alpha_overall"], boot["alpha_overall"], None)
    status = verdict(metrics)
    by_group = {g: {n: per_metric[n][g] for n in per_metric if g in per_metric[n]} for g in per_metric["disparate_impact"]}
    message = _finding(attribute, metrics, groups, str(names[priv]), status, too_small, by_group,
                       insufficient_text(small, rule[1]) if rule else "")
    if ctx.annotators is not None and not agreement:
        message += " Annotator agreement needs at least two annotator columns; the audit has one."
    return {**base, "status": status, "metrics": metrics, "groups": groups, "message": message}


# How a group's label figure reads, and its value at parity (above it the group is favoured).
READS = {
    "disparate_impact": ("is labelled favourable at {v:.2f} times the privileged group's rate", 1.0),
    "statistical_parity_difference": ("has a favourable-label rate {v:+.3f} from the privileged group's", 0.0),
    "annotator_disagreement_difference": ("has annotators disagreeing {v:+.3f} more often than on the privileged"
                                          " group's texts", 0.0),
}


def _finding(attribute, metrics, groups, priv, status, too_small, by_group, small) -> str:
    di = metrics["disparate_impact"]
    priv_rate = groups[f"privileged: {priv}"]["base_rate"]
    parts = [f"In the dataset's own labels, {priv_rate:.1%} of the privileged group's ({priv}) rows carry the"
             f" favourable label."]
    bad = outside_policy(by_group)
    if bad:
        parts.append(f"For '{attribute}', {len(bad)} of {len(by_group)} groups {'is' if len(bad) == 1 else 'are'}"
                     " outside the policy: " + "; ".join(describe(g, e, *READS[n]) for g, n, e in bad) + ".")
    elif di["value"] is not None:
        parts.append(f"For '{attribute}', " + ("no group has enough rows to decide." if status == "inconclusive"
                                               else "no group is outside the policy.")
                     + " Furthest from parity: " + describe(di["group"], di, *READS["disparate_impact"]) + ".")
    if "krippendorff_alpha" in metrics:
        alpha = metrics["krippendorff_alpha"]["value"]
        parts.append("Annotator agreement (Krippendorff's alpha) is "
                     + (f"{alpha:.2f} over all items." if alpha is not None else "undefined: the annotations"
                        " hardly vary."))
        gap = metrics.get("annotator_disagreement_difference", {})
        if gap.get("value") is not None:
            rate = groups[gap["group"]]["disagreement_rate"]
            parts.append(f"Annotators disagree on {rate:.1%} of {gap['group']}'s items, {100 * gap['value']:+.1f}"
                         f" percentage points against the privileged group, the largest gap.")
    return finding_text(parts, status, too_small, small)


@register(CHECK_ID)
def run(ctx: CheckContext) -> list[dict]:
    if ctx.annotators is not None and len(ctx.annotators) != len(ctx.y_true):
        raise ValueError(f"The annotator table has {len(ctx.annotators)} rows; the dataset has {len(ctx.y_true)}.")
    rng = np.random.default_rng(ctx.seed)
    return [_attribute_result(ctx, attribute, rng) for attribute in ctx.groups.columns]
