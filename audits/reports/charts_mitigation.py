"""The mitigation sweep as a trade-off chart: held-out accuracy against the fairness gap.

One point per adversary weight, joined in weight order, the chosen weight ringed and
the undebiased point (weight 0) as the reference. Moving left means fairer, down means
less accurate, so a reader sees at a glance what each unit of fairness costs.
Weights and figures are numbers from the section; all text still goes through
svg.Canvas, which escapes it.
"""
from __future__ import annotations

from .chartkit import finite, legend_box
from .svg import Canvas, Scale, label_num, nice_ticks

WIDTH, HEIGHT = 680, 380
LEFT, RIGHT, TOP, BOTTOM = 70, 30, 40, 300
GAP_LABELS = {"fairness_gap": "fairness gap (goal's distance from parity)",
              "statistical_parity_difference": "|statistical parity difference|"}


def _gap_key(sweep: list[dict]) -> str | None:
    for key in GAP_LABELS:
        if any(finite(p.get(key)) for p in sweep):
            return key
    return None


def _padded(values: list[float], pad: float, floor: float | None = None) -> tuple[float, float]:
    lo, hi = min(values), max(values)
    span = max(hi - lo, pad)
    lo, hi = lo - span * 0.1, hi + span * 0.1
    return (max(lo, floor) if floor is not None else lo), hi


def sweep_chart(sweep, chosen_weight=None) -> str | None:
    """SVG markup, or None when fewer than two sweep points have both figures."""
    if not isinstance(sweep, list):
        return None
    sweep = [p for p in sweep if isinstance(p, dict)]
    key = _gap_key(sweep)
    if key is None:
        return None
    points = sorted(
        ((float(p["adversary_weight"]), abs(float(p[key])), float(p["accuracy"]))
         for p in sweep if finite(p.get("adversary_weight")) and finite(p.get(key)) and finite(p.get("accuracy"))),
        key=lambda t: t[0])
    if len(points) < 2:
        return None
    title = "Accuracy against fairness for each adversary weight (held-out rows)"
    canvas = Canvas(WIDTH, HEIGHT, title, "One point per adversary weight of the sweep; left is fairer, "
                                          "up is more accurate.")
    x = Scale(*_padded([g for _, g, _ in points], 0.02, floor=0.0), LEFT, WIDTH - RIGHT)
    y = Scale(*_padded([a for *_, a in points], 0.02), BOTTOM, TOP)
    canvas.text(6, 18, title, "title")
    for tick in nice_ticks(x.lo, x.hi):
        canvas.line(x(tick), TOP, x(tick), BOTTOM, "grid")
        canvas.text(x(tick), BOTTOM + 15, f"{tick:g}", "tick", anchor="middle")
    for tick in nice_ticks(y.lo, y.hi):
        canvas.line(LEFT, y(tick), WIDTH - RIGHT, y(tick), "grid")
        canvas.text(LEFT - 6, y(tick) + 4, f"{tick:g}", "tick", anchor="end")
    canvas.line(LEFT, BOTTOM, WIDTH - RIGHT, BOTTOM, "axis")
    canvas.line(LEFT, TOP, LEFT, BOTTOM, "axis")
    canvas.text((LEFT + WIDTH - RIGHT) / 2, BOTTOM + 32, GAP_LABELS[key], "note", anchor="middle")
    canvas.text(16, (TOP + BOTTOM) / 2, "held-out accuracy", "note", anchor="middle", rotate=-90)
    canvas.polyline([(x(g), y(a)) for _, g, a in points], "series-ink")
    for weight, gap, accuracy in points:
        chosen = finite(chosen_weight) and abs(weight - float(chosen_weight)) < 1e-12
        kind = "pt-pass" if chosen else ("pt-none" if weight == 0 else "pt-ink")
        tooltip = f"weight {weight:g}: accuracy {label_num(accuracy)}, gap {label_num(gap)}"
        canvas.circle(x(gap), y(accuracy), 6 if chosen else 4.5, kind, tooltip=tooltip)
        canvas.text(x(gap) + 8, y(accuracy) - 6, f"w={weight:g}", "value")
    legend_box(canvas, LEFT, BOTTOM + 56, [("sw-none", "no adversary (weight 0)"), ("sw-pass", "chosen weight"),
                                            ("series-ink", "sweep, in weight order")])
    return canvas.render()
