"""What the report templates show, prepared from the document in Python.

Django templates cannot look up a dict by a computed key or format "3 decimals or a
dash", and `{% for k, v in d.items %}` breaks when user data holds a key named
"items" (a group called "items" would shadow the method). So the template gets lists
of rows with their cells already formatted as plain strings; Django's autoescape then
escapes them, because nothing here is marked safe except the charts.
"""
from __future__ import annotations

import math

from .charts import CHART_BUILDERS, METRIC_TITLES, report_charts

STATUS_LABELS = {"pass": "Pass", "warn": "Warning", "fail": "Fail", "skipped": "Skipped", "error": "Error",
                 "info": "Info"}
CHECK_TITLES = {
    "sampling_bias": "Sampling bias",
    "labelling_bias": "Labelling bias",
    "group_fairness": "Group fairness",
    "counterfactual": "Counterfactual fairness",
    "subgroup_auc": "Subgroup AUC",
    "automation_bias": "Automation bias and calibration",
}
METRIC_LABELS = {
    **METRIC_TITLES,
    "false_positive_rate_difference": "False positive rate difference",
    "false_negative_rate_difference": "False negative rate difference",
    "accuracy_difference": "Accuracy difference",
    "expected_calibration_error": "Expected calibration error (ECE)",
    "expected_calibration_error_difference": "ECE difference",
    "subgroup_auc_gap": "Subgroup AUC gap",
    "bpsn_auc_gap": "BPSN AUC gap",
    "bnsp_auc_gap": "BNSP AUC gap",
    "proxy_leakage_auc": "Proxy leakage AUC",
}
# Short column heads keep the per-group tables inside an A4 page width.
COLUMN_LABELS = {
    "count": "Rows", "selection_rate": "Selection rate", "base_rate": "Base rate", "accuracy": "Accuracy",
    "tpr": "TPR", "fpr": "FPR", "fnr": "FNR",
    "statistical_parity_difference": "SPD", "disparate_impact": "DI",
    "equal_opportunity_difference": "EOD", "average_odds_difference": "AOD",
    "false_positive_rate_difference": "FPR diff.", "false_negative_rate_difference": "FNR diff.",
    "accuracy_difference": "Acc. diff.",
}
COLUMN_ORDER = list(COLUMN_LABELS)
COUNT_KEYS = {"count", "rows", "n", "support"}
DASH = "—"


def fmt(value, key: str = "") -> str:
    """3 decimals for figures, whole numbers for counts, a dash for missing values."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return DASH
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int | float):
        if key in COUNT_KEYS or key.endswith("_count"):
            return f"{value:,.0f}"
        return f"{value:.3f}"
    if isinstance(value, list | tuple):
        return ", ".join(fmt(v) for v in value) or DASH
    return str(value)


def fmt_interval(low, high) -> str:
    if low is None or high is None:
        return DASH
    return f"[{fmt(low)}, {fmt(high)}]"


def fmt_range(threshold) -> str:
    if not isinstance(threshold, dict):
        return DASH
    return f"{fmt(threshold.get('low'))} to {fmt(threshold.get('high'))}"


def status_info(status) -> dict:
    # The CSS class comes from a fixed list, never from the document's text.
    known = status if status in STATUS_LABELS else "unknown"
    return {"code": known, "label": STATUS_LABELS.get(known, str(status)), "css": f"ar-status-{known}"}


def metric_label(name: str) -> str:
    return METRIC_LABELS.get(name, name.replace("_", " ").capitalize())


def _columns(keys: list[str]) -> list[dict]:
    ordered = [k for k in COLUMN_ORDER if k in keys] + [k for k in keys if k not in COLUMN_ORDER]
    return [{"key": k, "label": COLUMN_LABELS.get(k, k.replace("_", " ")), "title": metric_label(k)}
            for k in ordered]


def _group_tables(check: dict) -> dict:
    """Split each group's figures into its own rates and its differences to the privileged."""
    groups = check.get("groups") or {}
    metric_names = set(check.get("metrics") or {}) | set(METRIC_LABELS)
    keys: list[str] = []
    for figures in groups.values():
        for key in figures if isinstance(figures, dict) else ():
            # Per-group intervals are shown beside their value, not as columns.
            if key not in keys and not key.endswith(("_ci_low", "_ci_high")):
                keys.append(key)
    figure_cols = _columns([k for k in keys if k not in metric_names])
    diff_cols = _columns([k for k in keys if k in metric_names])

    def cells(figures: dict, cols: list[dict]) -> list[str]:
        out = []
        for col in cols:
            text = fmt(figures.get(col["key"]), col["key"])
            low, high = figures.get(f"{col['key']}_ci_low"), figures.get(f"{col['key']}_ci_high")
            out.append(f"{text} {fmt_interval(low, high)}" if low is not None and high is not None else text)
        return out

    rows = [(str(g), f) for g, f in groups.items() if isinstance(f, dict)]
    return {
        "figure_columns": figure_cols,
        "figure_rows": [{"group": g, "cells": cells(f, figure_cols)} for g, f in rows] if figure_cols else [],
        "difference_columns": diff_cols,
        "difference_rows": [{"group": g, "cells": cells(f, diff_cols)} for g, f in rows
                            if any(c["key"] in f for c in diff_cols)],
    }


