"""proxy_leakage, its own finding: near 0.5 for random groups, high for a group word,
not judged for identity-term attributes, and never a failure of sampling_bias."""
from __future__ import annotations

import numpy as np

from audits.checks import available_checks, get_check

from .test_sampling_bias import _by_attribute, _context, _texts, religion_terms


def test_registered_as_its_own_check():
    assert "proxy_leakage" in available_checks()


def test_near_half_for_random_groups_and_a_warning_for_a_group_word():
    rng = np.random.default_rng(1)
    n = 800
    random_group = rng.choice(["m", "f"], size=n)
    worded = rng.choice(["m", "f"], size=n)
    texts = _texts(rng, n, marker="she", mask=worded == "f")
    ctx = _context({"random": random_group, "worded": worded}, {"random": ["m"], "worded": ["m"]}, texts=texts)
    results = _by_attribute(get_check("proxy_leakage")(ctx))
    assert abs(results["random"]["metrics"]["proxy_leakage_auc"]["value"] - 0.5) < 0.08
    assert results["random"]["status"] == "pass"
    leak = results["worded"]["metrics"]["proxy_leakage_auc"]
    # Its whole interval is above the limit, yet leakage warns: it is a risk, not a breach.
    assert leak["value"] > 0.95 and leak["ci_low"] > 0.7 and leak["ci_low"] <= leak["value"]
    assert leak["status"] == "warn" and results["worded"]["status"] == "warn"
    assert results["worded"]["groups"]["f"]["status"] == "warn" and "f at AUC" in results["worded"]["message"]
    # The balanced sample is well represented: sampling_bias passes whatever the text reveals.
    sampling = _by_attribute(get_check("sampling_bias")(ctx))
    assert sampling["worded"]["status"] == "pass" and "proxy_leakage_auc" not in sampling["worded"]["metrics"]
    # The same from embeddings: one dimension carries the group.
    embeddings = rng.normal(size=(n, 16))
    embeddings[:, 0] += 3 * (worded == "f")
    [res, _] = get_check("proxy_leakage")(_context(
        {"worded": worded, "random": random_group}, {"worded": ["m"], "random": ["m"]}, embeddings=embeddings))
    assert res["metrics"]["proxy_leakage_auc"]["value"] > 0.95


def test_identity_attributes_leak_by_construction_and_are_not_judged():
    groups, texts = religion_terms()
    [res] = get_check("proxy_leakage")(_context(groups, {"religion": ["none"]}, texts=texts))
    leak = res["metrics"]["proxy_leakage_auc"]
    assert leak["value"] > 0.95 and leak["status"] == "info" and leak["threshold"] is None
    assert "derived from identity terms" in res["message"]


def test_skipped_without_texts():
    [res] = get_check("proxy_leakage")(_context({"g": np.repeat(["a", "b"], 50)}, {"g": ["a"]}))
    assert res["status"] == "skipped" and "no usable texts" in res["message"]
