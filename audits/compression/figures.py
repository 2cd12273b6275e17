"""What compression cost, per group: a variant's predictions against its parent's on the
same rows (plain computation, no Django).

- agreement: the share of rows where the variant predicts the parent's label, with its
  Wilson interval;
- per group: accuracy of both and the paired change (variant minus parent), with a
  seeded bootstrap interval; the share of the group's rows where the two disagree (the
  "compression-identified exemplars" of Hooker et al. 2020), with its Wilson interval;
- the worst examples: disagreeing rows with the largest move in the favourable
  probability;
- a verdict: does the variant still pass the policy, which results got worse, and which
  groups lost most. A group is flagged as paying for the compression when its accuracy
  change interval lies wholly below zero.

The paired change is bootstrapped through its three outcomes per row (the variant right
where the parent was wrong, +1; the reverse, -1; the same, 0): a resample's mean is a
multinomial draw of those counts, exact and cheap for any number of rows.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from audits.checks.confidence import wilson
from audits.checks.intervals import clean
from audits.reports.document import summarize

WORST_EXAMPLES = 5
LEVEL = 0.95


def rate_entry(successes: int, n: int) -> dict:
    """{value, ci_low, ci_high, n} of successes / n, Wilson's interval; None values for n = 0."""
    if n == 0:
        return {"value": None, "ci_low": None, "ci_high": None, "n": 0}
    low, high = wilson(np.asarray([successes]), np.asarray([n]))
    return {"value": successes / n, "ci_low": clean(low[0]), "ci_high": clean(high[0]), "n": int(n)}


def paired_change(parent_right: np.ndarray, variant_right: np.ndarray, *, rng: np.random.Generator,
                  resamples: int) -> dict:
    """Variant accuracy minus parent accuracy on the same rows, with a percentile bootstrap interval."""
    diff = variant_right.astype(np.int64) - parent_right.astype(np.int64)
    n = diff.size
    if n == 0:
        return {"value": None, "ci_low": None, "ci_high": None}
    counts = np.array([(diff == -1).sum(), (diff == 0).sum(), (diff == 1).sum()], dtype=np.float64)
    draws = rng.multinomial(n, counts / n, size=resamples)
    means = (draws[:, 2] - draws[:, 0]) / n
    low, high = np.quantile(means, [(1 - LEVEL) / 2, (1 + LEVEL) / 2])
    value = float(diff.mean())
    return {"value": value, "ci_low": min(float(low), value), "ci_high": max(float(high), value)}


def group_costs(*, groups: pd.DataFrame, y_true: np.ndarray, parent_pred: np.ndarray, variant_pred: np.ndarray,
                seed: int, resamples: int, min_rows: int) -> dict:
    """{attribute: {group: figures}}: rows, accuracy of parent and variant, the paired change
    with its interval, the disagreement share with its interval, and `costs` (the change's
    interval wholly below zero). Groups under `min_rows` carry `insufficient`."""
    rng = np.random.default_rng(seed)
    parent_right, variant_right = parent_pred == y_true, variant_pred == y_true
    differ = parent_pred != variant_pred
    result: dict[str, dict] = {}
    for attribute in groups.columns:
        column = groups[attribute].astype(str)
        per_group = {}
        for group in sorted(column.dropna().unique()):
            rows = (column == group).to_numpy()
            n = int(rows.sum())
            change = paired_change(parent_right[rows], variant_right[rows], rng=rng, resamples=resamples)
            share = rate_entry(int(differ[rows].sum()), n)
            per_group[str(group)] = {
                "rows": n,
                "accuracy_parent": float(parent_right[rows].mean()),
                "accuracy_variant": float(variant_right[rows].mean()),
                "accuracy_change": change["value"], "accuracy_change_ci_low": change["ci_low"],
                "accuracy_change_ci_high": change["ci_high"],
                "disagreement": share["value"], "disagreement_ci_low": share["ci_low"],
                "disagreement_ci_high": share["ci_high"], "disagreements": int(differ[rows].sum()),
                "insufficient": n < min_rows,
                "costs": n >= min_rows and change["ci_high"] is not None and change["ci_high"] < 0,
            }
        result[str(attribute)] = per_group
    return result


