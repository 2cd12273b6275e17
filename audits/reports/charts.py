"""Interval charts for the report, drawn as SVG in Python (no JavaScript, no matplotlib).

For each group_fairness result: a disparate-impact chart and a chart of the
difference metrics (SPD, EOD, AOD). One row per non-privileged group: a point for the
estimate, a whisker for its 95% interval where the check reports one, the policy's
acceptable range shaded and the parity line dashed. Group names and attribute names
come from user data; `svg.esc` escapes all of them before the result is marked safe.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from django.utils.safestring import SafeString, mark_safe

from audits.checks.policy import metric_status

from .svg import Canvas, Scale, clip_label, label_num, nice_ticks

DIFFERENCE_METRICS = (
    "statistical_parity_difference",
    "equal_opportunity_difference",
    "average_odds_difference",
)
METRIC_TITLES = {
    "disparate_impact": "Disparate impact (DI)",
    "statistical_parity_difference": "Statistical parity difference (SPD)",
    "equal_opportunity_difference": "Equal opportunity difference (EOD)",
    "average_odds_difference": "Average odds difference (AOD)",
}
# Used only when neither the check nor the policy carries a threshold (DESIGN.md defaults).
DEFAULT_BANDS = {"disparate_impact": (0.8, 1.25), **dict.fromkeys(DIFFERENCE_METRICS, (-0.1, 0.1))}

WIDTH, LABEL_W, VALUE_W = 680, 170, 150
ROW_H, HEAD_H, TOP, BOTTOM = 24, 22, 34, 58


@dataclass(frozen=True)
class Point:
    group: str
    value: float | None
    low: float | None
    high: float | None
    status: str


@dataclass(frozen=True)
class Section:
    heading: str | None
    band: tuple[float, float] | None
    points: list[Point]


def _finite(x) -> bool:
    return isinstance(x, int | float) and not isinstance(x, bool) and math.isfinite(x)


def _band(check: dict, policy_thresholds: dict, name: str) -> tuple[float, float] | None:
    for threshold in ((check.get("metrics") or {}).get(name, {}).get("threshold"), policy_thresholds.get(name)):
        if isinstance(threshold, dict) and _finite(threshold.get("low")) and _finite(threshold.get("high")):
            return float(threshold["low"]), float(threshold["high"])
    return DEFAULT_BANDS.get(name)


def _points(check: dict, name: str, band: tuple[float, float] | None) -> list[Point]:
    """One point per group reporting `name`; the privileged group has no such figure."""
    worst = (check.get("metrics") or {}).get(name) or {}
    points = []
    for group, figures in (check.get("groups") or {}).items():
        if not isinstance(figures, dict) or name not in figures:
            continue
        value = figures[name] if _finite(figures[name]) else None
        # The check gives the interval of the worst group in `metrics`; other groups
        # may carry theirs as NAME_ci_low / NAME_ci_high.
        if worst.get("group") == group:
            low, high = worst.get("ci_low"), worst.get("ci_high")
        else:
            low, high = figures.get(f"{name}_ci_low"), figures.get(f"{name}_ci_high")
        low, high = (low, high) if _finite(low) and _finite(high) else (None, None)
        threshold = {"low": band[0], "high": band[1]} if band else None
        status = worst.get("status") if worst.get("group") == group else metric_status(value, low, high, threshold)
        points.append(Point(str(group), value, low, high, status if status in {"pass", "warn", "fail"} else "none"))
    return points


def _extent(sections: list[Section]) -> list[float]:
    values = []
    for section in sections:
        values += list(section.band or ())
        for p in section.points:
            values += [v for v in (p.value, p.low, p.high) if v is not None]
    return values


def _interval_chart(title: str, description: str, sections: list[Section], ref: float,
                    lo: float, hi: float, ref_label: str) -> str:
    rows = sum(len(s.points) for s in sections)
    heads = sum(1 for s in sections if s.heading)
    plot_h = rows * ROW_H + heads * HEAD_H
    canvas = Canvas(WIDTH, TOP + plot_h + BOTTOM, title, description)
    x = Scale(lo, hi, LABEL_W, WIDTH - VALUE_W)
    plot_top, plot_bottom = TOP, TOP + plot_h
    canvas.text(6, 16, title, "head")
    ticks = nice_ticks(lo, hi)
    for tick in ticks:
        canvas.line(x(tick), plot_top, x(tick), plot_bottom, "grid")
    y = plot_top
    for section in sections:
        section_h = len(section.points) * ROW_H + (HEAD_H if section.heading else 0)
        if section.band:
            canvas.rect(x(section.band[0]), y, x(section.band[1]) - x(section.band[0]), section_h, "band",
                        tooltip=f"Acceptable range {label_num(section.band[0])} to {label_num(section.band[1])}")
            for edge in section.band:
                canvas.line(x(edge), y, x(edge), y + section_h, "edge")
        if section.heading:
            canvas.text(6, y + HEAD_H - 7, section.heading, "head")
            y += HEAD_H
        for p in section.points:
            _draw_point(canvas, x, y + ROW_H / 2, p)
            y += ROW_H
    canvas.line(x(ref), plot_top, x(ref), plot_bottom, "ref")
    canvas.line(LABEL_W, plot_bottom, WIDTH - VALUE_W, plot_bottom, "axis")
    for tick in ticks:
        canvas.line(x(tick), plot_bottom, x(tick), plot_bottom + 4, "axis")
        canvas.text(x(tick), plot_bottom + 15, f"{tick:g}", "tick", anchor="middle")
    canvas.text(LABEL_W, plot_bottom + 33,
                f"Shaded: acceptable range under the policy. Dashed line: {ref_label}.", "tick")
    canvas.text(LABEL_W, plot_bottom + 47,
                "Point: estimate. Whisker: 95% bootstrap interval (where reported).", "tick")
    return canvas.render()


def _draw_point(canvas: Canvas, x: Scale, cy: float, p: Point) -> None:
    canvas.text(LABEL_W - 8, cy + 4, clip_label(p.group), "text", anchor="end", tooltip=p.group)
    if p.value is None:
        canvas.text(WIDTH - VALUE_W + 8, cy + 4, "— (not computable)", "value")
        return
    if p.low is not None and p.high is not None:
        canvas.line(x(p.low), cy, x(p.high), cy, "whisker")
        for end in (p.low, p.high):
            canvas.line(x(end), cy - 5, x(end), cy + 5, "whisker")
    interval = f" [{label_num(p.low)}, {label_num(p.high)}]" if p.low is not None else ""
    canvas.circle(x(p.value), cy, 4.5, f"pt-{p.status}", tooltip=f"{p.group}: {label_num(p.value)}{interval}")
    if x.outside(p.value):
        # Clamped to the plot's edge; an arrow says the true value lies beyond.
        arrow = "◀" if p.value < x.lo else "▶"
        canvas.text(x(p.value) + (-9 if p.value < x.lo else 9), cy + 4, arrow, "cap", anchor="middle")
    canvas.text(WIDTH - VALUE_W + 8, cy + 4, f"{label_num(p.value)}{interval}", "value")


def disparate_impact_chart(check: dict, policy_thresholds: dict) -> str | None:
    band = _band(check, policy_thresholds, "disparate_impact")
    points = _points(check, "disparate_impact", band)
    if not points:
        return None
    section = Section(None, band, points)
    # DI is a ratio: start at 0 and show at least up to 1.5 so the band has context;
    # cap at 3 so one extreme group does not squash the rest (its arrow marks it).
    hi = min(max([1.5, *(v * 1.08 for v in _extent([section]))]), 3.0)
    title = f"Disparate impact by group, attribute {check.get('attribute')}"
    desc = "Selection rate of each group divided by the privileged group's; 1.0 is parity."
    return _interval_chart(title, desc, [section], 1.0, 0.0, hi, "parity (1.0)")


def differences_chart(check: dict, policy_thresholds: dict) -> str | None:
    sections = []
    for name in DIFFERENCE_METRICS:
        band = _band(check, policy_thresholds, name)
        points = _points(check, name, band)
        if points:
            sections.append(Section(METRIC_TITLES[name], band, points))
    if not sections:
        return None
    # Differences of rates lie in [-1, 1]; keep the axis symmetric so left and right
    # read alike, wide enough to show the band with room around it.
    reach = min(max([0.25, *(abs(v) * 1.08 for v in _extent(sections))]), 1.0)
    title = f"Parity differences by group, attribute {check.get('attribute')}"
    desc = "Each group's rate minus the privileged group's; 0 is parity."
    return _interval_chart(title, desc, sections, 0.0, -reach, reach, "parity (0)")


CHART_BUILDERS = {
    "group_fairness": (("disparate_impact", disparate_impact_chart), ("differences", differences_chart)),
}


def report_charts(document: dict) -> dict[str, SafeString]:
    """SVG charts keyed by f"{check_id}:{attribute}:{name}", safe to embed as they are."""
    thresholds = (document.get("policy") or {}).get("thresholds") or {}
    charts: dict[str, SafeString] = {}
    for check in document.get("checks") or []:
        for name, build in CHART_BUILDERS.get(check.get("id"), ()):
            svg = build(check, thresholds)
            if svg is not None:
                # Safe because every text and attribute inside went through svg.esc.
                charts[f"{check.get('id')}:{check.get('attribute')}:{name}"] = mark_safe(svg)
    return charts

