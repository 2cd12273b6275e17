"""counterfactual charts: how much swapping an identity term changes the model's output.

Per original term, two bar charts: the flip rate (share of swaps that change the
decision) against the policy's limit, and the mean absolute change in the favourable
probability. The check's groups hold an overall row ("all swaps"), one row per term
and one per term pair ("gay -> straight"); the charts show the overall row first and
then the terms, largest first, so the terms the model reacts to most lead. Pairs are
charted only when there are no term rows (a lexicon's pairs grow with its square and
stay in the table). Rows are capped so a big lexicon still fits a page.

The figure names are found by their shape ("flip_rate", "mean_abs_change") rather than
fixed, so small renames in the check do not silently drop the charts.
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

MAX_ROWS = 30
DEFAULT_FLIP_LIMIT = (0.0, 0.02)  # DESIGN.md: counterfactual flip rate <= 0.02
OVERALL = ("all swaps", "all pairs")
PAIR_MARKS = ("->", "→")


def is_pair(group: str) -> bool:
    return any(mark in group for mark in PAIR_MARKS)


def _scalar_keys(check: dict) -> list[str]:
    keys: list[str] = []
    for _, figures in group_rows(check):
        for key, value in figures.items():
            if key not in keys and finite(value) and not key.endswith(("_ci_low", "_ci_high")):
                keys.append(key)
    return keys


def flip_key(check: dict) -> str | None:
    return next((k for k in _scalar_keys(check) if "flip_rate" in k), None)


def change_key(check: dict) -> str | None:
    """The mean *absolute* change; a signed mean would let opposite moves cancel out."""
    keys = [k for k in _scalar_keys(check) if "mean" in k and any(w in k for w in ("change", "delta", "diff"))]
    return next((k for k in keys if "abs" in k), None)


def _bars(check: dict, name: str, band) -> tuple[list[Point], int]:
    rows = [(g, f) for g, f in group_rows(check) if finite(f.get(name))]
    overall = [(g, f) for g, f in rows if g in OVERALL]
    terms = [(g, f) for g, f in rows if g not in OVERALL and not is_pair(g)]
    detail = terms or [(g, f) for g, f in rows if g not in OVERALL]
    points = []
    for group, figures in overall + sorted(detail, key=lambda item: -item[1][name])[:MAX_ROWS]:
        value = float(figures[name])
        low, high = interval_of(figures, name)
        points.append(Point(group, value, low, high, judged(check, name, group, value, low, high, band)))
    return points, len(overall) + len(detail)


def _title(text: str, shown: int, total: int, attribute) -> str:
    more = f" (largest {shown} of {total})" if total > shown else ""
    return f"{text}{more}, attribute {attribute}"


def flip_rate_chart(check: dict, thresholds: dict) -> str | None:
    name = flip_key(check)
    if name is None:
        return None
    band = threshold_range(check, thresholds, name) or threshold_range(
        check, thresholds, "counterfactual_flip_rate", DEFAULT_FLIP_LIMIT)
    points, total = _bars(check, name, band)
    if not points:
        return None
    section = Section(None, band, points)
    hi = min(max([0.05, *(v * 1.15 for v in extent([section]))]), 1.0)
    return interval_chart(
        _title("Decision flip rate per swapped term", len(points), total, check.get("attribute")),
        "Share of swaps that change the model's decision, per original identity term.",
        [section], 0.0, hi, axis_label="Share of swaps that flip the decision", bars=True,
        lines=[Line(band[1], "limit", f"policy limit ({band[1]:g})")])


def probability_change_chart(check: dict, thresholds: dict) -> str | None:
    name = change_key(check)
    if name is None:
        return None
    band = threshold_range(check, thresholds, name)
    points, total = _bars(check, name, band)
    if not points:
        return None
    section = Section(None, band, points)
    hi = min(max([0.05, *(v * 1.15 for v in extent([section]))]), 1.0)
    lines = [Line(band[1], "limit", f"policy limit ({band[1]:g})")] if band else []
    return interval_chart(
        _title("Mean absolute probability change per swapped term", len(points), total, check.get("attribute")),
        "Mean absolute change in the favourable probability when the term is swapped, per original term.",
        [section], 0.0, hi, axis_label="Mean |probability after swap − probability before|", bars=True,
        lines=lines)


BUILDERS = {"counterfactual": (("flip_rate", flip_rate_chart), ("probability_change", probability_change_chart))}