def worst_examples(*, texts: list[str], y_true: np.ndarray, parent_prob: np.ndarray, variant_prob: np.ndarray,
                   groups: pd.DataFrame, limit: int = WORST_EXAMPLES) -> list[dict]:
    """The disagreeing rows whose favourable probability moved most, largest first."""
    differ = np.flatnonzero((parent_prob >= 0.5) != (variant_prob >= 0.5))
    order = differ[np.argsort(-np.abs(variant_prob[differ] - parent_prob[differ]), kind="stable")][:limit]
    return [{"row": int(i), "text": texts[i] if i < len(texts) else "", "favourable_label": bool(y_true[i]),
             "parent_probability": float(parent_prob[i]), "variant_probability": float(variant_prob[i]),
             "groups": {str(c): str(groups[c].iloc[i]) for c in groups.columns}} for i in order]


def with_changes(variant_checks: list[dict], parent_checks: list[dict]) -> list[dict]:
    """The variant's check results, each metric with `parent_value` and `change` (variant
    minus parent) where the parent has the same check, attribute and metric."""
    parent = {(c.get("id"), c.get("attribute")): c for c in parent_checks}
    out = []
    for check in variant_checks:
        before = (parent.get((check.get("id"), check.get("attribute"))) or {}).get("metrics") or {}
        metrics = {}
        for name, entry in (check.get("metrics") or {}).items():
            old = (before.get(name) or {}).get("value") if isinstance(before.get(name), dict) else None
            value = entry.get("value") if isinstance(entry, dict) else None
            numbers = all(isinstance(x, int | float) and not isinstance(x, bool) for x in (old, value))
            metrics[name] = {**entry, "parent_value": old, "change": (value - old) if numbers else None} \
                if isinstance(entry, dict) else entry
        out.append({**check, "metrics": metrics, "parent_status": (parent.get((check.get("id"), check.get("attribute")))
                                                                   or {}).get("status")})
    return out


STATUS_RANK = {"pass": 0, "insufficient": 1, "skipped": 1, "inconclusive": 1, "warn": 2, "fail": 3, "error": 3}


def verdict(*, checks: list[dict], parent_summary: str, by_group: dict) -> dict:
    """Whether the variant passes the policy as its parent does, what got worse, and the
    groups that lost most accuracy (those flagged first)."""
    summary = summarize(checks)
    worse = [{"id": c.get("id"), "attribute": c.get("attribute"), "from": c.get("parent_status"),
              "to": c.get("status")} for c in checks
             if STATUS_RANK.get(c.get("status"), 0) > STATUS_RANK.get(c.get("parent_status"), 0)]
    losers = [{"attribute": attribute, "group": group, "accuracy_change": figures["accuracy_change"],
               "ci_low": figures["accuracy_change_ci_low"], "ci_high": figures["accuracy_change_ci_high"],
               "disagreement": figures["disagreement"], "costs": figures["costs"]}
              for attribute, groups in by_group.items() for group, figures in groups.items()
              if not figures["insufficient"] and (figures["accuracy_change"] or 0) < 0]
    losers.sort(key=lambda x: (not x["costs"], x["accuracy_change"]))
    costs = [f"{x['attribute']}={x['group']}" for x in losers if x["costs"]]
    status = summary["status"]
    if status == "pass" and costs:
        status = "warn"  # within policy, but a group pays for the compression beyond chance
    return {"status": status, "checks_status": summary["status"], "parent_status": parent_summary,
            "passes_policy": summary["status"] in ("pass", "warn"), "worse": worse,
            "groups_lost_most": losers[:5], "costs_groups": costs, "text": _verdict_text(summary["status"], worse, costs)}


def _verdict_text(status: str, worse: list[dict], costs: list[str]) -> str:
    parts = [f"The compressed model's checks: {status}."]
    if worse:
        parts.append(f"{len(worse)} result(s) got worse than the parent's: "
                     + ", ".join(f"{w['id']} ({w['attribute'] or 'all'}) {w['from']} -> {w['to']}" for w in worse) + ".")
    if costs:
        parts.append("Compression costs " + ", ".join(_group_words(c) for c in costs)
                     + " accuracy beyond chance (the change's 95 % interval is wholly below zero).")
    if not worse and not costs:
        parts.append("No result got worse and no group lost accuracy beyond chance.")
    return " ".join(parts)


def _group_words(name: str) -> str:
    """"religion=none" (identity-term groups name the rows without a term "none") in words."""
    attribute, _, group = name.partition("=")
    return f"the comments naming no {attribute} term" if group == "none" else name
