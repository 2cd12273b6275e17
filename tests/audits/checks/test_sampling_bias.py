"""sampling_bias against scipy's chi-square tests, and proxy leakage on planted and random groups."""
from __future__ import annotations

import json
import re

import numpy as np
import pandas as pd
import pytest
from scipy.stats import chi2_contingency, chisquare

from audits.checks import CheckContext, get_check
from audits.checks.policy import DEFAULT_POLICY

WORDS = np.array("the a report said prices rose fell today market city team won lost new old big small".split())


def _context(groups, privileged: dict, seed=0, resamples=300, texts=(), **extra):
    frame = groups if isinstance(groups, pd.DataFrame) else pd.DataFrame(groups)
    n = len(frame)
    return CheckContext(
        y_true=np.zeros(n, bool), y_pred=np.zeros(n, bool), prob=np.full(n, 0.5), groups=frame,
        privileged=privileged, policy=DEFAULT_POLICY, seed=seed, resamples=resamples, min_group_rows=10,
        texts=list(texts), **extra,
    )


def _texts(rng, n, marker=None, mask=None):
    texts = [" ".join(rng.choice(WORDS, 10)) for _ in range(n)]
    if marker is not None:
        texts = [f"{t} {marker}" if m else t for t, m in zip(texts, mask, strict=True)]
    return texts


def _by_attribute(results):
    return {r["attribute"]: r for r in results}


def test_counts_shares_and_chi_square_equal_scipy():
    rng = np.random.default_rng(0)
    n = 1200
    gender = rng.choice(["m", "f", "x"], size=n, p=[0.5, 0.4, 0.1])
    region = rng.choice(["north", "south"], size=n, p=[0.7, 0.3])
    reference = {"region": {"north": 0.6, "south": 0.4}}
    results = _by_attribute(get_check("sampling_bias")(_context(
        {"gender": gender, "region": region}, {"gender": ["m"], "region": ["north"]}, reference_shares=reference)))
    names, counts = np.unique(gender, return_counts=True)
    res = results["gender"]
    for name, count in zip(names, counts, strict=True):
        assert res["groups"][name]["count"] == count
        assert res["groups"][name]["share"] == pytest.approx(count / n, abs=1e-12)
        assert res["groups"][name]["representation_ratio"] == pytest.approx(count / n * 3, abs=1e-9)
    assert res["metrics"]["chi_square_p_value"]["value"] == pytest.approx(chisquare(counts).pvalue, rel=1e-9)
    assert res["metrics"]["representation_ratio"]["group"] == "x"
    assert res["metrics"]["smallest_group_count"]["value"] == counts.min()
    region_counts = np.array([(region == "north").sum(), (region == "south").sum()])
    expected = chisquare(region_counts, np.array([0.6, 0.4]) * n).pvalue
    assert results["region"]["metrics"]["chi_square_p_value"]["value"] == pytest.approx(expected, rel=1e-9)
    assert results["region"]["groups"]["south"]["expected_share"] == pytest.approx(0.4)
    # Intersections: against independence, the chi-square test of the contingency table.
    table = pd.crosstab(gender, region).to_numpy()
    inter = results["gender & region"]
    assert inter["metrics"]["chi_square_p_value"]["value"] == pytest.approx(
        chi2_contingency(table, correction=False).pvalue, rel=1e-9)
    assert inter["groups"]["x & south"]["count"] == ((gender == "x") & (region == "south")).sum()
    assert sum(g["count"] for g in inter["groups"].values()) == n


def test_smallest_group_is_too_few_to_judge():
    gender = np.array(["m"] * 300 + ["f"] * 295 + ["x"] * 5)
    [res] = get_check("sampling_bias")(_context({"gender": gender}, {"gender": ["m"]}))
    assert res["groups"]["x"]["verdict"] == "too few to judge"
    assert res["groups"]["f"]["verdict"] == "enough rows"
    small = res["metrics"]["smallest_group_count"]
    assert (small["value"], small["group"], small["status"]) == (5, "x", "warn")
    assert "too few to judge" in res["message"]


