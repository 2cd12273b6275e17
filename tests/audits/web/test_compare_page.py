"""The comparison page, shortened like the report: what changed status comes first, only the
results that changed or fail are open, figures per group are behind a click, and list
figures (a reliability diagram's bins) are not printed as rows."""
from __future__ import annotations

import re

from django.urls import reverse

from audits.services.compare import audit_compare, compare_summary
from tests.factories import people_audit, people_dataset


def _result(check_id: str, status: str, value: float, bins=None) -> dict:
    groups = {"female": {"disparate_impact": value, "count": 40, "status": status}}
    if bins is not None:
        groups["female"]["reliability_accuracy"] = bins
    return {"id": check_id, "attribute": "gender", "status": status, "message": "m",
            "metrics": {"disparate_impact": {"value": value, "ci_low": value - 0.1, "ci_high": value + 0.1}},
            "groups": groups}


def _pair(org, user, model):
    dataset = people_dataset(org, user)
    first, second = people_audit(org, user, model, dataset), people_audit(org, user, model, dataset)
    first.report = {"checks": [_result("group_fairness", "fail", 0.6, bins=[0.1, 0.5, 0.9]),
                               _result("labelling_bias", "pass", 0.9), _result("subgroup_auc", "pass", 0.95)]}
    second.report = {"checks": [_result("group_fairness", "pass", 0.95, bins=[0.2, 0.6, 0.8]),
                                _result("labelling_bias", "warn", 0.78), _result("subgroup_auc", "pass", 0.96)]}
    for audit in (first, second):
        audit.status = "done"
        audit.save()
    return first, second


def test_summary_lists_status_changes_worse_first(org, user, model):
    first, second = _pair(org, user, model)
    sections = audit_compare(first=first, second=second)
    assert [(s["check"], s["change"], s["open"]) for s in sections] == [
        ("group_fairness", "better", True), ("labelling_bias", "worse", True), ("subgroup_auc", "", False)]
    summary = compare_summary(sections)
    assert [s["check"] for s in summary["changed"]] == ["labelling_bias", "group_fairness"]
    assert summary["unchanged"] == 1 and summary["failing"] == 0
    rows = {r["name"] for r in sections[0]["groups"][0]["rows"]}
    assert rows == {"disparate_impact", "count", "status"} and "reliability_accuracy" not in rows


def test_page_opens_only_what_changed_or_fails(client_in, org, user, model):
    first, second = _pair(org, user, model)
    page = client_in.get(reverse("audits:audit_compare") + f"?a={first.pk}&b={second.pk}").content.decode()
    summary = page[page.index('id="compare-summary"'):page.index("</section>", page.index('id="compare-summary"'))]
    assert "Labelling bias" in summary and "worse" in summary and "Subgroup AUC" not in summary
    opened = re.findall(r'<details class="card compare-section" id="(compare-\d+)"( open)?>', page)
    assert opened == [("compare-1", " open"), ("compare-2", " open"), ("compare-3", "")]
    assert page.count('<details class="compare-groups">') == 3
    assert "0.100, 0.500, 0.900" not in page
