"""Charts of the dataset itself: labelling_bias, sampling_bias and proxy_leakage.

- labelling_bias: each group's favourable-label base rate with its interval, against
  the privileged group's rate (dashed); colours follow the group's label DI verdict.
- sampling_bias: observed share per group (bar, with interval) against the expected
  share (dark tick); for intersections ("a & b") a heat map of counts (charts_heatmap).
- proxy_leakage: leakage AUC per group against 0.5 (no signal) and the policy's limit.
"""
from __future__ import annotations

import math

from .chartkit import (
    Line,
    Point,
    Section,
    extent,
    finite,
    group_rows,
    interval_chart,
    interval_of,
    judged,
    threshold_range,
)
from .charts_heatmap import intersection_grid, intersection_heatmap

PRIVILEGED = "privileged: "


def base_rate_chart(check: dict, thresholds: dict) -> str | None:
    di_range = threshold_range(check, thresholds, "disparate_impact", (0.8, 1.25))
    points, reference = [], None
    for group, figures in group_rows(check):
        value = figures.get("base_rate")
        if not finite(value):
            continue
        low, high = interval_of(figures, "base_rate")
        if group.startswith(PRIVILEGED):
            reference = float(value)
            points.append(Point(group, float(value), low, high, "none"))
        else:
            di = figures.get("disparate_impact")
            points.append(Point(group, float(value), low, high,
                                judged(check, "disparate_impact", group, di, None, None, di_range)))
    if not points:
        return None
    section = Section(None, None, points)
    hi = min(max([0.5, *(v * 1.1 for v in extent([section]))]), 1.0)
    lines = [Line(reference, "ref", f"privileged group's rate ({reference:.3f})")] if reference is not None else []
    return interval_chart(
        f"Favourable-label base rate by group, attribute {check.get('attribute')}",
        "Share of each group's rows whose dataset label is the favourable one.",
        [section], 0.0, hi, axis_label="Share of rows labelled favourable", lines=lines,
        none_label="privileged group (the reference)")


def shares_chart(check: dict, thresholds: dict) -> str | None:
    if intersection_grid(check) is not None:
        return None  # intersections get a heat map: a hundred bars would say less
    # Only a shortfall harms a group: over-represented groups (ratio above 1) pass.
    ratio_range = (threshold_range(check, thresholds, "representation_ratio", (0.8, 1.0))[0], math.inf)
    points = []
    for group, figures in group_rows(check):
        share = figures.get("share")
        if not finite(share):
            continue
        expected = figures.get("expected_share")
        expected = float(expected) if finite(expected) else None
        low, high = interval_of(figures, "share")
        status = judged(check, "representation_ratio", group, figures.get("representation_ratio"),
                        None, None, ratio_range)
        text = f"{share:.3f} (exp. {expected:.3f})" if expected is not None else f"{share:.3f} (not compared)"
        points.append(Point(group, float(share), low, high, status, marker=expected, text=text))
    if not points:
        return None
    section = Section(None, None, points)
    hi = min(max([0.1, *(v * 1.1 for v in extent([section]))]), 1.0)
    return interval_chart(
        f"Observed and expected share by group, attribute {check.get('attribute')}",
        "Each group's share of the rows (bar) against the share expected (tick).",
        [section], 0.0, hi, axis_label="Share of rows", bars=True,
        legend=[("marker", "expected share")])


def leakage_chart(check: dict, thresholds: dict) -> str | None:
    name = "proxy_leakage_auc"
    band = threshold_range(check, thresholds, name, (0.0, 0.7))
    # Identity-term attributes are derived from the text, so the check reports their
    # leakage without a threshold; the chart shows the same lines but judges nothing.
    worst = (check.get("metrics") or {}).get(name) or {}
    judged_here = worst.get("threshold") is not None or not worst
    points = []
    for group, figures in group_rows(check):
        if name not in figures:
            continue
        value = float(figures[name]) if finite(figures[name]) else None
        low, high = interval_of(figures, name)
        status = judged(check, name, group, value, low, high, band) if judged_here else "none"
        points.append(Point(group, value, low, high, status))
    if not points:
        return None
    section = Section(None, band if judged_here else None, points)
    lo = min(0.4, *(v - 0.02 for v in extent([section]) if v > 0))
    return interval_chart(
        f"Proxy leakage by group, attribute {check.get('attribute')}",
        "Cross-validated AUC of telling each group from the privileged group by the text alone.",
        [section], max(0.0, lo), 1.0, axis_label="AUC of predicting the group from the text",
        lines=[Line(0.5, "ref", "no signal (0.5)"), Line(band[1], "limit", f"policy limit ({band[1]:g})")])


BUILDERS = {
    "labelling_bias": (("base_rate", base_rate_chart),),
    "sampling_bias": (("shares", shares_chart), ("intersection_counts", intersection_heatmap)),
    "proxy_leakage": (("leakage", leakage_chart),),
}
