"""Faithfulness figures equal a straightforward recomputation; agreement is Spearman's rho."""
from __future__ import annotations

import math

import numpy as np
import pytest

import runtime
from explain.attribution import Attribution, word_scores
from explain.faithfulness import BINS, example_agreement, faithfulness, mean_agreement, summarise
from explain.methods import ig_explain, lime_explain, shap_explain
from explain.tokens import word_units

from .conftest import GAY_TEXTS, OTHER_TEXTS


def _naive(loaded, attribution: Attribution) -> dict:
    """ERASER by hand: rank words, delete or keep them one input at a time, average the bins."""
    tokenizer = loaded.tokenizer
    ids = attribution.token_ids
    _, spans = word_units(tokenizer, ids)
    p = runtime.predict_token_ids(loaded, [ids])[0]
    direction = 1 if p.argmax() == 1 else -1
    scores = word_scores(attribution, spans)
    key = direction * scores if attribution.signed else scores
    order = sorted(range(len(spans)), key=lambda w: (-key[w], w))
    comps, suffs = [], []
    for fraction in BINS:
        k = min(len(spans), max(1, math.ceil(fraction * len(spans))))
        top = {p for w in order[:k] for p in range(*spans[w])}
        words = {p for span in spans for p in range(*span)}
        without = [t for i, t in enumerate(ids) if i not in top]
        only = [t for i, t in enumerate(ids) if i not in words or i in top]
        comps.append(direction * (p[1] - runtime.predict_token_ids(loaded, [without])[0, 1]))
        suffs.append(direction * (p[1] - runtime.predict_token_ids(loaded, [only])[0, 1]))
    return {"comprehensiveness": np.mean(comps), "sufficiency": np.mean(suffs)}


def test_faithfulness_equals_a_straightforward_recomputation(loaded, fn):
    texts = GAY_TEXTS + OTHER_TEXTS
    ids = runtime.tokenize(loaded, texts)
    attributions = {
        "shap": shap_explain(fn, ids, max_evals=200),
        "lime": lime_explain(fn, texts, num_samples=300),
        "ig": ig_explain(loaded, ids, favourable_id=1, steps=20, fn=fn),
    }
    calls = fn.counters.calls
    result = faithfulness(fn, attributions)
    assert fn.counters.calls == calls + 2  # the originals, then every perturbed input at once
    for method, items in attributions.items():
        for attribution, figures in zip(items, result[method], strict=True):
            expected = _naive(loaded, attribution)
            assert figures["comprehensiveness"] == pytest.approx(expected["comprehensiveness"], abs=1e-6)
            assert figures["sufficiency"] == pytest.approx(expected["sufficiency"], abs=1e-6)
            assert list(figures["bins"]) == ["1%", "5%", "10%", "20%", "50%"]
    # Removing "gay" is what flips the tiny model: every method finds it, so comprehensiveness is high.
    summary = summarise(result)
    assert summary["shap"]["examples"] == len(texts)
    assert summary["shap"]["comprehensiveness"] > 0.5


def test_an_example_without_words_has_no_figures(loaded, fn):
    ids = runtime.tokenize(loaded, [""])[0]
    empty = Attribution(tokens=[], token_ids=ids, scores=[], base_value=None, predicted=0.0,
                        extra={"unit": "token", "spans": []})
    assert faithfulness(fn, {"shap": [empty]}) == {"shap": [None]}
    assert summarise({"shap": [None]}) == {"shap": {"comprehensiveness": None, "sufficiency": None, "examples": 0}}


def test_agreement_is_spearman_per_example_averaged():
    signed = {"a": True, "b": True, "c": False}
    one = example_agreement({"a": [1, 2, 3], "b": [10, 20, 30], "c": [3, -2, 1]}, signed)
    assert one["a~b"] == pytest.approx(1.0)
    # With the unsigned method, magnitudes are compared: |a| = 1,2,3 against |c| = 3,2,1.
    assert one["a~c"] == pytest.approx(-1.0)
    two = example_agreement({"a": [1, 2, 3], "b": [3, 2, 1], "c": [0, 0, 0]}, signed)
    assert two["a~b"] == pytest.approx(-1.0)
    assert two["a~c"] is None  # constant scores have no ranking
    mean = mean_agreement([one, two])
    assert mean["a~b"] == {"spearman": pytest.approx(0.0), "examples": 2}
    assert mean["a~c"] == {"spearman": pytest.approx(-1.0), "examples": 1}
    assert mean["b~c"]["examples"] == 1
