"""The report's summary: every finding outside the policy in one line, read first.

A line names the check and attribute, the group, the figure with its 95% interval and
acceptable range, which side of the range it falls on, what that means for the group
and what to do. Lines come from what the checks report: each group that fails or warns
(the group's own status) with the figure furthest outside its range, the figures of the
check's worst group as the check states them, and any figure outside the policy that
names no group. Failures come first, then warnings; a check that could not run is a
line too. Everything here is plain text; the templates escape it.
"""
from __future__ import annotations

from audits.checks.policy import metric_status
from audits.checks.verdicts import JUDGED, outside_policy

from .formatting import (
    CHECK_ORDER,
    COLUMN_LABELS,
    check_title,
    column_label,
    fmt,
    fmt_interval,
    fmt_range,
    metric_label,
    status_info,
)

# What a figure below / above its range says about the group, by metric. The labels'
# own figures (labelling_bias) speak of the dataset, not of the model.
MEANINGS = {
    "statistical_parity_difference": ("gets the favourable outcome less often than the privileged group",
                                      "gets the favourable outcome more often than the privileged group"),
    "disparate_impact": ("gets the favourable outcome less often than the privileged group",
                         "gets the favourable outcome more often than the privileged group"),
    "equal_opportunity_difference": ("of the rows that deserve the favourable outcome, fewer get it than in the "
                                     "privileged group",
                                     "of the rows that deserve the favourable outcome, more get it than in the "
                                     "privileged group"),
    "average_odds_difference": ("gets the favourable outcome less often, deserved or not, than the privileged group",
                                "gets the favourable outcome more often, deserved or not, than the privileged group"),
    "subgroup_auc_gap": ("the model separates this group's favourable and unfavourable texts worse than overall",
                         "the model ranks this group's texts better than overall"),
    "bpsn_auc_gap": ("its favourable texts score like others' unfavourable ones: more false alarms",
                     "fewer false alarms on the group than overall"),
    "bnsp_auc_gap": ("its unfavourable texts score like others' favourable ones: more misses",
                     "fewer misses on the group than overall"),
    "expected_calibration_error": ("the scores are closer to accuracy than the policy needs",
                                   "the model's confidence does not match how often it is right"),
    "expected_calibration_error_difference": ("the scores are more reliable for this group",
                                              "the scores are less reliable for this group than for the privileged "
                                              "group"),
    "representation_ratio": ("the group has fewer rows than its expected share", "the group has more rows than its "
                             "expected share"),
    "smallest_group_count": ("too few rows to judge the smallest group", "more rows than needed"),
    "proxy_leakage_auc": ("the text says less about the group than chance", "the text alone reveals who is in the "
                          "group, so a model can act on it without the attribute"),
    "counterfactual_flip_rate": ("fewer decisions change than expected", "swapping the identity term alone changes "
                                 "the model's decision"),
    "stereotype_score": ("the model prefers the less-stereotypical sentence of a pair more often than not",
                         "the model prefers the more-stereotypical sentence of a pair more often than not"),
    "annotator_disagreement_difference": ("annotators agree more on this group's texts",
                                          "annotators disagree more on this group's texts than on the privileged "
                                          "group's"),
}
LABEL_MEANINGS = {
    "statistical_parity_difference": ("the dataset labels this group's rows favourable less often",
                                      "the dataset labels this group's rows favourable more often"),
    "disparate_impact": ("the dataset labels this group's rows favourable less often",
                         "the dataset labels this group's rows favourable more often"),
}
ACTIONS = {
    "sampling_bias": "Collect more rows of the group, or reweigh the training data (AIF360 Reweighing).",
    "proxy_leakage": "Leaving the attribute out will not stop a model using it: check group fairness for it and "
                     "which words carry it (explanations).",
    "labelling_bias": "Have these labels reviewed or re-annotated before training on them: a model learns the gap.",
    "group_fairness": "Look for the cause in the data (labelling and sampling bias), then try a debiasing run on "
                      "this attribute and audit the new model.",
    "counterfactual": "Train on identity-swapped copies of the texts, or debias; read the examples in the details.",
    "subgroup_auc": "Add labelled texts that mention the group, favourable and not, and retrain.",
    "automation_bias": "Recalibrate the scores and send rows below the review threshold to a person.",
    "stereotype_pairs": "Read the pairs it prefers in the details; audit what is built on this model (its "
                        "classifiers, its prompts) for these groups before use.",
}
ERROR_ACTION = "Fix the cause named in the details and run the audit again."
DEFAULT_ACTION = "Read the details of this check before relying on the model."
OTHERS_SHOWN = 3  # further groups named with their figure; the rest by count, all in the details


def _side(entry: dict) -> str:
    threshold = entry.get("threshold") or {}
    value = entry.get("value")
    if isinstance(value, int | float) and threshold.get("low") is not None and value < threshold["low"]:
        return "below"
    return "above"


def _outside(entry: dict, metric: str, side: str) -> str:
    """Where the figure lies against its range, short: "below 0.800–1.250", "below the
    minimum 10", "above the maximum 0.050"."""
    threshold = entry.get("threshold") or {}
    low, high = threshold.get("low"), threshold.get("high")
    if low is not None and high is not None:
        return f"{side} {fmt(low, metric)}–{fmt(high, metric)}"
    if low is not None:
        return f"below the minimum {fmt(low, metric)}"
    return f"above the maximum {fmt(high, metric)}" if high is not None else ""


def _meaning(check_id: str, metric: str, side: str) -> str:
    texts = (LABEL_MEANINGS if check_id == "labelling_bias" else {}).get(metric) or MEANINGS.get(metric)
    if texts is None:
        return f"{metric_label(metric)} is {side} the acceptable range"
    return texts[0] if side == "below" else texts[1]


