"""subgroup_auc: does the model rank one subgroup's texts as well as everyone else's?

Borkan et al. 2019, "Nuanced metrics for measuring unintended bias with real data for
text classification", with the paper's orientation: the positive class is the
unfavourable label (the class a toxicity or risk model detects) and the score is the
model's belief in it, so every name below means what it means in the paper and in the
Jigsaw benchmark. For each non-privileged group g of an attribute (for identity-term
attributes: each term, against the background "none"), three AUCs, each compared with
the AUC on all rows:

- subgroup AUC: rows in g only. Low: the model cannot separate g's unfavourable texts
  from g's favourable ones.
- BPSN AUC (background positive, subgroup negative): unfavourable rows outside g with
  favourable rows in g. Low: g's favourable texts look more unfavourable to the model
  than other texts' unfavourable ones; the model leans towards the unfavourable label
  whenever g is present (for a toxicity model, the identity-term false alarm).
- BNSP AUC (background negative, subgroup positive): favourable rows outside g with
  unfavourable rows in g. Low: g's unfavourable texts look less unfavourable than
  other texts' favourable ones; the model leans towards the favourable label for g.

Flipping both the labels and the scores leaves an AUC unchanged, so the subgroup and
overall AUCs are the same either way; only BPSN and BNSP depend on the orientation.
As in the paper, the background is every row outside g. Point values come from
sklearn's roc_auc_score; intervals from a bootstrap stratified by group and label
(AUC is defined only with both classes, so each resample keeps every group's class
counts), in which each gap is computed against the overall AUC of the same resample.
"""
from __future__ import annotations

import numpy as np
from sklearn.metrics import roc_auc_score

from .context import CheckContext
from .intervals import (
    AUC,
    bootstrap,
    finding_text,
    metric_entry,
    strata_codes,
    verdict,
    worst_entry,
)
from .power import rows_for_auc_gap
from .registry import register
from .verdicts import group_status, insufficient_text, mark_insufficient, outside_policy

CHECK_ID = "subgroup_auc"
KINDS = ("subgroup_auc", "bpsn_auc", "bnsp_auc")
MEANING = {
    "subgroup_auc": "the model separates unfavourable from favourable texts within the group less well"
                    " than across all texts (errors in both directions)",
    "bpsn_auc": "the group's favourable texts look more unfavourable to the model than other texts'"
                " unfavourable ones, so the model leans towards the unfavourable label whenever the group"
                " is mentioned (false alarms)",
    "bnsp_auc": "the group's unfavourable texts look less unfavourable to the model than other texts'"
                " favourable ones, so the model leans towards the favourable label for the group (misses)",
}
LABEL = {"subgroup_auc": "subgroup AUC", "bpsn_auc": "BPSN AUC", "bnsp_auc": "BNSP AUC"}


def auc_rows(in_group: np.ndarray, positive: np.ndarray) -> dict[str, np.ndarray]:
    """The rows each of the three AUCs is computed on (Borkan et al. 2019, section 3);
    `positive` marks the paper's positive class, the unfavourable label."""
    return {
        "subgroup_auc": np.flatnonzero(in_group),
        "bpsn_auc": np.flatnonzero((~in_group & positive) | (in_group & ~positive)),
        "bnsp_auc": np.flatnonzero((~in_group & ~positive) | (in_group & positive)),
    }


def _auc(score: np.ndarray, positive: np.ndarray) -> float | None:
    if positive.all() or not positive.any():
        return None  # one class only: AUC is undefined
    return float(roc_auc_score(positive, score))


def _skipped(attribute: str, message: str) -> dict:
    return {"id": CHECK_ID, "attribute": attribute, "status": "skipped", "message": message,
            "metrics": {}, "groups": {}}


