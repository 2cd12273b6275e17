"""The report's charts: SVG drawn in Python (no JavaScript, no matplotlib), per check family.

Each family module lists its builders as (name, function) pairs; a builder takes one
check result and the policy's thresholds and returns SVG markup, or None when the
result has nothing to draw (a skipped check, a missing figure). Group and attribute
names come from user data; every builder draws through svg.Canvas, which escapes all
text, so the markup is marked safe here and nowhere else.
"""
from __future__ import annotations

from django.utils.safestring import SafeString, mark_safe

from . import charts_counterfactual, charts_data, charts_fairness, charts_model, charts_stereotype
from .charts_fairness import DIFFERENCE_METRICS, METRIC_TITLES

CHART_BUILDERS = {
    "group_fairness": charts_fairness.BUILDERS,
    **charts_model.BUILDERS,
    **charts_data.BUILDERS,
    **charts_counterfactual.BUILDERS,
    **charts_stereotype.BUILDERS,
}

__all__ = ["CHART_BUILDERS", "DIFFERENCE_METRICS", "METRIC_TITLES", "chart_names", "report_charts"]


def chart_names(check_id) -> list[str]:
    """The chart names a check can have, in the order the report shows them."""
    return [name for name, _ in CHART_BUILDERS.get(check_id, ())]


def report_charts(document: dict) -> dict[str, SafeString]:
    """SVG charts keyed by f"{check_id}:{attribute}:{name}", safe to embed as they are."""
    thresholds = (document.get("policy") or {}).get("thresholds") or {}
    charts: dict[str, SafeString] = {}
    for check in document.get("checks") or []:
        if not isinstance(check, dict) or check.get("status") in ("error", "skipped"):
            continue  # nothing measured, or too little to judge: a chart would mislead
        for name, build in CHART_BUILDERS.get(check.get("id"), ()):
            svg = build(check, thresholds)
            if svg is not None:
                # Safe because every text and attribute inside went through svg.esc.
                charts[f"{check.get('id')}:{check.get('attribute')}:{name}"] = mark_safe(svg)
    return charts