def _metric_rows(check: dict) -> list[dict]:
    rows = []
    for name, metric in (check.get("metrics") or {}).items():
        metric = metric if isinstance(metric, dict) else {"value": metric}
        rows.append({
            "name": name,
            "label": metric_label(name),
            "value": fmt(metric.get("value"), name),
            "interval": fmt_interval(metric.get("ci_low"), metric.get("ci_high")),
            "range": fmt_range(metric.get("threshold")),
            "status": status_info(metric.get("status")),
            "group": fmt(metric.get("group")),
        })
    return rows


def _section(check: dict, charts: dict) -> dict:
    check_id, attribute = str(check.get("id")), check.get("attribute")
    prefix = f"{check_id}:{attribute}:"
    return {
        "title": CHECK_TITLES.get(check_id, check_id.replace("_", " ").capitalize()),
        "check_id": check_id,
        "attribute": "" if attribute is None else str(attribute),
        "status": status_info(check.get("status")),
        "message": str(check.get("message") or ""),
        "metrics": _metric_rows(check),
        **_group_tables(check),
        # Looked up by exact key: an attribute name may itself contain ":".
        "charts": [charts[prefix + name] for name, _ in CHART_BUILDERS.get(check_id, ()) if prefix + name in charts],
    }


def _mitigation(mitigation) -> dict | None:
    if not isinstance(mitigation, dict):
        return None
    before, after = mitigation.get("before") or {}, mitigation.get("after") or {}
    rows = []
    for name in list(before) + [n for n in after if n not in before]:
        b, a = before.get(name) or {}, after.get(name) or {}
        rows.append({"label": metric_label(name), "name": name,
                     "before": fmt(b.get("value")), "before_ci": fmt_interval(b.get("ci_low"), b.get("ci_high")),
                     "after": fmt(a.get("value")), "after_ci": fmt_interval(a.get("ci_low"), a.get("ci_high"))})
    return {"method": fmt(mitigation.get("method")), "attribute": fmt(mitigation.get("attribute")),
            "model_sha256": fmt(mitigation.get("model_sha256")), "rows": rows}


def report_view(document: dict, charts: dict) -> dict:
    summary = document.get("summary") or {}
    counts = summary.get("counts") or {}
    dataset = document.get("dataset") or {}
    protected = dataset.get("protected_attributes") or {}
    if isinstance(protected, list):
        protected = dict.fromkeys(protected)
    thresholds = (document.get("policy") or {}).get("thresholds") or {}
    return {
        "verdict": status_info(summary.get("status")),
        "counts": [{"status": status_info(s), "count": counts.get(s, 0)}
                   for s in ("pass", "warn", "fail", "skipped", "error")],
        "labels": [{"id": str(k), "name": fmt(v)} for k, v in ((document.get("model") or {}).get("labels") or {}).items()],
        "num_parameters": fmt((document.get("model") or {}).get("num_parameters"), "count"),
        "rows": fmt(dataset.get("rows"), "count"),
        "favorable_label": fmt(dataset.get("favorable_label")),
        "protected": [{"attribute": str(a), "privileged": fmt(p)} for a, p in protected.items()],
        "thresholds": [{"label": metric_label(n), "name": n, "range": fmt_range(t)}
                       for n, t in thresholds.items()],
        "sections": [_section(c, charts) for c in document.get("checks") or []],
        "mitigation": _mitigation(document.get("mitigation")),
    }


def report_context(document: dict) -> dict:
    """Template context for report_body.html: the document, its charts, and the view."""
    charts = report_charts(document)
    return {"report": document, "charts": charts, "view": report_view(document, charts)}
