"""SVG charts: one per group_fairness attribute and kind, well-formed, escaped, banded."""
from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest
from django.template import engines
from django.utils.safestring import SafeString

from audits.reports import report_charts
from audits.reports.svg import nice_ticks

NS = "{http://www.w3.org/2000/svg}"
BAND = "#d9f2e3"
THRESHOLDS = {
    "disparate_impact": {"low": 0.8, "high": 1.25},
    "statistical_parity_difference": {"low": -0.1, "high": 0.1},
    "equal_opportunity_difference": {"low": -0.1, "high": 0.1},
    "average_odds_difference": {"low": -0.1, "high": 0.1},
}


def check(attribute="gender", groups=None, worst="female", di_ci=(0.6, 0.83), check_id="group_fairness"):
    groups = groups or {
        "female": {"disparate_impact": 0.712, "statistical_parity_difference": -0.21,
                   "equal_opportunity_difference": -0.05, "average_odds_difference": 0.01},
        "nonbinary": {"disparate_impact": 0.95, "statistical_parity_difference": -0.02,
                      "equal_opportunity_difference": 0.03, "average_odds_difference": -0.01},
        "privileged: male": {"selection_rate": 0.42, "count": 60.0},
    }
    di = groups[worst]["disparate_impact"]
    return {
        "id": check_id, "attribute": attribute, "status": "fail", "message": "m",
        "metrics": {"disparate_impact": {"value": di, "ci_low": di_ci[0], "ci_high": di_ci[1],
                                         "threshold": THRESHOLDS["disparate_impact"], "status": "fail", "group": worst}},
        "groups": groups,
    }


def document(*checks):
    return {"policy": {"name": "default", "version": 1, "thresholds": THRESHOLDS}, "checks": list(checks)}


def parse(svg: str) -> ET.Element:
    return ET.fromstring(svg)


def texts(root: ET.Element) -> list[str]:
    return ["".join(t.itertext()) for t in root.iter(f"{NS}text")]


def test_one_di_and_one_differences_chart_per_fairness_attribute():
    charts = report_charts(document(
        check("gender"), check("age"),
        {"id": "sampling_bias", "attribute": "gender", "status": "pass", "metrics": {}, "groups": {}},
        {"id": "group_fairness", "attribute": "region", "status": "skipped", "metrics": {}, "groups": {}},
    ))
    assert sorted(charts) == [
        "group_fairness:age:differences", "group_fairness:age:disparate_impact",
        "group_fairness:gender:differences", "group_fairness:gender:disparate_impact",
    ]
    assert all(isinstance(svg, SafeString) for svg in charts.values())


def test_di_chart_has_a_point_per_group_the_band_the_parity_line_and_the_interval():
    root = parse(report_charts(document(check()))["group_fairness:gender:disparate_impact"])
    assert root.tag == f"{NS}svg"
    circles = list(root.iter(f"{NS}circle"))
    assert len(circles) == 2  # female and nonbinary; the privileged group has no DI
    band = next(r for r in root.iter(f"{NS}rect") if r.get("fill") == BAND)
    band_x, band_w = float(band.get("x")), float(band.get("width"))
    parity = [ln for ln in root.iter(f"{NS}line") if ln.get("stroke-dasharray") == "4 3"]
    assert len(parity) == 1
    assert band_x < float(parity[0].get("x1")) < band_x + band_w  # 1.0 lies inside 0.8-1.25
    labels = texts(root)
    assert "0.712 [0.600, 0.830]" in labels and "0.950" in labels
    assert {"female", "nonbinary"} <= set(labels)
    # The whisker: a horizontal line from ci_low to ci_high around the worst group's point.
    female_y = float(circles[0].get("cy"))
    whiskers = [ln for ln in root.iter(f"{NS}line")
                if ln.get("stroke") == "#243b53" and float(ln.get("y1")) == float(ln.get("y2")) == female_y]
    assert len(whiskers) == 1
    assert float(whiskers[0].get("x1")) < float(circles[0].get("cx")) < float(whiskers[0].get("x2"))


def test_differences_chart_has_a_band_and_a_heading_per_metric():
    root = parse(report_charts(document(check()))["group_fairness:gender:differences"])
    labels = texts(root)
    for heading in ("Statistical parity difference (SPD)", "Equal opportunity difference (EOD)",
                    "Average odds difference (AOD)"):
        assert heading in labels
    assert len([r for r in root.iter(f"{NS}rect") if r.get("fill") == BAND]) == 3
    assert len(list(root.iter(f"{NS}circle"))) == 6
    assert "-0.210" in labels


def test_user_supplied_names_are_inert():
    evil = '<script>alert("x")</script>'
    attribute = '"><img src=x onerror=alert(1)>'
    groups = {evil: {"disparate_impact": 0.7, "statistical_parity_difference": -0.2}, "privileged: a&b": {}}
    charts = report_charts(document(check(attribute=attribute, groups=groups, worst=evil)))
    assert len(charts) == 2
    for svg in charts.values():
        assert "<script" not in svg and "<img" not in svg
        assert "&lt;script&gt;" in svg
        root = parse(svg)  # still well-formed XML
        assert not [el for el in root.iter() if el.tag.endswith(("script", "img", "foreignObject"))]
        assert all(not name.startswith("on") for el in root.iter() for name in el.attrib)
        # The label may be clipped to fit; the full name is in its tooltip, as text.
        assert evil in [t.text for t in root.iter(f"{NS}title")]
    rendered = engines["django"].from_string("{{ svg }}").render({"svg": charts[f"group_fairness:{attribute}:differences"]})
    assert rendered.startswith("<svg")  # marked safe: embedded as markup, not double-escaped


def test_extreme_and_missing_values():
    groups = {"a": {"disparate_impact": 12.5}, "b": {"disparate_impact": float("nan")}, "c": {"disparate_impact": None}}
    root = parse(report_charts(document(check(groups=groups, worst="a", di_ci=(9.0, 15.0))))[
        "group_fairness:gender:disparate_impact"])
    labels = texts(root)
    assert "12.500 [9.000, 15.000]" in labels
    assert "▶" in labels  # clamped at the axis end, marked as beyond it
    assert labels.count("— (not computable)") == 2
    assert len(list(root.iter(f"{NS}circle"))) == 1


def test_attribute_with_a_colon_keeps_its_own_key():
    charts = report_charts(document(check(attribute="a"), check(attribute="a:b")))
    assert "group_fairness:a:b:disparate_impact" in charts and "group_fairness:a:disparate_impact" in charts


@pytest.mark.parametrize(("lo", "hi", "expected"), [
    (0.0, 1.5, [0.0, 0.5, 1.0, 1.5]),
    (-0.25, 0.25, [-0.2, -0.1, 0.0, 0.1, 0.2]),
    (0.0, 3.0, [0.0, 1.0, 2.0, 3.0]),
    (0.0, 0.9, [0.0, 0.2, 0.4, 0.6, 0.8]),
])
def test_ticks_are_round_numbers(lo, hi, expected):
    assert nice_ticks(lo, hi) == expected
