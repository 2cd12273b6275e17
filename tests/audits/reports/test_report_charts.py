"""What each check family's charts draw, read back from the SVG of real check results.

Positions are checked against the chart's own axis: the tick labels give the linear
map from values to pixels, so a reference line "at the overall AUC" is tested as
exactly that, not as a magic pixel number.
"""
from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from audits.reports import report_charts
from audits.reports.chartkit import MAX_PLOT_H, Point, Section, interval_chart
from audits.reports.charts_heatmap import intersection_grid
from audits.reports.svg import FAIL
from tests.audits.reports.test_report_checks import EVIL_GROUP, all_check_results, report_document

NS = "{http://www.w3.org/2000/svg}"
REF, LIMIT = "4 3", "6 3"  # dash patterns of the reference line and of a policy limit


@pytest.fixture(scope="module")
def document():
    return report_document(all_check_results())


@pytest.fixture(scope="module")
def charts(document):
    return {k: ET.fromstring(str(v)) for k, v in report_charts(document).items()}


def result(document, check_id, attribute):
    return next(c for c in document["checks"] if c["id"] == check_id and c["attribute"] == attribute)


def texts(root) -> list[str]:
    return ["".join(t.itertext()) for t in root.iter(f"{NS}text")]


def axis(root):
    """value -> x pixel, fitted through the bottom axis's tick labels."""
    ticks = []
    for t in root.iter(f"{NS}text"):
        try:
            ticks.append((float(t.text), float(t.get("x")), float(t.get("y"))))
        except (TypeError, ValueError):
            continue
    bottom = max(y for _, _, y in ticks if ticks)
    (v0, x0, _), (v1, x1, _) = sorted(t for t in ticks if t[2] == bottom)[:2]
    return lambda value: x0 + (value - v0) * (x1 - x0) / (v1 - v0)


def lines(root, dash):
    return [ln for ln in root.iter(f"{NS}line") if ln.get("stroke-dasharray") == dash]


def test_subgroup_auc_dots_intervals_overall_line_and_band(document, charts):
    check = result(document, "subgroup_auc", "gender")
    root = charts["subgroup_auc:gender:auc"]
    x = axis(root)
    groups = [g for g in check["groups"] if g != "all rows"]
    assert len(list(root.iter(f"{NS}circle"))) == 3 * len(groups)
    overall = check["groups"]["all rows"]["overall_auc"]
    [ref] = lines(root, REF)
    assert float(ref.get("x1")) == pytest.approx(x(overall), abs=0.6)
    bands = [r for r in root.iter(f"{NS}rect") if r.get("fill") == "#d9f2e3"]
    assert len(bands) == 3  # subgroup, BPSN and BNSP sections
    assert all(float(b.get("x")) == pytest.approx(x(overall - 0.05), abs=0.6) for b in bands)
    labels = texts(root)
    assert {"Subgroup AUC", "BPSN AUC", "BNSP AUC"} <= set(labels)
    worst = check["metrics"]["subgroup_auc_gap"]["group"]
    figures = check["groups"][worst]
    expected = f"{figures['subgroup_auc']:.3f} [{figures['subgroup_auc_ci_low']:.3f}, {figures['subgroup_auc_ci_high']:.3f}]"
    assert expected in labels


def test_reliability_diagram_has_a_panel_per_group_with_sized_dots(document, charts):
    check = result(document, "automation_bias", "age band")
    root = charts["automation_bias:age band:reliability"]
    panels = [g for g, f in check["groups"].items() if any(f["reliability_count"])]
    labels = texts(root)
    assert all(g in labels for g in panels)
    # Each group's curve, plus the "all rows" curve drawn faintly in every other panel.
    assert len(list(root.iter(f"{NS}polyline"))) == 2 * len(panels) - 1
    assert len(lines(root, "3 3")) == len(panels)  # the diagonal of perfect calibration
    dots = list(root.iter(f"{NS}circle"))
    assert len(dots) == sum(sum(1 for n in check["groups"][g]["reliability_count"] if n) for g in panels)
    # Sized by the rows in each bin: within a panel, more rows never means a smaller dot.
    by_group: dict[str, list[tuple[int, float]]] = {}
    for dot in dots:
        group, rest = dot.findtext(f"{NS}title").rsplit(": confidence ", 1)
        rows = int(rest.rsplit(", ", 1)[1].split()[0].replace(",", ""))
        by_group.setdefault(group, []).append((rows, float(dot.get("r"))))
    assert sorted(by_group) == sorted(panels)
    for sizes in by_group.values():
        radii = [r for _, r in sorted(sizes)]
        assert radii == sorted(radii) and radii[-1] == max(r for _, r in sizes)


def test_ece_chart_against_the_policy_limit(document, charts):
    check = result(document, "automation_bias", "gender")
    root = charts["automation_bias:gender:ece"]
    x = axis(root)
    [limit] = lines(root, LIMIT)
    assert limit.get("stroke") == FAIL
    assert float(limit.get("x1")) == pytest.approx(x(0.05), abs=0.6)
    assert len(list(root.iter(f"{NS}circle"))) == len(check["groups"])  # every group and "all rows"
    worst = check["metrics"]["expected_calibration_error"]
    dot = next(c for c in root.iter(f"{NS}circle") if (c.findtext(f"{NS}title") or "").startswith(
        f"privileged: {worst['group']}:") or (c.findtext(f"{NS}title") or "").startswith(f"{worst['group']}:"))
    assert dot.get("fill") == {"fail": FAIL, "warn": "#b7791f", "pass": "#2f855a"}[worst["status"]]


