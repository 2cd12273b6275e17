"""The tables of one check result: its metrics, its per-group figures and its examples.

Django templates cannot look up a dict by a computed key, and `{% for k, v in
d.items %}` breaks when user data holds a key named "items" (a group called "items"
would shadow the method). So the templates get lists of rows with every cell already
formatted as a plain string, and Django's autoescape escapes them.

Per-group tables show scalar figures only: list-valued figures (automation_bias's
reliability_* bins) are chart data, and printed into a cell they would be an
unreadable run of numbers that breaks the page width.
"""
from __future__ import annotations

from .charts_counterfactual import is_pair
from .formatting import (
    COLUMN_TITLES,
    column_label,
    fmt,
    fmt_interval,
    fmt_range,
    is_count,
    metric_label,
    status_info,
)

# Which figures go together, per check, in the order the columns appear. Figures a
# check reports beyond these go to a last table, so nothing is silently dropped.
TABLES = {
    "group_fairness": (
        ("Rates per group", ("count", "rows_needed", "selection_rate", "base_rate", "accuracy", "tpr", "fpr", "fnr")),
        ("Differences against the privileged group", (
            "statistical_parity_difference", "disparate_impact", "equal_opportunity_difference",
            "average_odds_difference", "false_positive_rate_difference", "false_negative_rate_difference",
            "accuracy_difference")),
        ("Inequality of benefit with the privileged group (Theil index)", (
            "theil_index", "between_group_theil_index")),
    ),
    "subgroup_auc": (
        ("AUC per group", ("count", "rows_needed", "positives", "negatives", "overall_auc", "subgroup_auc",
                           "bpsn_auc", "bnsp_auc")),
        ("Gaps to the AUC over all rows", ("subgroup_auc_gap", "bpsn_auc_gap", "bnsp_auc_gap")),
    ),
    "automation_bias": (
        ("Calibration per group", ("count", "rows_needed", "accuracy", "confidence_minus_accuracy",
                                   "expected_calibration_error", "expected_calibration_error_difference",
                                   "brier_score", "confidently_wrong_rate", "review_share", "automated_accuracy")),
    ),
    "labelling_bias": (
        ("Labels per group", ("count", "rows_needed", "base_rate", "statistical_parity_difference",
                              "disparate_impact")),
        ("Annotator agreement per group", ("annotated_items", "krippendorff_alpha", "disagreement_rate",
                                           "annotator_disagreement_difference")),
    ),
    "sampling_bias": (
        ("Representation per group", ("count", "share", "expected_share", "representation_ratio", "verdict")),
    ),
    "proxy_leakage": (
        ("Proxy leakage per group", ("count", "proxy_leakage_auc")),
    ),
    "counterfactual": (
        ("Swaps per original term", ("texts", "swaps", "flips", "counterfactual_flip_rate",
                                     "counterfactual_mean_abs_change", "counterfactual_max_abs_change",
                                     "counterfactual_mean_change")),
    ),
}
MAX_COLUMNS = 8  # beyond this a table of intervals no longer fits an A4 page width
WIDE = 5
CI = ("_ci_low", "_ci_high")
STATUS = "status"


def is_scalar(value) -> bool:
    return value is None or isinstance(value, bool | int | float | str)


def metric_rows(check: dict) -> list[dict]:
    rows = []
    for name, metric in (check.get("metrics") or {}).items():
        metric = metric if isinstance(metric, dict) else {"value": metric}
        rows.append({
            "name": name,
            "label": metric_label(name),
            "value": fmt(metric.get("value"), name),
            "interval": fmt_interval(metric.get("ci_low"), metric.get("ci_high")),
            "method": str(metric.get("ci_method") or ""),
            "range": fmt_range(metric.get("threshold"), name),
            "status": status_info(metric.get("status")),
            "group": fmt(metric.get("group")),
        })
    return rows


def _scalar_keys(groups: list[tuple[str, dict]]) -> list[str]:
    keys: list[str] = []
    for _, figures in groups:
        for key, value in figures.items():
            # Per-group intervals are shown under their value, and each group's status in a
            # column of its own (a badge), not as figures.
            if key not in keys and is_scalar(value) and not key.endswith(CI) and key != STATUS:
                keys.append(key)
    return keys


def _cell(figures: dict, key: str) -> dict:
    value = figures.get(key)
    if not is_scalar(value):
        value = None
    low, high = figures.get(key + CI[0]), figures.get(key + CI[1])
    numbers = all(isinstance(v, int | float) and not isinstance(v, bool) for v in (low, high))
    return {"value": fmt(value, key), "ci": fmt_interval(low, high) if numbers else ""}


