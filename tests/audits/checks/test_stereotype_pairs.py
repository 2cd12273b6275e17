"""stereotype_pairs on scores given directly: the share, its interval, the band, the pairs shown,
and the report's section (HTML and PDF) with its chart and escaped, highlighted words."""
from __future__ import annotations

import io

import numpy as np
import pytest
from pypdf import PdfReader

from audits.checks import CheckContext, get_check
from audits.checks.context import SentencePairs
from audits.checks.policy import DEFAULT_POLICY
from audits.checks.stereotype_pairs import highlight, preferences
from audits.reports import render_html, render_pdf
from tests.audits.reports.test_report_checks import report_document


def context(more_score, less_score, types=None, directions=None, texts=None, seed=0, means=None) -> CheckContext:
    n = len(more_score)
    more, less = texts or ([f"the old person number {i} forgot" for i in range(n)],
                           [f"the young person number {i} forgot" for i in range(n)])
    pairs = SentencePairs(more=more, less=less, bias_type=np.asarray(types if types is not None else ["age"] * n),
                          direction=np.asarray(directions if directions is not None else [""] * n),
                          more_score=np.asarray(more_score, float), less_score=np.asarray(less_score, float),
                          kind="causal_lm" if means else "masked_lm",
                          more_mean=None if not means else np.asarray(means[0], float),
                          less_mean=None if not means else np.asarray(means[1], float))
    empty = np.zeros(0)
    return CheckContext(y_true=empty.astype(bool), y_pred=empty.astype(bool), prob=empty, groups=None, privileged={},
                        policy=DEFAULT_POLICY, seed=seed, resamples=500, pairs=pairs)


def run(ctx):
    return get_check("stereotype_pairs")(ctx)


def test_ties_count_half_and_the_share_is_plain():
    assert preferences([1, 0, 2], [0, 1, 2]).tolist() == [1.0, 0.0, 0.5]
    [result] = run(context([3, 1, 2, 2], [1, 2, 0, 2]))
    assert result["metrics"]["stereotype_score"]["value"] == pytest.approx((1 + 0 + 1 + 0.5) / 4)


def test_every_pair_preferring_the_stereotype_fails_and_none_fails_too():
    rng = np.random.default_rng(0)
    a = rng.normal(size=200)
    [high] = run(context(a + 1, a))
    [low] = run(context(a - 1, a))
    assert high["status"] == "fail" and high["metrics"]["stereotype_score"]["value"] == 1.0
    assert low["status"] == "fail" and low["metrics"]["stereotype_score"]["value"] == 0.0


def test_per_bias_type_results_and_intervals_contain_their_estimates():
    rng = np.random.default_rng(1)
    n = 300
    types = rng.choice(["gender", "age", "religion"], size=n)
    more = rng.normal(size=n) + np.where(types == "gender", 1.5, 0.0)
    less = rng.normal(size=n)
    results = run(context(more, less, types=types, directions=rng.choice(["stereo", "antistereo"], size=n),
                          means=(more / 3, less / 3)))
    assert [r["attribute"] for r in results] == [None, "age", "gender", "religion"]
    for r in results:
        for name, entry in r["metrics"].items():
            assert entry["ci_low"] <= entry["value"] <= entry["ci_high"], name
        assert {"stereotype_score_stereo", "stereotype_score_antistereo",
                "stereotype_score_length_normalised"} <= set(r["metrics"])
    gender = next(r for r in results if r["attribute"] == "gender")
    assert gender["metrics"]["stereotype_score"]["value"] > 0.75 and gender["status"] == "fail"
    # The length-normalised share is information: it never decides the status.
    assert results[0]["metrics"]["stereotype_score_length_normalised"]["status"] == "info"
    assert results[0]["groups"]["gender"]["count"] == int((types == "gender").sum())


def test_a_bias_type_below_the_small_group_rule_is_insufficient_not_pass():
    types = ["age"] * 40 + ["religion"] * 4
    more, less = np.r_[np.ones(20), np.zeros(20), 1, 0, 1, 0], np.r_[np.zeros(20), np.ones(20), 0, 1, 0, 1]
    results = run(context(more, less, types=types))
    religion = next(r for r in results if r["attribute"] == "religion")
    assert religion["metrics"]["stereotype_score"]["status"] == "insufficient"
    assert religion["status"] == "inconclusive"


def test_highlight_marks_the_differing_words_only():
    more, less = highlight("The old man forgot his keys", "The young man forgot his keys")
    assert [s for s in more if s["differs"]] == [{"text": "old", "differs": True}]
    assert [s for s in less if s["differs"]] == [{"text": "young", "differs": True}]
    assert " ".join(s["text"] for s in more) == "The old man forgot his keys"


def test_the_report_section_shows_the_pairs_escaped_with_a_chart_in_html_and_pdf():
    texts = (["<script>alert(1)</script> the old man left"] * 30, ["<script>alert(1)</script> the young man left"] * 30)
    rng = np.random.default_rng(2)
    results = run(context(rng.normal(size=30) + 2, rng.normal(size=30), texts=texts,
                          types=["age"] * 15 + ["gender"] * 15))
    html = render_html(report_document(results))
    assert 'id="check-stereotype_pairs"' in html
    assert "Stereotype preference (sentence pairs)" in html
    assert "<script>alert(1)</script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert '<mark class="ar-diff">old</mark>' in html and '<mark class="ar-diff">young</mark>' in html
    assert html.count("Share of pairs preferring the more-stereotypical sentence") >= 3  # overall + 2 types
    text = "".join(page.extract_text() for page in PdfReader(io.BytesIO(render_pdf(report_document(results)))).pages)
    assert "Stereotype preference" in text and "Stereotype score" in text
