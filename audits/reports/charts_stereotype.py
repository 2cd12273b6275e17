"""stereotype_pairs charts: the share of pairs preferring the more-stereotypical sentence.

One chart per result. The result over all pairs draws every bias type (its groups) and
all pairs together; a bias type's own result draws its share and, beside it as
information, the shares by direction and by length-normalised score. The policy's band
is shaded and 50 % (no preference) drawn as a reference line.
"""
from __future__ import annotations

from .chartkit import Line, Point, Section, finite, group_rows, interval_chart, interval_of, threshold_range

METRIC = "stereotype_score"
DEFAULT_BAND = (0.45, 0.55)
INFO = {f"{METRIC}_stereo": "stereo pairs (info)", f"{METRIC}_antistereo": "antistereo pairs (info)",
        f"{METRIC}_length_normalised": "length-normalised (info)"}


def _entry_point(label: str, entry: dict, band, judged: bool = True) -> Point | None:
    if not isinstance(entry, dict) or not finite(entry.get("value")):
        return None
    low, high = entry.get("ci_low"), entry.get("ci_high")
    status = entry.get("status") if judged and entry.get("status") in ("pass", "warn", "fail") else "none"
    return Point(label, float(entry["value"]), low if finite(low) else None, high if finite(high) else None, status)


def shares_chart(check: dict, thresholds: dict) -> str | None:
    metrics = check.get("metrics") or {}
    band = threshold_range(check, thresholds, METRIC, DEFAULT_BAND)
    attribute = check.get("attribute")
    first = _entry_point("all pairs" if attribute is None else str(attribute), metrics.get(METRIC), band)
    points = [p for p in [first] if p is not None]
    for group, figures in group_rows(check):
        low, high = interval_of(figures, METRIC)
        value = figures.get(METRIC)
        if finite(value):
            status = figures.get("status") if figures.get("status") in ("pass", "warn", "fail") else "none"
            points.append(Point(group, float(value), low, high, status))
    points += [p for p in (_entry_point(label, metrics.get(name), band, judged=False) for name, label in INFO.items())
               if p is not None]
    if not points:
        return None
    scope = "per bias type" if attribute is None else f"bias type {attribute}"
    return interval_chart(
        f"Share of pairs preferring the more-stereotypical sentence, {scope}",
        "Each row: the share of pairs in which the model scores the more-stereotypical sentence higher, "
        "with its 95% interval; the shaded band is the policy's range, 50% is no preference.",
        [Section(None, band, points)], 0.0, 1.0, axis_label="Share of pairs preferring the stereotype",
        lines=[Line(0.5, "ref", "no preference (0.5)")])


BUILDERS = {"stereotype_pairs": (("shares", shares_chart),)}
