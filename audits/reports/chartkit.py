"""The one chart shape most report figures share: a row per group, in titled sections.

Each row shows an estimate as a dot (or a bar from zero), its 95% interval as a
whisker where the check reports one, and optionally a marker (an expected value). A
section may shade its acceptable range; reference lines (parity, overall AUC, a
threshold) run across all sections. The status colours come from the checks' own
pass / warn / fail rule, so a chart never judges differently from the tables.

Group names and attribute names are user data; svg.Canvas escapes all of them.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from audits.checks.policy import metric_status

from .svg import STYLES, Canvas, Scale, clip_label, esc, label_num, nice_ticks, num

WIDTH, LABEL_W, VALUE_W = 680, 170, 150
ROW_H, MIN_ROW_H, HEAD_H, TOP = 22, 16, 22, 34
# A chart is one unbreakable box in the PDF: its plot must leave room for the title
# and legend within an A4 page (about 980 px of content height at 96 dpi).
MAX_PLOT_H = 780
SEVERITY = {"fail": 3, "warn": 2, "pass": 1, "none": 0}
JUDGED = ("pass", "warn", "fail")
STATUS_LEGEND = {"pass": "within range", "warn": "outside at the estimate",
                 "fail": "outside across the 95% interval", "none": "not judged"}


@dataclass(frozen=True)
class Point:
    group: str
    value: float | None
    low: float | None = None
    high: float | None = None
    status: str = "none"
    marker: float | None = None  # a second value drawn as a tick, e.g. the expected share
    text: str | None = None  # the right-hand label, when "value [low, high]" is not enough


@dataclass(frozen=True)
class Section:
    heading: str | None
    band: tuple[float, float] | None
    points: list[Point]


@dataclass(frozen=True)
class Line:
    value: float
    kind: str  # a svg.STYLES line style: "ref", "edge" or "limit"
    label: str


def finite(x) -> bool:
    return isinstance(x, int | float) and not isinstance(x, bool) and math.isfinite(x)


def threshold_range(check: dict, thresholds: dict, name: str, default=None) -> tuple[float, float] | None:
    """The acceptable [low, high] of `name`: the check's own threshold, else the policy's."""
    metric = (check.get("metrics") or {}).get(name)
    candidates = (metric.get("threshold") if isinstance(metric, dict) else None, thresholds.get(name))
    for threshold in candidates:
        if isinstance(threshold, dict) and finite(threshold.get("low")) and finite(threshold.get("high")):
            return float(threshold["low"]), float(threshold["high"])
    return default


def interval_of(figures: dict, name: str) -> tuple[float | None, float | None]:
    low, high = figures.get(f"{name}_ci_low"), figures.get(f"{name}_ci_high")
    return (float(low), float(high)) if finite(low) and finite(high) else (None, None)


def judged(check: dict, metric: str, group: str, value, low, high, band) -> str:
    """A group's status for `metric`: the check's verdict for its worst group, else the
    same rule applied to the group's own figure (no interval: pass or warn only)."""
    worst = (check.get("metrics") or {}).get(metric) or {}
    # Checks that key the privileged row as "privileged: NAME" name it NAME in metrics.
    if worst.get("group") in (group, group.removeprefix("privileged: ")) and worst.get("status") in JUDGED:
        return worst["status"]
    if band is None or not finite(value):
        return "none"
    status = metric_status(value, low, high, {"low": band[0], "high": band[1]})
    return status if status in JUDGED else "none"


def group_rows(check: dict):
    """(name, figures) for every group whose figures are a dict, in the check's order."""
    return [(str(g), f) for g, f in (check.get("groups") or {}).items() if isinstance(f, dict)]


def extent(sections: list[Section], lines=()) -> list[float]:
    values = [line.value for line in lines]
    for section in sections:
        values += list(section.band or ())
        for p in section.points:
            values += [v for v in (p.value, p.low, p.high, p.marker) if v is not None]
    return values


