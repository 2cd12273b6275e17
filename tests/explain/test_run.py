"""explain_rows: the report's "explanations" section, strict JSON, the same whether chunked or not."""
from __future__ import annotations

import json

import pandas as pd
import pytest

from explain.run import explain_chunk, explain_merge, explain_rows, split_rows

TEXTS = [
    "you are gay and nice",
    "what a lovely morning it was",
    "I don't like playing football with the gay guys",
    "short",
    "the gay community is here and proud",
    "she is a muslim woman",
]
GROUPS = pd.DataFrame({"sexuality": ["gay", "none", "gay", "none", "gay", "none"]})
LABELS = ["True", "False", "False", "False", "True", "False"]
LEXICON = [("gay", "sexuality"), ("muslim", "religion")]
OPTIONS = {"shap_max_evals": 200, "lime_num_samples": 300, "ig_steps": 20}
ROWS = [4, 0, 1, 2, 5]


def _run(**kwargs):
    args = dict(texts=TEXTS, favourable_id=1, rows=ROWS, groups=GROUPS, labels=LABELS, lexicon=LEXICON,
                seed=0, options=OPTIONS)
    return {**args, **kwargs}


@pytest.fixture(scope="module")
def report(loaded):
    calls = []
    result = explain_rows(loaded, **_run(progress=lambda done, total: calls.append((done, total))))
    return result, calls


def test_report_section_shape_and_strict_json(report):
    result, _ = report
    text = json.dumps(result, allow_nan=False)  # raises on NaN, infinity or numpy types
    assert json.loads(text) == result
    assert result["methods"] == ["shap", "lime", "ig", "attention"]
    assert [e["row"] for e in result["examples"]] == sorted(ROWS)
    example = result["examples"][0]
    assert example["text"] == TEXTS[0] and example["label"] == "True" and example["groups"] == {"sexuality": "gay"}
    assert 0 <= example["predicted"] <= 1 and example["predicted_label"] in {"True", "False"}
    for method in result["methods"]:
        shown = example["methods"][method]
        assert {"tokens", "scores", "extra", "word_scores"} <= set(shown)
        assert len(shown["tokens"]) == len(shown["scores"])
        assert len(shown["word_scores"]) == len(example["words"])
    assert set(result["faithfulness"]) == set(result["methods"])
    assert {"comprehensiveness", "sufficiency", "examples"} == set(result["faithfulness"]["shap"])
    assert "shap~lime" in result["agreement"]
    assert result["ig_convergence"]["max_abs_delta"] is not None
    assert result["engine"]["unique_forwards"] < result["engine"]["inputs"]


def test_global_figures_name_the_planted_token(report):
    result, _ = report
    overview = result["global"]
    for method in ("shap", "lime", "ig"):
        assert overview["overall"][method][0]["word"] == "gay"
    assert set(overview["groups"]["sexuality"]) == {"gay", "none"}
    assert overview["identity_share"]["groups"]["sexuality"]["gay"]["shap"] > 0.9
    assert any(s.startswith("'gay' raises the probability of the favourable label ('True')")
               and "(SHAP, 3 mentions; rank 1)" in s for s in result["identity_terms"])


def test_progress_counts_up_to_the_total(report):
    _, calls = report
    totals = {total for _, total in calls}
    assert totals == {len(ROWS) * 4 + 1}
    assert [done for done, _ in calls] == sorted(done for done, _ in calls)
    assert calls[-1][0] == calls[-1][1]


def test_chunks_merged_in_any_order_equal_one_run(loaded, report):
    result, _ = report
    chunks = [explain_chunk(loaded, **_run(rows=rows)) for rows in split_rows(ROWS, 2)]
    assert [len(c["examples"]) for c in chunks] == [2, 2, 1]
    json.dumps(chunks, allow_nan=False)  # each chunk travels through the broker as JSON
    merged = explain_merge(chunks[::-1])
    _close(merged["examples"], result["examples"])
    _close(merged["faithfulness"], result["faithfulness"])
    for method in result["methods"]:
        _close(_drivers(merged["global"]["overall"][method]), _drivers(result["global"]["overall"][method]))
    assert merged["identity_terms"] == result["identity_terms"]


# Rows batched differently differ by float32 rounding (~1e-7 in a logit), and the tiny
# model is flat except for "gay": on the other texts every score is rounding noise, so
# figures that are ratios or rankings of those scores (LIME's R^2, shares, Spearman's
# rho) are noise too and are not compared.
NOISE_RATIOS = {"agreement", "score", "share"}


def _drivers(rows):
    return [{k: v for k, v in row.items() if k != "share"} for row in rows if row["importance"] > 1e-4]


def _close(a, b, path="$"):
    if isinstance(a, dict):
        assert a.keys() == b.keys(), path
        for key in a.keys() - NOISE_RATIOS:
            _close(a[key], b[key], f"{path}.{key}")
    elif isinstance(a, list):
        assert len(a) == len(b), path
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            _close(x, y, f"{path}[{i}]")
    elif isinstance(a, float) and isinstance(b, float):
        assert a == pytest.approx(b, abs=1e-5), path
    else:
        assert a == b, path


def test_unknown_methods_are_refused(loaded):
    with pytest.raises(ValueError, match="Unknown explanation methods"):
        explain_rows(loaded, **_run(methods=("shap", "gradcam")))


def test_a_subset_of_methods(loaded):
    result = explain_rows(loaded, **_run(rows=[0, 1], methods=("attention", "ig")))
    assert result["methods"] == ["attention", "ig"]
    assert set(result["examples"][0]["methods"]) == {"attention", "ig"}
    assert list(result["agreement"]) == ["attention~ig"]


def test_texts_without_words_and_beyond_the_length_limit(loaded):
    texts = ["", "!!!", "gay " + "word " * 400]
    result = explain_rows(loaded, texts=texts, favourable_id=1, rows=[0, 1, 2], seed=0,
                          options={**OPTIONS, "shap_max_evals": 60, "lime_num_samples": 60})
    json.dumps(result, allow_nan=False)
    empty, punctuation, long = result["examples"]
    assert all(e["methods"][m]["tokens"] == [] for e in (empty,) for m in result["methods"])
    assert punctuation["methods"]["lime"]["tokens"] == []  # LIME has no word to remove
    assert punctuation["methods"]["shap"]["tokens"] == ["!", "!", "!"]
    # Truncated as the runtime truncates: 256 positions, 254 of them words.
    assert len(long["methods"]["ig"]["tokens"]) == 254
    assert len(long["methods"]["lime"]["tokens"]) == 254
    assert result["faithfulness"]["shap"]["examples"] == 2
