"""Regulatory mapping: NYC LL144 figures against a direct computation, and each provision
listing the checks that evidence it, with their figures, in report.json and the report."""
from __future__ import annotations

import datetime as dt
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from audits.checks import CheckContext, get_check
from audits.checks.policy import DEFAULT_POLICY
from audits.reports import render_html, report_build
from audits.reports.regulatory import regulatory_section, selection_table

EXPECTED = {
    "eu_ai_act_art_10": {"sampling_bias", "proxy_leakage", "labelling_bias", "group_fairness", "counterfactual"},
    "eu_ai_act_art_13": {"group_fairness", "subgroup_auc", "automation_bias"},
    "eu_ai_act_art_15": {"subgroup_auc", "automation_bias", "counterfactual", "group_fairness"},
    "nyc_ll144": {"group_fairness"},
    "gdpr_art_22": {"automation_bias"},
}


def _data(seed=0, n=2400):
    rng = np.random.default_rng(seed)
    sex = rng.choice(["male", "female", "<b>nonbinary</b>"], size=n, p=[0.5, 0.4, 0.1])
    race = rng.choice(["x", "y"], size=n)
    y_true = rng.random(n) < 0.5
    # Selection depends on the group, so the impact ratios differ from 1.
    prob = np.clip(rng.random(n) * np.where(sex == "male", 1.0, 0.7) + np.where(race == "x", 0.1, 0.0), 0, 1)
    return y_true, prob >= 0.5, prob, pd.DataFrame({"sex": sex, "race": race})


def _context(y_true, y_pred, prob, groups):
    return CheckContext(y_true=y_true, y_pred=y_pred, prob=prob, groups=groups,
                        privileged={"sex": ["male"], "race": ["x"]}, policy=DEFAULT_POLICY, seed=1, resamples=100)


@pytest.fixture(scope="module")
def real_checks():
    y_true, y_pred, prob, groups = _data()
    ctx = _context(y_true, y_pred, prob, groups)
    return (y_pred, groups), get_check("group_fairness")(ctx) + get_check("automation_bias")(ctx)


def _other(check_id, metric, value=0.1):
    return {"id": check_id, "attribute": "sex", "status": "pass", "message": f"{check_id} finding",
            "metrics": {metric: {"value": value, "ci_low": value - 0.05, "ci_high": value + 0.05,
                                 "threshold": None, "status": "pass"}}, "groups": {}}


def _document(checks):
    audit = SimpleNamespace(pk=7, status="done", created_at=dt.datetime(2025, 1, 1, tzinfo=dt.UTC), finished_at=None,
                            config={"seed": 1, "protected": {"sex": ["male"]}},
                            model=SimpleNamespace(name="m", sha256="a" * 64, architecture="Bert", num_parameters=1,
                                                  labels={"0": "no", "1": "yes"}),
                            dataset=SimpleNamespace(name="d", sha256="b" * 64, rows=10))
    return report_build(audit=audit, checks=checks, manifest={"model_sha256": "a" * 64}, policy=DEFAULT_POLICY,
                        platform_version="test")


def test_ll144_selection_rates_and_impact_ratios_equal_a_direct_computation(real_checks):
    (y_pred, groups), checks = real_checks
    section = regulatory_section(_document(checks))
    ll144 = next(o for o in section["obligations"] if o["id"] == "nyc_ll144")
    tables = {t["attribute"]: t["rows"] for t in ll144["selection_rates"]}
    assert set(tables) == {"sex", "race", "sex & race"}
    for attribute in ("sex", "race"):
        values = groups[attribute].to_numpy()
        rates = {g: y_pred[values == g].mean() for g in np.unique(values)}
        top = max(rates.values())
        rows = {r["category"]: r for r in tables[attribute]}
        assert set(rows) == set(rates)
        for group, rate in rates.items():
            assert rows[group]["selection_rate"] == pytest.approx(rate, abs=1e-12)
            assert rows[group]["impact_ratio"] == pytest.approx(rate / top, abs=1e-12)
            assert rows[group]["count"] == int((values == group).sum())
        assert [r["category"] for r in tables[attribute]][0] == max(rates, key=rates.get)
        assert next(r for r in tables[attribute] if r["privileged"])["category"] in {"male", "x"}
    # Intersections: the same rule over the joint categories.
    joint = groups["sex"] + " & " + groups["race"]
    rates = {g: y_pred[(joint == g).to_numpy()].mean() for g in joint.unique()}
    rows = {r["category"]: r for r in tables["sex & race"]}
    for group, row in rows.items():
        assert row["impact_ratio"] == pytest.approx(rates[group] / max(rates.values()), abs=1e-12)