def _table(caption: str, keys: list[str], groups: list[tuple[str, dict]], first: bool) -> dict | None:
    # After the first table, a group without any of the table's figures (the
    # privileged group has no differences) gets no row rather than a row of dashes.
    rows = [(g, f) for g, f in groups if first or any(k in f for k in keys)]
    if not keys or not rows:
        return None
    # Every group keeps its own status (pass, warn, fail, insufficient), in the first table.
    statuses = first and any(f.get(STATUS) for _, f in rows)
    return {
        "caption": caption,
        "columns": [{"key": k, "label": column_label(k), "title": metric_label(k), "count": is_count(k)}
                    for k in keys],
        "status": statuses,
        "rows": [{"group": g, "cells": [_cell(f, k) for k in keys],
                  "status": status_info(f.get(STATUS)) if statuses and f.get(STATUS) else None} for g, f in rows],
        # Many columns: the group column gives up width (print CSS) so figures stay on one line.
        "wide": len(keys) > WIDE,
        "abbreviations": " · ".join(f"{column_label(k)}: {COLUMN_TITLES[k]}" for k in keys if k in COLUMN_TITLES),
    }


def group_tables(check: dict) -> list[dict]:
    """The per-group tables of one result, each {caption, columns, rows}."""
    groups = [(str(g), f) for g, f in (check.get("groups") or {}).items() if isinstance(f, dict)]
    present = _scalar_keys(groups)
    specs, used = [], set()
    for caption, wanted in TABLES.get(check.get("id"), ()):
        keys = [k for k in wanted if k in present]
        specs.append((caption, keys))
        used.update(keys)
    rest = [k for k in present if k not in used]
    for start in range(0, len(rest), MAX_COLUMNS):
        caption = "Figures per group" if not specs else "More figures per group"
        specs.append((caption, rest[start:start + MAX_COLUMNS]))
    if check.get("id") == "counterfactual":
        # Term pairs grow with the square of the lexicon: their own table, after the terms.
        singles = [(g, f) for g, f in groups if not is_pair(g)]
        pairs = [(g, f) for g, f in groups if is_pair(g)]
        tables = [_table(c, k, singles, i == 0) for i, (c, k) in enumerate(specs)]
        tables += [_table(c.replace("original term", "term pair"), k, pairs, i == 0) for i, (c, k) in enumerate(specs)]
    else:
        tables = [_table(c, k, groups, i == 0) for i, (c, k) in enumerate(specs)]
    return [t for t in tables if t]


def _probability(example: dict, *names: str):
    return next((example[n] for n in names if isinstance(example.get(n), int | float)), None)


def example_rows(check: dict) -> list[dict]:
    """Counterfactual (or any) examples: original and variant text side by side.

    Both the keys announced for the check (prob_original / prob_variant) and the ones
    it writes (original_probability / variant_probability) are read.
    """
    rows = []
    for example in check.get("examples") or []:
        if not isinstance(example, dict):
            continue
        p0 = _probability(example, "prob_original", "original_probability")
        p1 = _probability(example, "prob_variant", "variant_probability")
        change = p1 - p0 if p0 is not None and p1 is not None else None
        term, swap = example.get("term"), example.get("swap")
        flipped = example.get("flipped")
        if flipped is None and change is not None:
            flipped = (p0 >= 0.5) != (p1 >= 0.5)
        rows.append({
            "row": fmt(example.get("row"), "count") if example.get("row") is not None else "",
            "swap": f"{term} → {swap}" if term and swap else fmt(term or swap),
            "original": str(example.get("original") or ""), "variant": str(example.get("variant") or ""),
            "p_original": fmt(p0), "p_variant": fmt(p1),
            "change": f"{change:+.3f}" if change is not None else fmt(None),
            "flipped": bool(flipped),
        })
    return rows


def pair_rows(check: dict) -> list[dict]:
    """stereotype_pairs' worst pairs, the two sentences side by side as word segments
    (`differs` marks the words the other sentence lacks); text stays plain, for escaping."""
    rows = []
    for pair in check.get("pairs") or []:
        if not isinstance(pair, dict):
            continue
        sides = [[{"text": str(s.get("text", "")), "differs": bool(s.get("differs"))}
                  for s in pair.get(key) or [] if isinstance(s, dict)] for key in ("more_segments", "less_segments")]
        rows.append({
            "row": fmt(pair.get("row"), "count") if pair.get("row") is not None else "",
            "bias_type": fmt(pair.get("bias_type")), "direction": str(pair.get("direction") or ""),
            "more": sides[0] or [{"text": str(pair.get("more") or ""), "differs": False}],
            "less": sides[1] or [{"text": str(pair.get("less") or ""), "differs": False}],
            "more_score": fmt(pair.get("more_score")), "less_score": fmt(pair.get("less_score")),
            "difference": f"{pair['difference']:+.3f}" if isinstance(pair.get("difference"), int | float) else fmt(None),
        })
    return rows