def _attribute_result(ctx: CheckContext, attribute: str, rng: np.random.Generator) -> dict:
    values = ctx.groups[attribute].astype(str).to_numpy()
    # The paper's orientation: positive = the unfavourable label, scored by the model's
    # belief in it. The negated favourable probability ranks rows exactly as 1 - p does,
    # without the rounding of a subtraction.
    positive = ~np.asarray(ctx.y_true, dtype=bool)
    score = -np.asarray(ctx.prob, dtype=np.float64)
    overall = _auc(score, positive)
    if overall is None:
        return _skipped(attribute, "Every row has the same label, so no AUC can be computed.")
    privileged = {str(v) for v in ctx.privileged.get(attribute, [])}
    subsets, sizes, too_small = {}, {}, []
    for group in sorted(set(values) - privileged):
        in_group = values == group
        sizes[group] = (int(in_group.sum()), int((in_group & positive).sum()))
        if in_group.sum() < ctx.min_group_rows:
            too_small.append(f"{group} ({int(in_group.sum())})")
            continue
        for kind, rows in auc_rows(in_group, positive).items():
            subsets[(group, kind)] = rows
    if not subsets:
        return _skipped(attribute, f"No non-privileged group of '{attribute}' has {ctx.min_group_rows} rows"
                                   f" or more: {', '.join(too_small) or 'none'}.")

    aucs = {"overall": AUC(score, positive), **{key: AUC(score, positive, rows) for key, rows in subsets.items()}}

    def statistic(w: np.ndarray) -> dict:
        return {key: auc(w) for key, auc in aucs.items()}

    boot = bootstrap(statistic, strata_codes(values, positive), rng, resamples=ctx.resamples)
    overall_entry = metric_entry(overall, boot["overall"], None)
    groups = {"all rows": {"count": int(positive.size), "positives": int(positive.sum()),
                           **_figures(overall_entry, "overall_auc")}}
    per_group, small, rule = {}, {}, _rule(ctx, overall)
    for group in sorted({g for g, _ in subsets}):
        count, positives = sizes[group]
        figures = {"count": count, "positives": positives, "negatives": count - positives}
        per_group[group] = {}
        for kind in KINDS:
            rows = subsets[(group, kind)]
            value = _auc(score[rows], positive[rows])
            figures.update(_figures(metric_entry(value, boot[(group, kind)], None), kind))
            gap = metric_entry(None if value is None else value - overall, boot[(group, kind)] - boot["overall"],
                               ctx.policy["thresholds"].get(f"{kind}_gap"))
            per_group[group][f"{kind}_gap"] = gap
            figures.update(_figures(gap, f"{kind}_gap"))
        need = rule[0](positives / count) if rule else None
        if rule and (need is None or count < need):
            small[group] = (count, need)
            mark_insufficient(per_group[group])
            figures["rows_needed"] = need
        groups[group] = {"status": group_status(per_group[group].values()), **figures}
    metrics = {"overall_auc": overall_entry}
    for kind in KINDS:
        name = f"{kind}_gap"
        metrics[name] = (worst_entry({g: e[name] for g, e in per_group.items()}, worse="low")
                         or metric_entry(None, None, ctx.policy["thresholds"].get(name)))
    status = verdict(metrics)
    message = _finding(attribute, metrics, groups, per_group, status, too_small,
                       insufficient_text(small, rule[1]) if rule else "")
    return {"id": CHECK_ID, "attribute": attribute, "status": status, "metrics": metrics, "groups": groups,
            "message": message}


def _figures(entry: dict, key: str) -> dict:
    return {key: entry["value"], f"{key}_ci_low": entry["ci_low"], f"{key}_ci_high": entry["ci_high"]}


def _rule(ctx: CheckContext, overall: float):
    """(rows a group needs, given its share of positives; the rule in words), or None
    without an AUC-gap threshold in the policy (power.rows_for_auc_gap)."""
    threshold = ctx.policy["thresholds"].get("subgroup_auc_gap")
    if not threshold or threshold.get("low") is None:
        return None
    gap = abs(threshold["low"])
    return (lambda share: rows_for_auc_gap(overall, share, gap)), (
        f"a group needs the rows for its AUC's standard error (Hanley and McNeil 1982, at the overall AUC"
        f" {overall:.2f} and the group's share of unfavourable rows) to detect a shortfall of {gap:g} with a"
        f" two-sided z-test at alpha 0.05 and 80% power")


# What a low AUC of each kind says about the group: the direction it is pushed.
DIRECTION = {"subgroup_auc": "ranked less well", "bpsn_auc": "disfavoured", "bnsp_auc": "favoured"}


def _finding(attribute: str, metrics: dict, groups: dict, per_group: dict, status: str, too_small: list[str],
             small: str) -> str:
    overall = metrics["overall_auc"]["value"]
    parts = [f"Across all rows the model's AUC is {overall:.3f}."]
    bad = outside_policy(per_group)
    for group, name, entry in bad:
        kind = name.removesuffix("_gap")
        ci = f"95% CI {entry['ci_low']:+.3f} to {entry['ci_high']:+.3f}; " if entry["ci_low"] is not None else ""
        parts.append(f"{group} ({groups[group]['count']} rows) is {DIRECTION[kind]}: its {LABEL[kind]} is"
                     f" {groups[group][kind]:.3f}, {entry['value']:+.3f} against the overall AUC ({ci}{entry['status']});"
                     f" {MEANING[kind]}.")
    if bad:
        parts.insert(1, f"For '{attribute}', {len(bad)} of {len(per_group)} groups"
                        f" {'is' if len(bad) == 1 else 'are'} outside the policy.")
    elif any(metrics[f"{k}_gap"]["value"] is not None for k in KINDS):
        kind = min((k for k in KINDS if metrics[f"{k}_gap"]["value"] is not None),
                   key=lambda k: metrics[f"{k}_gap"]["value"])
        worst = metrics[f"{kind}_gap"]
        parts.append(f"For '{attribute}', " + ("no group has enough rows to decide;" if status == "inconclusive"
                                               else "no group is outside the policy;")
                     + f" the largest shortfall is the {LABEL[kind]} of {worst['group']}, {worst['value']:+.3f}"
                       f" against the overall AUC.")
    else:
        parts.append(f"No group of '{attribute}' has both labels, so no subgroup AUC could be computed.")
    return finding_text(parts, status, too_small, small)


@register(CHECK_ID)
def run(ctx: CheckContext) -> list[dict]:
    rng = np.random.default_rng(ctx.seed)
    return [_attribute_result(ctx, attribute, rng) for attribute in ctx.groups.columns]

