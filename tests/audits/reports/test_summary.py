"""The report's summary and its details: every result outside the policy in one line (its
worst group with value, interval, range, side, meaning and what to do; every other group
outside named), read before anything else; details collapsed by attribute with the
failing ones open; long example lists behind "show more" on the page and in the PDF's
appendix. Results come from the real checks (test_report_checks.py)."""
from __future__ import annotations

import re

import pytest

from audits.checks.verdicts import JUDGED
from audits.reports import render_html, report_context
from audits.reports.summary import check_line
from tests.audits.reports.test_report_checks import EVIL_GROUP, all_check_results, report_document


@pytest.fixture(scope="module")
def document():
    return report_document(all_check_results())


@pytest.fixture(scope="module")
def view(document):
    return report_context(document)["view"]


@pytest.fixture(scope="module")
def html(document):
    return render_html(document)


def _outside(result: dict) -> set[str]:
    """The groups a result reports outside the policy: by their own status, or named by a
    metric outside it."""
    groups = {g for g, f in result["groups"].items() if isinstance(f, dict) and f.get("status") in JUDGED}
    return groups | {m["group"] for m in result["metrics"].values() if m.get("status") in JUDGED and m.get("group")}


def test_every_result_outside_the_policy_has_one_line_naming_each_group(document, view):
    lines = {(line["check_id"], line["attribute"]): line for row in view["summary"] for line in row["lines"]}
    judged = [r for r in document["checks"] if r["status"] in JUDGED]
    assert judged and {(r["id"], r["attribute"]) for r in judged} == set(lines)
    for result in judged:
        line = lines[(result["id"], result["attribute"])]
        assert line["status"]["code"] == result["status"]
        assert {line["group"], *line["all_others"]} == _outside(result), (result["id"], result["attribute"])
        assert line["value"] and line["range"] and line["side"] in ("below the range", "above the range")
        assert line["outside"].startswith(line["side"].split()[0])
        assert line["meaning"] and line["action"]


def test_a_line_gives_value_interval_range_and_side_of_the_worst_group():
    result = {"id": "group_fairness", "attribute": "gender", "status": "fail", "message": "m",
              "metrics": {"disparate_impact": {"value": 0.62, "ci_low": 0.5, "ci_high": 0.74, "status": "fail",
                                               "threshold": {"low": 0.8, "high": 1.25}, "group": "female"},
                          "theil_index": {"value": 0.2, "status": "info", "threshold": None, "group": "x"}},
              "groups": {"female": {"status": "fail", "disparate_impact": 0.62},
                         "nonbinary": {"status": "warn", "disparate_impact": 0.75, "disparate_impact_ci_low": 0.6,
                                       "disparate_impact_ci_high": 0.9},
                         "older": {"status": "pass", "disparate_impact": 0.95},
                         "tiny": {"status": "insufficient", "disparate_impact": 0.7}}}
    line = check_line(result, "check-group_fairness-1")
    assert (line["group"], line["metric"], line["value"], line["interval"], line["range"], line["side"]) == (
        "female", "Disparate impact (DI)", "0.620", "[0.500, 0.740]", "0.800 to 1.250", "below the range")
    assert line["meaning"] == "gets the favourable outcome less often than the privileged group"
    # Another group outside the policy is named with its figure; passing and too-small ones are not.
    assert line["others"] == ["nonbinary 0.750"] and line["all_others"] == ["nonbinary"]
    assert line["anchor"] == "check-group_fairness-1"


def test_an_errored_check_is_a_line_with_its_reason():
    line = check_line({"id": "subgroup_auc", "attribute": "age", "status": "error", "message": "ValueError: x",
                       "metrics": {}, "groups": {}}, "a")
    assert line["status"]["code"] == "error" and "ValueError: x" in line["meaning"]


def test_the_summary_comes_first_and_escapes_group_names(html):
    body = html.split("<body", 1)[1]
    assert body.index('id="summary"') < body.index('class="ar-toc"') < body.index('class="ar-findings"')
    table = body[body.index('id="summary-findings"'):body.index("</table>", body.index('id="summary-findings"'))]
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in table and EVIL_GROUP not in table
    # Each line links to its details; what to do is said once per check.
    assert table.count('href="#check-') == table.count("<tr>") - 1
    assert table.count('class="ar-summary-action"') == table.count("<tbody")


def test_details_by_attribute_failing_ones_open(view, html):
    for section in view["sections"]:
        for block in section["blocks"]:
            tag = re.search(rf'<details class="ar-check" id="{block["anchor"]}"( open)?>', html)
            assert tag, block["anchor"]
            assert bool(tag.group(1)) == (block["status"]["code"] in ("fail", "error")), block["anchor"]


def test_long_example_lists_show_five_and_keep_the_rest_behind_show_more(view, html):
    blocks = [b for s in view["sections"] for b in s["blocks"] if b["examples_more"]]
    assert blocks, "the synthetic counterfactual check gives more than five examples"
    for block in blocks:
        assert len(block["examples"]) == 5
        assert f"Show the other {len(block['examples_more'])} example" in html
