"""Adaptive budgets (explain.adaptive): the same top tokens as the full budgets, never more
evaluations than them, and cached answers identical to uncached ones."""
from __future__ import annotations

import numpy as np
import pytest

import runtime
from explain.adaptive import budgets, ig_converged, ig_step_plan, shap_top_k, stable, top_signature
from explain.engine import ModelFunction
from explain.methods import ig_explain, lime_explain, shap_explain

from .conftest import GAY_TEXTS, OTHER_TEXTS

# Long enough that SHAP's partition tree is not exhausted at the first budget, so the
# stability rule (not exhaustion) decides; "gay" is the tiny model's planted token.
LONG = ("well I think that the people over there are gay and that is fine with me and with "
        "everyone else who lives on this quiet street near the old station")
PLANTED = [*GAY_TEXTS, LONG]


def test_budgets_grow_to_the_full_budget():
    assert budgets(500) == [62, 125, 188, 250, 312, 375, 438, 500]
    assert budgets(1000) == [125, 250, 375, 500, 625, 750, 875, 1000]
    assert budgets(500, adaptive=False) == [500]
    assert budgets(20) == [8, 10, 12, 15, 18, 20]  # never below the minimum
    assert ig_step_plan(50) == [16, 50]
    assert ig_step_plan(64) == [21, 64]
    assert ig_step_plan(5) == [5]  # a third would be one step
    assert ig_step_plan(50, adaptive=False) == [50]


def test_the_stopping_rule_is_top_k_with_signs():
    before = [0.5, -0.4, 0.1, 0.0, 0.3, -0.2, 0.01]
    assert top_signature(before, 2) == {(0, 1), (1, -1)}
    reordered = [0.4, -0.5, 0.1, 0.0, 0.3, -0.2, 0.02]  # same top 5 and signs, another order
    assert stable(before, reordered)
    flipped = [0.5, 0.4, 0.1, 0.0, 0.3, -0.2, 0.01]  # a sign changed
    assert not stable(before, flipped)
    replaced = [0.5, -0.4, 0.1, 0.35, 0.3, 0.0, 0.01]  # another token entered the top 5
    assert not stable(before, replaced)
    assert not stable(None, before)
    tied = [0.5, -0.4, 0.1, 0.0, 0.3, -0.1, 0.01]  # 5th and 6th alike: an unsplit coalition
    assert not stable(tied, tied)
    assert ig_converged(0.004, 0.1) and not ig_converged(0.006, 0.1)
    # SHAP compares the top 20 % of a long text's tokens (what faithfulness's bins read), at least 5.
    assert shap_top_k(10) == 5 and shap_top_k(25) == 5 and shap_top_k(26) == 6 and shap_top_k(93) == 19
    ranks_below_5_moved = [0.9, -0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2]
    assert stable(ranks_below_5_moved, [0.9, -0.8, 0.7, 0.6, 0.5, 0.2, 0.3, 0.4], 5)
    assert not stable(ranks_below_5_moved, [0.9, -0.8, 0.7, 0.6, 0.5, 0.2, 0.3, 0.4], 6)
    assert ig_converged(0.0009, 0.0)


def _signature(attribution, k=5):
    return top_signature(attribution.scores, min(k, len(attribution.scores)))


@pytest.fixture(scope="module")
def planted_ids(loaded):
    return runtime.tokenize(loaded, PLANTED)


def test_shap_adaptive_keeps_the_top_tokens_with_fewer_evaluations(loaded, planted_ids):
    full, fast = [], []
    for ids in planted_ids:  # a fresh cache per text: its counters are the text's model forwards
        full_fn, fast_fn = ModelFunction(loaded, favourable_id=1), ModelFunction(loaded, favourable_id=1)
        full += shap_explain(full_fn, [ids], max_evals=500, seed=0)
        fast += shap_explain(fast_fn, [ids], max_evals=500, seed=0, adaptive=True)
        assert fast_fn.counters.unique_forwards <= full_fn.counters.unique_forwards
    for a, b in zip(full, fast, strict=True):
        assert _signature(b) == _signature(a)
        assert b.tokens[int(np.argmax(b.scores))] == "gay"
        assert b.extra["budget"] <= 500 and b.extra["evaluations"] <= a.extra["evaluations"]
        if b.extra["stopped"] == "exhausted":  # the tree was walked whole: exact
            np.testing.assert_allclose(b.scores, a.scores, atol=1e-9)
    long = fast[-1].extra
    assert long["stopped"] == "stable" and long["budget"] < 500, long
    assert fast_fn.counters.unique_forwards < full_fn.counters.unique_forwards  # the long text's