def interval_chart(title: str, description: str, sections: list[Section], lo: float, hi: float, *,
                   axis_label: str, lines: list[Line] = (), bars: bool = False,
                   legend: list[tuple[str, str]] = (), band_label: str = "acceptable range",
                   none_label: str = STATUS_LEGEND["none"]) -> str:
    """Rows of points (or bars) with whiskers, in sections, against a shared x axis."""
    sections = [s for s in sections if s.points]
    sections, shown, total = fit(sections, lines[0].value if lines else 0.0)
    note = (f"Showing {shown} of {total} rows, the worst of each {'section' if len(sections) > 1 else 'chart'};"
            " the table above lists them all.") if shown < total else ""
    top = TOP + (14 if note else 0)
    rows = sum(len(s.points) for s in sections)
    heads = sum(1 for s in sections if s.heading)
    row_h = max(MIN_ROW_H, min(ROW_H, (MAX_PLOT_H - heads * HEAD_H) / max(rows, 1)))
    plot_top, plot_bottom = top, top + rows * row_h + heads * HEAD_H
    keys = _legend_keys(sections, lines, legend, band_label, none_label)
    legend_rows = _legend_rows(keys)
    canvas = Canvas(WIDTH, plot_bottom + 40 + 15 * legend_rows, title, description)
    x = Scale(lo, hi, LABEL_W, WIDTH - VALUE_W)
    canvas.text(6, 18, title, "title")
    if note:
        canvas.text(6, 33, note, "note")
    ticks = nice_ticks(lo, hi)
    for tick in ticks:
        canvas.line(x(tick), plot_top, x(tick), plot_bottom, "grid")
    y = plot_top
    for section in sections:
        section_h = len(section.points) * row_h + (HEAD_H if section.heading else 0)
        if section.band:
            _band(canvas, x, section.band, y, section_h, {line.value for line in lines})
        if section.heading:
            canvas.text(6, y + HEAD_H - 7, section.heading, "head")
            y += HEAD_H
        for p in section.points:
            _draw_row(canvas, x, y + row_h / 2, p, bars)
            y += row_h
    for line in lines:
        if lo <= line.value <= hi:
            canvas.line(x(line.value), plot_top, x(line.value), plot_bottom, line.kind)
    canvas.line(LABEL_W, plot_bottom, WIDTH - VALUE_W, plot_bottom, "axis")
    for tick in ticks:
        canvas.line(x(tick), plot_bottom, x(tick), plot_bottom + 4, "axis")
        canvas.text(x(tick), plot_bottom + 15, f"{tick:g}", "tick", anchor="middle")
    canvas.text((LABEL_W + WIDTH - VALUE_W) / 2, plot_bottom + 30, axis_label, "note", anchor="middle")
    legend_box(canvas, 6, plot_bottom + 48, keys)
    return canvas.render()


