"""Charts of how well the model's scores serve each group: subgroup_auc and automation_bias.

- subgroup_auc: each group's subgroup, BPSN and BNSP AUC with its interval, against
  the overall AUC (dashed) and the policy's tolerance below it (shaded above the edge).
- automation_bias: a reliability diagram, one small panel per group plus "all rows"
  (small multiples stay readable with ten groups where one crowded plot would not),
  and each group's expected calibration error against the policy's limit.
"""
from __future__ import annotations

import math

from .chartkit import (
    WIDTH,
    Line,
    Point,
    Section,
    extent,
    finite,
    group_rows,
    interval_chart,
    interval_of,
    judged,
    legend_box,
    threshold_range,
)
from .svg import Canvas, Scale, clip_label, label_num, nice_ticks

AUC_KINDS = {"subgroup_auc": "Subgroup AUC", "bpsn_auc": "BPSN AUC", "bnsp_auc": "BNSP AUC"}
ALL_ROWS = "all rows"


def subgroup_auc_chart(check: dict, thresholds: dict) -> str | None:
    groups = dict(group_rows(check))
    overall = (groups.get(ALL_ROWS) or {}).get("overall_auc")
    if not finite(overall):
        overall = ((check.get("metrics") or {}).get("overall_auc") or {}).get("value")
    if not finite(overall):
        return None
    sections = []
    for kind, heading in AUC_KINDS.items():
        gap_range = threshold_range(check, thresholds, f"{kind}_gap", (-0.05, 1.0))
        band = (overall + gap_range[0], min(overall + gap_range[1], 1.0))
        points = []
        for group, figures in groups.items():
            if group == ALL_ROWS or kind not in figures:
                continue
            value = figures[kind] if finite(figures[kind]) else None
            low, high = interval_of(figures, kind)
            gap = figures.get(f"{kind}_gap")
            status = judged(check, f"{kind}_gap", group, gap, None, None, gap_range)
            points.append(Point(group, value, low, high, status))
        sections.append(Section(heading, band, points))
    if not any(s.points for s in sections):
        return None
    # AUCs worth showing sit between chance and 1; zoom to the data but keep 0.05 steps.
    lo = max(0.0, math.floor((min(extent(sections)) - 0.02) * 20) / 20)
    tolerance = -threshold_range(check, thresholds, "subgroup_auc_gap", (-0.05, 1.0))[0]
    return interval_chart(
        f"Subgroup, BPSN and BNSP AUC by group, attribute {check.get('attribute')}",
        "Each group's three AUCs with 95% intervals against the AUC over all rows.",
        sections, lo, 1.0, axis_label="ROC AUC (0.5: no better than chance; 1: perfect ranking)",
        lines=[Line(overall, "ref", f"overall AUC ({overall:.3f})")],
        band_label=f"no more than {tolerance:g} below the overall AUC")


def ece_chart(check: dict, thresholds: dict) -> str | None:
    name = "expected_calibration_error"
    band = threshold_range(check, thresholds, name, (0.0, 0.05))
    metrics = check.get("metrics") or {}
    points = []
    for group, figures in group_rows(check):
        value = figures.get(name)
        if name not in figures:
            continue
        value = float(value) if finite(value) else None
        low, high = interval_of(figures, name)
        if group == ALL_ROWS:
            # The overall figure is reported, not judged; its interval lives in metrics.
            overall = metrics.get("overall_expected_calibration_error") or {}
            if finite(overall.get("ci_low")) and finite(overall.get("ci_high")):
                low, high = overall["ci_low"], overall["ci_high"]
            points.append(Point(group, value, low, high, "none"))
        else:
            points.append(Point(group, value, low, high, judged(check, name, group, value, low, high, band)))
    section = Section(None, band, points)
    if not points:
        return None
    hi = min(max([0.1, *(v * 1.1 for v in extent([section]))]), 1.0)
    return interval_chart(
        f"Expected calibration error by group, attribute {check.get('attribute')}",
        "Mean gap between stated confidence and observed accuracy, per group, against the policy limit.",
        [section], 0.0, hi, axis_label="Expected calibration error (0: confidence matches accuracy)",
        lines=[Line(band[1], "limit", f"policy limit ({band[1]:g})")], none_label="all rows (not judged)")


# Reliability diagram: small multiples, four panels to a row.
COLUMNS, GAP, MARGIN, PANEL_TOP = 4, 16, 8, 40
TICKS_W, TICKS_H, HEAD = 30, 18, 30


