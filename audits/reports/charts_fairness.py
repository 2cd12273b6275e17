"""group_fairness charts: disparate impact, and the difference metrics (SPD, EOD, AOD).

One row per non-privileged group: the estimate, its 95% interval where the check
reports one, the policy's acceptable range shaded and the parity line dashed.
"""
from __future__ import annotations

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


def _points(check: dict, name: str, band) -> list[Point]:
    """One point per group reporting `name`; the privileged group has no such figure."""
    worst = (check.get("metrics") or {}).get(name) or {}
    points = []
    for group, figures in group_rows(check):
        if name not in figures:
            continue
        value = float(figures[name]) if finite(figures[name]) else None
        # A group's own NAME_ci_low / NAME_ci_high where the check gives them; else
        # the worst group's interval, which `metrics` always carries.
        low, high = interval_of(figures, name)
        if low is None and worst.get("group") == group and finite(worst.get("ci_low")) and finite(worst.get("ci_high")):
            low, high = float(worst["ci_low"]), float(worst["ci_high"])
        points.append(Point(group, value, low, high, judged(check, name, group, value, low, high, band)))
    return points


def disparate_impact_chart(check: dict, thresholds: dict) -> str | None:
    band = threshold_range(check, thresholds, "disparate_impact", DEFAULT_BANDS["disparate_impact"])
    section = Section(None, band, _points(check, "disparate_impact", band))
    if not section.points:
        return None
    # DI is a ratio: start at 0 and show at least up to 1.5 so the band has context;
    # cap at 3 so one extreme group does not squash the rest (its arrow marks it).
    hi = min(max([1.5, *(v * 1.08 for v in extent([section]))]), 3.0)
    return interval_chart(
        f"Disparate impact by group, attribute {check.get('attribute')}",
        "Selection rate of each group divided by the privileged group's; 1.0 is parity.",
        [section], 0.0, hi, axis_label="Selection rate relative to the privileged group (ratio)",
        lines=[Line(1.0, "ref", "parity (1.0)")])


def differences_chart(check: dict, thresholds: dict) -> str | None:
    sections = []
    for name in DIFFERENCE_METRICS:
        band = threshold_range(check, thresholds, name, DEFAULT_BANDS[name])
        sections.append(Section(METRIC_TITLES[name], band, _points(check, name, band)))
    if not any(s.points for s in sections):
        return None
    # Differences of rates lie in [-1, 1]; keep the axis symmetric so left and right
    # read alike, wide enough to show the band with room around it.
    reach = min(max([0.25, *(abs(v) * 1.08 for v in extent(sections))]), 1.0)
    return interval_chart(
        f"Parity differences by group, attribute {check.get('attribute')}",
        "Each group's rate minus the privileged group's; 0 is parity.",
        sections, -reach, reach, axis_label="Group rate minus the privileged group's rate",
        lines=[Line(0.0, "ref", "parity (0)")])


BUILDERS = (("disparate_impact", disparate_impact_chart), ("differences", differences_chart))