def fit(sections: list[Section], ref: float) -> tuple[list[Section], int, int]:
    """The sections cut to what fits one page, keeping each section's worst rows.

    Worst: the most severe status, then the furthest from the reference line. The
    rows kept stay in the check's order, so the chart still reads like its table.
    """
    total = sum(len(s.points) for s in sections)
    heads = sum(1 for s in sections if s.heading)
    room = int((MAX_PLOT_H - heads * HEAD_H) // MIN_ROW_H)
    if total <= room:
        return sections, total, total
    per_section = max(1, room // len(sections))
    cut = []
    for section in sections:
        ranked = sorted(section.points, key=lambda p: (-SEVERITY.get(p.status, 0), p.value is None,
                                                       -abs((p.value or 0.0) - ref)))
        keep = {id(p) for p in ranked[:per_section]}
        cut.append(Section(section.heading, section.band, [p for p in section.points if id(p) in keep]))
    return cut, sum(len(s.points) for s in cut), total


def _band(canvas: Canvas, x: Scale, band: tuple[float, float], y: float, h: float, lines: set) -> None:
    left, right = max(band[0], x.lo), min(band[1], x.hi)
    if left >= right:
        return
    canvas.rect(x(left), y, x(right) - x(left), h, "band",
                tooltip=f"Acceptable range {label_num(band[0])} to {label_num(band[1])}")
    for edge in band:
        # An edge at the axis end would only double the frame, and one under a
        # reference line would muddy it.
        if x.lo < edge < x.hi and edge not in lines:
            canvas.line(x(edge), y, x(edge), y + h, "edge")


def _draw_row(canvas: Canvas, x: Scale, cy: float, p: Point, bars: bool) -> None:
    canvas.text(LABEL_W - 8, cy + 4, clip_label(p.group), "text", anchor="end", tooltip=p.group)
    if p.value is None:
        canvas.text(WIDTH - VALUE_W + 8, cy + 4, p.text or "— (not computable)", "value")
        return
    interval = f" [{label_num(p.low)}, {label_num(p.high)}]" if p.low is not None else ""
    tooltip = f"{p.group}: {label_num(p.value)}{interval}"
    if bars:
        base = min(max(0.0, x.lo), x.hi)
        left, right = sorted((x(base), x(p.value)))
        canvas.rect(left, cy - 6, right - left, 12, f"bar-{p.status}", tooltip=tooltip)
    if p.low is not None and p.high is not None:
        canvas.line(x(p.low), cy, x(p.high), cy, "whisker")
        for end in (p.low, p.high):
            canvas.line(x(end), cy - 5, x(end), cy + 5, "whisker")
    if p.marker is not None:
        canvas.line(x(p.marker), cy - 8, x(p.marker), cy + 8, "marker")
    if not bars:
        canvas.circle(x(p.value), cy, 4.5, f"pt-{p.status}", tooltip=tooltip)
    if x.outside(p.value):
        # Clamped to the plot's edge; an arrow says the true value lies beyond.
        arrow = "◀" if p.value < x.lo else "▶"
        canvas.text(x(p.value) + (-9 if p.value < x.lo else 9), cy + 4, arrow, "cap", anchor="middle")
    canvas.text(WIDTH - VALUE_W + 8, cy + 4, p.text or f"{label_num(p.value)}{interval}", "value")


def _legend_keys(sections, lines, extra, band_label, none_label) -> list[tuple[str, str]]:
    points = [p for s in sections for p in s.points if p.value is not None]
    labels = {**STATUS_LEGEND, "none": none_label}
    keys = [(f"sw-{s}", labels[s]) for s in (*JUDGED, "none") if any(p.status == s for p in points)]
    if any(s.band for s in sections):
        keys.append(("band", band_label))
    keys += [(line.kind, line.label) for line in lines]
    if any(p.low is not None for p in points):
        keys.append(("whisker", "95% bootstrap interval"))
    return keys + list(extra)


def _legend_layout(x: float, y: float, keys) -> list[tuple[str, str, float, float]]:
    """(kind, label, left, baseline) of each key, wrapped to the chart's width."""
    placed, cursor = [], x
    for kind, label in keys:
        span = 36 + 6.2 * len(label)  # swatch, gap and an estimate of the label's width
        if cursor > x and cursor + span > WIDTH - 6:
            cursor, y = x, y + 15
        placed.append((kind, label, cursor, y))
        cursor += span
    return placed


def _legend_rows(keys) -> int:
    return len({y for *_, y in _legend_layout(6, 0, keys)})


def legend_box(canvas: Canvas, x: float, y: float, keys: list[tuple[str, str]]) -> float:
    """Swatches and labels, wrapped to the chart width; returns the y below the last row.

    Swatches are <path> elements, never <rect>, <line> or <circle>, so a reader (or a
    test) counting data marks is not misled by the key.
    """
    for kind, label, left, baseline in _legend_layout(x, y, keys):
        if kind.startswith(("sw-", "cell")) or kind == "band":
            shape = f"M{num(left)} {num(baseline - 9)}h10v10h-10z"
        else:
            shape = f"M{num(left - 2)} {num(baseline - 4)}h16"
        canvas.parts.append(f'<path {STYLES[kind]} d="{esc(shape)}"/>')
        canvas.text(left + 18, baseline, label, "note")
        y = baseline
    return y + 15