def test_ll144_table_leaves_out_groups_without_figures():
    check = {"id": "group_fairness", "attribute": "sex", "groups": {
        "female": {"selection_rate": 0.2, "count": 50.0}, "privileged: male": {"selection_rate": 0.4, "count": 60.0},
        "other": {"count": 3.0}}}
    rows = selection_table(check)
    assert [(r["category"], r["impact_ratio"], r["count"]) for r in rows] == [("male", 1.0, 60), ("female", 0.5, 50)]


def test_each_provision_lists_the_checks_that_evidence_it(real_checks):
    _, checks = real_checks
    others = [_other("sampling_bias", "representation_ratio"), _other("proxy_leakage", "proxy_leakage_auc", 0.6),
              _other("labelling_bias", "disparate_impact", 0.9),
              _other("counterfactual", "counterfactual_flip_rate", 0.01), _other("subgroup_auc", "subgroup_auc_gap")]
    section = regulatory_section(_document(checks + others))
    assert "not legal advice" in section["disclaimer"]
    by_id = {o["id"]: o for o in section["obligations"]}
    assert set(by_id) == set(EXPECTED)
    for ob_id, expected in EXPECTED.items():
        assert {e["check"] for e in by_id[ob_id]["evidence"]} == expected, ob_id
        assert by_id[ob_id]["not_run"] == []
        statuses = {e["status"] for e in by_id[ob_id]["evidence"]}
        order = ["pass", "warn", "fail", "error"]
        assert by_id[ob_id]["status"] == max(statuses & set(order), key=order.index)
    # GDPR Art. 22: the automation-bias figures a reviewer needs, with their intervals.
    gdpr = by_id["gdpr_art_22"]["evidence"][0]
    names = [f["name"] for f in gdpr["figures"]]
    assert names[:3] == ["review_threshold", "review_share", "confidently_wrong_rate"]
    source = next(c for c in checks if c["id"] == "automation_bias" and c["attribute"] == gdpr["attribute"])
    for figure in gdpr["figures"]:
        metric = source["metrics"][figure["name"]]
        assert (figure["value"], figure["ci_low"], figure["ci_high"]) == (
            metric["value"], metric["ci_low"], metric["ci_high"])
    assert "human intervention" in by_id["gdpr_art_22"]["relevance"]


def test_missing_checks_are_named_and_the_provision_has_no_evidence():
    section = regulatory_section(_document([_other("sampling_bias", "representation_ratio")]))
    by_id = {o["id"]: o for o in section["obligations"]}
    assert by_id["gdpr_art_22"]["status"] == "not_run"
    assert by_id["gdpr_art_22"]["not_run"] == ["automation_bias"]
    assert by_id["nyc_ll144"]["selection_rates"] == []
    assert set(by_id["eu_ai_act_art_10"]["not_run"]) == {"proxy_leakage", "labelling_bias", "group_fairness",
                                                         "counterfactual"}


def test_report_json_carries_the_section_and_the_report_shows_it_escaped(real_checks):
    _, checks = real_checks
    document = _document(checks)
    assert document["regulatory"] == regulatory_section(document)
    html = render_html(document)
    assert 'id="regulatory"' in html and "Regulatory mapping" in html
    assert "Selection rates and impact ratios: sex" in html
    assert "Article 22" in html and "Local Law 144" in html
    assert "&lt;b&gt;nonbinary&lt;/b&gt;" in html and "<b>nonbinary</b>" not in html