def test_base_rate_chart_has_the_privileged_rate_as_reference(document, charts):
    check = result(document, "labelling_bias", "gender")
    root = charts["labelling_bias:gender:base_rate"]
    x = axis(root)
    privileged = next(f["base_rate"] for g, f in check["groups"].items() if g.startswith("privileged: "))
    [ref] = lines(root, REF)
    assert float(ref.get("x1")) == pytest.approx(x(privileged), abs=0.6)
    assert len(list(root.iter(f"{NS}circle"))) == len(check["groups"])
    assert EVIL_GROUP in texts(root)  # escaped in the markup, the name itself once parsed


def test_share_bars_with_expected_markers(document, charts):
    check = result(document, "sampling_bias", "age band")
    root = charts["sampling_bias:age band:shares"]
    x = axis(root)
    bars = [r for r in root.iter(f"{NS}rect") if r.get("fill-opacity") == "0.75"]
    assert len(bars) == len(check["groups"])
    markers = [ln for ln in root.iter(f"{NS}line") if ln.get("stroke-width") == "2.5"]
    assert len(markers) == len(check["groups"])
    assert all(float(m.get("x1")) == pytest.approx(x(0.1), abs=0.6) for m in markers)  # uniform over ten
    # Over-represented groups are not flagged: only a shortfall harms a group.
    first = next(g for g, f in check["groups"].items() if f["representation_ratio"] and f["representation_ratio"] > 1)
    bar = next(b for b in bars if b.findtext(f"{NS}title").startswith(f"{first}:"))
    assert bar.get("fill") == "#2f855a"


def test_leakage_chart_lines_at_chance_and_the_limit(charts):
    root = charts["proxy_leakage:gender:leakage"]
    x = axis(root)
    [ref], [limit] = lines(root, REF), lines(root, LIMIT)
    assert float(ref.get("x1")) == pytest.approx(x(0.5), abs=0.6)
    assert float(limit.get("x1")) == pytest.approx(x(0.7), abs=0.6)


def test_intersection_heat_map_of_counts(document, charts):
    check = result(document, "sampling_bias", "gender & age band")
    root = charts["sampling_bias:gender & age band:intersection_counts"]
    cells = [r for r in root.iter(f"{NS}rect") if r.get("stroke") == "#ffffff"]
    assert len(cells) == len(check["groups"]) == 40
    labels = texts(root)
    assert all(f"{f['count']:,}" in labels for f in check["groups"].values())
    assert "sampling_bias:gender & age band:shares" not in charts
    # The darkest cell is the largest count.
    largest = max(check["groups"], key=lambda g: check["groups"][g]["count"])
    darkest = min(cells, key=lambda r: sum(int(r.get("fill")[i:i + 2], 16) for i in (1, 3, 5)))
    assert darkest.findtext(f"{NS}title").startswith(f"{largest}:")


def test_intersection_grid_survives_separators_inside_values():
    names = [f"{a} & {b}" for a in ("x & y", "z") for b in ("p", "q & r", "s")]
    check = {"attribute": "first & second", "groups": {n: {"count": 1} for n in names}}
    assert intersection_grid(check) == (["x & y", "z"], ["p", "q & r", "s"])
    assert intersection_grid({"attribute": "race & ethnicity", "groups": {"a": {}, "b": {}}}) is None
    assert intersection_grid({"attribute": "a & b", "groups": {"x & p": {}, "x & q": {}, "y & p": {}}}) is None


def test_counterfactual_bars_per_term_largest_first(document, charts):
    check = result(document, "counterfactual", "religion")
    root = charts["counterfactual:religion:flip_rate"]
    bars = [r for r in root.iter(f"{NS}rect") if r.get("fill-opacity") == "0.75"]
    shown = [b.findtext(f"{NS}title").split(":")[0] for b in bars]
    terms = [g for g in check["groups"] if g != "all swaps" and "->" not in g]
    assert shown[0] == "all swaps" and sorted(shown[1:]) == sorted(terms)
    flips = [check["groups"][t]["counterfactual_flip_rate"] for t in shown[1:]]
    assert flips == sorted(flips, reverse=True)
    x = axis(root)
    [limit] = lines(root, LIMIT)
    assert float(limit.get("x1")) == pytest.approx(x(0.02), abs=0.6)
    whiskers = [ln for ln in root.iter(f"{NS}line") if ln.get("stroke") == "#243b53"]
    assert len(whiskers) == 3 * len(bars)  # every term has an interval: a line and two caps
    assert "counterfactual:religion:probability_change" in charts


def test_a_chart_with_many_rows_keeps_to_one_page():
    points = [Point(f"group {i}", (i - 40) / 100, status="fail" if i in (3, 77) else "pass") for i in range(80)]
    svg = interval_chart("Many", "", [Section(s, (-0.1, 0.1), points) for s in ("A", "B")], -1, 1,
                         axis_label="x")
    root = ET.fromstring(svg)
    assert float(root.get("height")) <= MAX_PLOT_H + 160
    labels = texts(root)
    assert any(t.startswith("Showing ") and " of 160 rows" in t for t in labels)
    assert labels.count("group 3") == 2 and labels.count("group 77") == 2  # failures are always kept