def test_lime_adaptive_keeps_the_top_words_with_fewer_samples(loaded):
    fresh = lambda: ModelFunction(loaded, favourable_id=1)  # noqa: E731
    full = lime_explain(fresh(), PLANTED, num_samples=1000, seed=0)
    fast = lime_explain(fresh(), PLANTED, num_samples=1000, seed=0, adaptive=True)
    for a, b in zip(full, fast, strict=True):
        # The tiny model's other words are noise (|weight| ~ 0.001 against ~0.9 for the
        # planted word), so their order is the sample's: only the top word is compared.
        assert _signature(b, 1) == _signature(a, 1) == {(b.tokens.index("gay"), 1)}
        assert b.extra["evaluations"] == b.extra["budget"] <= a.extra["evaluations"] == 1000
        assert b.extra["distinct_inputs"] <= a.extra["distinct_inputs"]
    assert any(b.extra["stopped"] == "stable" and b.extra["budget"] < 1000 for b in fast)


def test_lime_at_the_full_budget_is_unchanged_by_batching_rows_together(loaded):
    """Several texts' neighbourhoods in one call, through one cache, give each text what it
    gets alone with a fresh (empty) cache."""
    together = lime_explain(ModelFunction(loaded, favourable_id=1), PLANTED, num_samples=300, seed=2,
                            adaptive=True)
    for text, found in zip(PLANTED, together, strict=True):
        [alone] = lime_explain(ModelFunction(loaded, favourable_id=1), [text], num_samples=300, seed=2,
                               adaptive=True)
        assert found.extra["budgets_tried"] == alone.extra["budgets_tried"]
        np.testing.assert_allclose(found.scores, alone.scores, atol=1e-9)


def test_ig_adaptive_steps_stop_at_a_small_delta(loaded, fn, planted_ids):
    # The planted token switches the tiny model's output within a sliver of the path, so
    # its delta stays large at every step count: those texts get the full steps. Texts
    # without it move the output smoothly and stop early.
    ids = planted_ids + runtime.tokenize(loaded, OTHER_TEXTS)
    full = ig_explain(loaded, ids, favourable_id=1, steps=50, fn=fn)
    fast = ig_explain(loaded, ids, favourable_id=1, steps=50, fn=fn, adaptive=True)
    for a, b in zip(full, fast, strict=True):
        assert b.extra["steps"] in ig_step_plan(50)
        if "gay" in a.tokens:
            assert b.tokens[int(np.argmax(b.scores))] == a.tokens[int(np.argmax(a.scores))] == "gay"
        if b.extra["steps"] < 50:  # stopped early: its delta met the tolerance
            assert ig_converged(b.extra["convergence_delta"], b.predicted - b.base_value)
        assert b.extra["evaluations"] == sum(s for s in ig_step_plan(50) if s <= b.extra["steps"])
    assert any(b.extra["steps"] < 50 for b in fast)
    assert a.extra["evaluations"] == 50


def test_cached_answers_equal_uncached_evaluation(loaded, planted_ids):
    """What the shared cache serves is what the model answers without it."""
    masked = [ids[:k] + [loaded.tokenizer.mask_token_id] * (len(ids) - k) for ids in planted_ids
              for k in range(1, len(ids))]
    fn = ModelFunction(loaded, favourable_id=1)
    first = fn.probs(masked)
    again = fn.probs(masked[::-1])[::-1]  # every one from the cache
    assert fn.counters.cache_hits == len(set(map(tuple, masked)))
    np.testing.assert_array_equal(again, first)
    uncached = runtime.predict_token_ids(loaded, masked)
    np.testing.assert_array_equal(first, uncached)


def test_shap_rows_side_by_side_share_model_calls_and_equal_one_at_a_time(loaded, planted_ids):
    together_fn = ModelFunction(loaded, favourable_id=1)
    together = shap_explain(together_fn, planted_ids, max_evals=300, seed=1, adaptive=True)
    alone_calls = 0
    for ids, found in zip(planted_ids, together, strict=True):
        alone_fn = ModelFunction(loaded, favourable_id=1)
        [alone] = shap_explain(alone_fn, [ids], max_evals=300, seed=1, adaptive=True)
        alone_calls += alone_fn.counters.calls
        assert found.extra["budgets_tried"] == alone.extra["budgets_tried"]
        # float32 probabilities round a little differently in other batches (as in
        # test_methods' comparison with naive shap)
        np.testing.assert_allclose(found.scores, alone.scores, atol=1e-6)
    assert together_fn.counters.calls < alone_calls