def _group_entries(check: dict) -> dict[str, dict[str, dict]]:
    """Each group's thresholded figures as metric entries. The check's own entry is used
    for its worst group (it carries the interval the check judged); the other groups'
    figures are judged by the policy's rule on their own intervals."""
    metrics = {m: e for m, e in (check.get("metrics") or {}).items()
               if isinstance(e, dict) and e.get("threshold") and e.get("status") != "info"}
    per_group: dict[str, dict[str, dict]] = {}
    for group, figures in (check.get("groups") or {}).items():
        if not isinstance(figures, dict) or figures.get("status") not in JUDGED:
            # A group that passes, is too small to decide, or is a total ("all rows")
            # with no status of its own, is no finding.
            continue
        entries = {}
        for name, metric in metrics.items():
            if metric.get("group") == group:
                entries[name] = metric
            elif isinstance(figures.get(name), int | float):
                low, high = figures.get(f"{name}_ci_low"), figures.get(f"{name}_ci_high")
                entries[name] = {"value": figures[name], "ci_low": low, "ci_high": high,
                                 "threshold": metric["threshold"],
                                 "status": metric_status(figures[name], low, high, metric["threshold"])}
        per_group[str(group)] = entries
    return per_group


def _findings(check: dict) -> list[tuple[str, str, dict]]:
    """(group, metric, entry) outside the policy: each group's worst figure (failures
    first, furthest out first), then figures outside it that name no failing group."""
    per_group = _group_entries(check)
    found = outside_policy(per_group)
    named = {m for g, _, _ in found for m, e in per_group[g].items() if e.get("status") in JUDGED}
    for metric, entry in (check.get("metrics") or {}).items():
        if isinstance(entry, dict) and entry.get("status") in JUDGED and metric not in named:
            found.append((str(entry.get("group") or "all rows"), metric, entry))
    return found


def _group_text(group: str, metric: str, entry: dict, lead: str) -> str:
    """"female 0.697", with the figure's short name when it is not the line's own
    ("female DI 0.697"); its interval is in the details."""
    name = "" if metric == lead else f" {column_label(metric)}"
    return f"{group}{name} {fmt(entry.get('value'), metric)}"


def check_line(check: dict, anchor: str) -> dict | None:
    """One check result's summary line (one attribute): its worst figure in full, the
    other groups outside the policy by name; None when nothing is outside it."""
    check_id = str(check.get("id"))
    base = {"check": check_title(check_id), "check_id": check_id, "anchor": anchor,
            "attribute": "" if check.get("attribute") is None else str(check.get("attribute")),
            "action": ACTIONS.get(check_id, DEFAULT_ACTION)}
    if check.get("status") == "error":
        return {**base, "status": status_info("error"), "group": "", "metric": "", "short": "", "value": "",
                "interval": "",
                "range": "", "side": "", "outside": "", "others": [], "more": 0, "action": ERROR_ACTION,
                "meaning": "The check could not be completed: " + str(check.get("message") or "no reason given")}
    found = _findings(check)
    if not found:
        return None
    group, metric, entry = found[0]
    side = _side(entry)
    others = [_group_text(g, m, e, metric) for g, m, e in found[1:]]
    return {
        **base,
        "status": status_info(check.get("status") if check.get("status") in JUDGED else entry.get("status")),
        "group": group,
        "metric": metric_label(metric),
        "short": column_label(metric) if metric in COLUMN_LABELS else metric_label(metric),
        "value": fmt(entry.get("value"), metric),
        "interval": fmt_interval(entry.get("ci_low"), entry.get("ci_high")),
        "range": fmt_range(entry.get("threshold"), metric),
        "side": f"{side} the range",
        "outside": _outside(entry, metric, side),
        "meaning": _meaning(check_id, metric, side),
        # Every other group outside the policy is named; the first few with their figure.
        "others": others[:OTHERS_SHOWN],
        "more": len(others) - OTHERS_SHOWN if len(others) > OTHERS_SHOWN else 0,
        "all_others": [g for g, _, _ in found[1:]],
    }


def _merged(lines: list[dict]) -> list[dict]:
    """Lines that say the same thing (same status, figure, value, interval and meaning, no
    other group named) for different attributes become one line naming each place, e.g.
    the smallest group of four attributes with one row each."""
    merged: list[dict] = []
    same: dict[tuple, dict] = {}
    for line in lines:
        place = {"attribute": line["attribute"], "group": line["group"], "anchor": line["anchor"]}
        key = (line["status"]["code"], line["metric"], line["value"], line["interval"], line["meaning"])
        if not line.get("all_others") and key in same:
            same[key]["places"].append(place)
            continue
        line = {**line, "places": [place]}
        if not line.get("all_others"):
            same[key] = line
        merged.append(line)
    return merged


def summary_view(blocks: list[tuple[dict, str]]) -> list[dict]:
    """The summary's rows: one per check, in the report's order, each holding one line
    per attribute outside the policy (failures first) and what to do, said once.
    `blocks` pairs each check result with the anchor of its details."""
    by_check: dict[str, list[dict]] = {}
    for check, anchor in blocks:
        if check.get("status") in (*JUDGED, "error") and (line := check_line(check, anchor)) is not None:
            by_check.setdefault(line["check_id"], []).append(line)
    order = [c for c in CHECK_ORDER if c in by_check] + [c for c in by_check if c not in CHECK_ORDER]
    severity = {"error": 0, "fail": 0, "warn": 1}
    rows = []
    for check_id in order:
        lines = _merged(sorted(by_check[check_id], key=lambda line: severity.get(line["status"]["code"], 2)))
        rows.append({"check": lines[0]["check"], "action": lines[0]["action"], "lines": lines,
                     "errors_only": all(line["status"]["code"] == "error" for line in lines)})
    return rows