def _curve(figures: dict) -> list[tuple[float, float, int]]:
    conf, acc, count = (figures.get(k) for k in
                        ("reliability_confidence", "reliability_accuracy", "reliability_count"))
    if not (isinstance(conf, list) and isinstance(acc, list) and isinstance(count, list)):
        return []
    return [(c, a, int(n)) for c, a, n in zip(conf, acc, count, strict=False)
            if finite(c) and finite(a) and finite(n) and n > 0]


def reliability_chart(check: dict, thresholds: dict) -> str | None:
    band = threshold_range(check, thresholds, "expected_calibration_error", (0.0, 0.05))
    panels = [(g, f, _curve(f)) for g, f in group_rows(check)]
    panels = [p for p in panels if p[2]]
    if not panels:
        return None
    overall = next((c for g, _, c in panels if g == ALL_ROWS), [])
    # One y range for every panel so they compare at a glance; top-label accuracy is
    # rarely below 0.5, but when it is the axis extends rather than clamps.
    lowest = min(a for _, _, c in panels for _, a, _ in c)
    y_lo = min(0.5, math.floor(lowest * 10) / 10)
    panel_w = (WIDTH - 2 * MARGIN - (COLUMNS - 1) * GAP) / COLUMNS
    plot = panel_w - TICKS_W
    rows = math.ceil(len(panels) / COLUMNS)
    panel_h = HEAD + plot + TICKS_H
    legend_y = PANEL_TOP + rows * (panel_h + GAP) + 6
    title = f"Reliability diagram by group, attribute {check.get('attribute')}"
    canvas = Canvas(WIDTH, legend_y + 36, title,
                    "Per confidence bin: mean stated confidence against observed accuracy, one panel per group.")
    canvas.text(6, 18, title, "title")
    canvas.text(6, 33, "x: mean stated confidence in the bin · y: observed accuracy · dot area: rows in the bin",
                "note")
    for i, (group, figures, curve) in enumerate(panels):
        left = MARGIN + (i % COLUMNS) * (panel_w + GAP)
        top = PANEL_TOP + (i // COLUMNS) * (panel_h + GAP)
        ece = figures.get("expected_calibration_error")
        if group == ALL_ROWS:
            status = "ink"
        else:
            low, high = interval_of(figures, "expected_calibration_error")
            status = judged(check, "expected_calibration_error", group, ece, low, high, band)
        _panel(canvas, left, top, plot, y_lo, group, ece, curve, overall if group != ALL_ROWS else [], status)
    legend_box(canvas, 6, legend_y + 12, [
        ("diagonal", "perfect calibration"), ("series-ink", "all rows"),
        ("sw-pass", "group, ECE within limit"), ("sw-warn", "ECE above limit at the estimate"),
        ("sw-fail", "ECE above limit across its interval"),
    ])
    return canvas.render()


def _panel(canvas: Canvas, left: float, top: float, plot: float, y_lo: float, group: str, ece,
           curve, reference, status: str) -> None:
    x0, y0 = left + TICKS_W, top + HEAD
    x = Scale(0.5, 1.0, x0, x0 + plot)
    y = Scale(y_lo, 1.0, y0 + plot, y0)
    canvas.text(left, top + 12, clip_label(group, 24), "head", tooltip=group)
    canvas.text(left, top + 25, f"ECE {label_num(ece)}" if finite(ece) else "ECE —", "note")
    canvas.rect(x0, y0, plot, plot, "frame")
    for tick in nice_ticks(y_lo, 1.0, 3):
        canvas.line(x0, y(tick), x0 + plot, y(tick), "grid")
        canvas.text(x0 - 4, y(tick) + 3.5, f"{tick:g}", "tick", anchor="end")
    for tick in (0.5, 0.75, 1.0):
        canvas.text(x(tick), y0 + plot + 13, f"{tick:g}", "tick", anchor="middle")
    canvas.line(x(0.5), y(max(0.5, y_lo)), x(1.0), y(1.0), "diagonal")
    if reference:
        canvas.polyline([(x(c), y(a)) for c, a, _ in reference], "series-ink")
    colour = status if status in ("pass", "warn", "fail", "ink") else "none"
    series = "series-ink" if colour == "ink" else f"series-{colour}"
    canvas.polyline([(x(c), y(a)) for c, a, _ in curve], series)
    largest = max(n for _, _, n in curve)
    for c, a, n in curve:
        # Area, not radius, proportional to the count: the eye reads dots by area.
        r = 1.8 + 4.2 * math.sqrt(n / largest)
        canvas.circle(x(c), y(a), r, f"pt-{colour}",
                      tooltip=f"{group}: confidence {label_num(c)}, accuracy {label_num(a)}, {n:,} rows")


BUILDERS = {
    "subgroup_auc": (("auc", subgroup_auc_chart),),
    "automation_bias": (("reliability", reliability_chart), ("ece", ece_chart)),
}