def religion_terms(seed: int = 2, n: int = 900):
    """An identity-term attribute derived from the texts: (its frame, the texts)."""
    rng = np.random.default_rng(seed)
    term = rng.choice(["none", "muslim", "christian"], size=n, p=[0.8, 0.1, 0.1])
    texts = [" ".join(rng.choice(WORDS, 8)) + ("" if t == "none" else f" {t}") for t in term]
    groups = pd.DataFrame({"religion": term})
    groups.attrs["identity_attributes"] = ["religion"]
    return groups, texts


def test_identity_attributes_are_compared_among_texts_that_mention_a_term_and_shares_share_one_denominator():
    groups, texts = religion_terms()
    term = groups["religion"].to_numpy()
    [res] = get_check("sampling_bias")(_context(groups, {"religion": ["none"]}, texts=texts))
    # Representation is among the texts that mention a term: two equal groups, ratio near 1.
    assert res["groups"]["none"]["expected_share"] is None and res["groups"]["none"]["share"] is None
    assert res["metrics"]["representation_ratio"]["value"] > 0.8
    assert res["status"] == "pass" and "proxy_leakage_auc" not in res["metrics"]
    # Every share in the sentence is of all rows: they add up to 100 %.
    listed = re.findall(r"(\w+) (\d+\.\d)% \(([\d,]+) rows\)", res["message"])
    assert {g for g, _, _ in listed} == {"none", "muslim", "christian"}
    assert sum(float(share) for _, share, _ in listed) == pytest.approx(100, abs=0.2)
    mentioned = int((term != "none").sum())
    assert f"Among the {mentioned:,} rows compared" in res["message"]


def test_every_group_keeps_its_own_status():
    gender = np.array(["m"] * 500 + ["f"] * 200 + ["x"] * 300)
    [res] = get_check("sampling_bias")(_context({"gender": gender}, {"gender": ["m"]}))
    statuses = {g: f["status"] for g, f in res["groups"].items()}
    assert statuses == {"m": "pass", "x": "pass", "f": "fail"}
    f = res["groups"]["f"]
    assert f["representation_ratio_ci_low"] <= f["representation_ratio"] <= f["representation_ratio_ci_high"] < 0.8
    assert "Outside the policy: f (under-represented" in res["message"]


def test_attributes_that_determine_each_other_are_not_crossed():
    rng = np.random.default_rng(4)
    city = rng.choice(["paris", "lyon", "berlin"], size=600)
    country = np.where(city == "berlin", "de", "fr")
    sex = rng.choice(["m", "f"], size=600)
    gender = np.where(sex == "m", "man", "woman")  # the same partition, other labels
    results = _by_attribute(get_check("sampling_bias")(_context(
        {"city": city, "country": country, "sex": sex, "gender": gender},
        {"city": ["paris"], "country": ["fr"], "sex": ["m"], "gender": ["man"]})))
    assert results["city & country"]["status"] == "skipped"
    assert "'city' determines 'country'" in results["city & country"]["message"]
    assert results["sex & gender"]["status"] == "skipped"
    assert "same partition" in results["sex & gender"]["message"]
    assert results["city & sex"]["status"] in ("pass", "warn", "fail") and results["city & sex"]["groups"]


def test_planted_under_representation_fails_and_control_passes():
    planted, control = [], []
    for seed in range(20):
        rng = np.random.default_rng(seed)
        for share, bucket in ((0.25, planted), (0.5, control)):
            gender = np.where(rng.random(1000) < share, "f", "m")
            [res] = get_check("sampling_bias")(_context({"gender": gender}, {"gender": ["m"]}, seed=seed,
                                                        resamples=200))
            bucket.append((res["metrics"]["representation_ratio"]["status"], res["status"]))
    assert sum(s == ("fail", "fail") for s in planted) >= 19
    assert sum(s == ("pass", "pass") for s in control) >= 19


def test_same_seed_same_result_and_strict_json():
    rng = np.random.default_rng(3)
    n = 500
    groups = {"a": rng.choice(["x", "y"], size=n), "b": rng.choice(["p", "q", "r"], size=n)}
    ctx = _context(groups, {"a": ["x"], "b": ["p"]}, seed=9, texts=_texts(rng, n))
    first = get_check("sampling_bias")(ctx)
    assert first == get_check("sampling_bias")(ctx)
    assert [r["attribute"] for r in first] == ["a", "b", "a & b"]
    json.dumps(first, allow_nan=False)
