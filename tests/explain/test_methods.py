"""Each explainer through our engine gives the library's own naive result, and finds the planted token."""
from __future__ import annotations

import numpy as np
import pytest
import shap

import runtime
from explain.attribution import position_scores
from explain.methods import attention_explain, ig_explain, lime_explain, shap_explain
from explain.methods.attention import rollout
from explain.methods.lime_words import make_explainer
from explain.methods.shapley import id_masker

from .conftest import GAY_TEXTS, OTHER_TEXTS


def _top(attribution) -> str:
    return attribution.tokens[int(np.argmax(attribution.scores))]


def test_shap_through_the_engine_equals_shap_on_a_plain_function(loaded, fn, gay_ids):
    ids_list = gay_ids + runtime.tokenize(loaded, OTHER_TEXTS)
    ours = shap_explain(fn, ids_list, max_evals=300, seed=3, batch_size=32)

    masker, shim = id_masker(loaded.tokenizer)
    def plain(batch):  # the naive model function: no dedup, no cache
        return runtime.predict_token_ids(loaded, [list(row) for row in batch])[:, 1]
    explainer = shap.explainers.Partition(plain, masker)
    for ids, attribution in zip(ids_list, ours, strict=True):
        np.random.seed(3)
        naive = explainer([shim.render(ids)], max_evals=300, batch_size=32, silent=True)
        values = naive.values[0]
        assert abs(values[0]) < 1e-6 and abs(values[-1]) < 1e-6  # [CLS], [SEP] never masked
        np.testing.assert_allclose(attribution.scores, values[1:-1], atol=1e-6)
        assert attribution.base_value == pytest.approx(float(naive.base_values[0]), abs=1e-6)
        assert attribution.base_value + sum(attribution.scores) == pytest.approx(attribution.predicted, abs=1e-6)
    # The partition tree asks for some coalitions again (and f(x), f(background) per
    # text); the engine runs each once. With the tree built from the text's own segments
    # (IdTokenizer) no evaluations are spent splitting the unmasked [CLS]/[SEP], so on
    # these short texts repeats are about a third of the requests, not over half.
    assert fn.counters.unique_forwards < 0.8 * fn.counters.inputs


def test_shap_ranks_the_planted_token_first(fn, gay_ids):
    for attribution in shap_explain(fn, gay_ids, seed=0):
        assert _top(attribution) == "gay"
        assert attribution.extra["unit"] == "token"


def test_lime_through_the_engine_equals_lime_with_a_classifier_that_retokenises(loaded, fn):
    texts = GAY_TEXTS[:2] + ["a café_bar, isn't it?"]
    ours = lime_explain(fn, texts, num_samples=600, seed=7)
    for text, attribution in zip(texts, ours, strict=True):
        naive = make_explainer(7).explain_instance(
            text, lambda strings: runtime.predict_proba(loaded, strings), labels=(1,),
            num_features=10**6, num_samples=600,
        )
        indexed = naive.domain_mapper.indexed_string
        weights = {indexed.word(f): w for f, w in naive.as_map()[1]}
        assert attribution.extra["unit"] == "word"
        assert set(attribution.tokens) == set(weights)
        for word, score in zip(attribution.tokens, attribution.scores, strict=True):
            assert abs(score - weights[word]) < 1e-9
        assert attribution.base_value == pytest.approx(naive.intercept[1], abs=1e-9)
    # A short text has few distinct word subsets: most of the 1,800 neighbours are repeats.
    assert fn.counters.unique_forwards < 1800 / 2
    assert _top(ours[0]) == "gay"


def test_lime_word_spans_cover_the_words_tokens(loaded, fn):
    [attribution] = lime_explain(fn, ["a café_bar"], num_samples=50, seed=0)
    pieces = loaded.tokenizer.convert_ids_to_tokens(attribution.token_ids)
    covered = {word: pieces[a:b] for word, (a, b) in zip(attribution.tokens, attribution.spans, strict=True)}
    assert covered == {"a": ["a"], "café_bar": ["cafe", "_", "bar"]}
    assert position_scores(attribution).sum() == pytest.approx(sum(attribution.scores))


def test_ig_batched_equals_ig_one_text_at_a_time(loaded, fn, gay_ids):
    ids_list = gay_ids + runtime.tokenize(loaded, OTHER_TEXTS)
    batched = ig_explain(loaded, ids_list, favourable_id=1, steps=30, batch_size=8, fn=fn)
    for ids, together in zip(ids_list, batched, strict=True):
        [alone] = ig_explain(loaded, [ids], favourable_id=1, steps=30, fn=fn)
        # float32 rows computed in a different batch differ by ~1e-7 in the logits; the
        # tiny model's near-step response can magnify that tenfold, hence the rtol.
        np.testing.assert_allclose(together.scores, alone.scores, atol=1e-5, rtol=1e-4)
        assert together.extra["convergence_delta"] == pytest.approx(alone.extra["convergence_delta"], abs=1e-4)
        assert together.extra["special_tokens_sum"] == pytest.approx(0, abs=1e-9)
        assert together.base_value == pytest.approx(fn([[101] + [0] * (len(ids) - 2) + [102]])[0])


def test_ig_ranks_the_planted_token_first(loaded, fn, gay_ids):
    for attribution in ig_explain(loaded, gay_ids, favourable_id=1, fn=fn):
        assert _top(attribution) == "gay"
        assert "convergence_delta" in attribution.extra


def test_attention_rollout_rows_sum_to_one(loaded, fn, gay_ids):
    rng = np.random.default_rng(0)
    layers = [rng.random((2, 6, 6)) for _ in range(3)]
    layers = [a / a.sum(axis=-1, keepdims=True) for a in layers]
    np.testing.assert_allclose(rollout(layers).sum(axis=1), 1.0)

    batched = attention_explain(loaded, gay_ids, fn=fn)
    for ids, attribution in zip(gay_ids, batched, strict=True):
        heatmap = np.array(attribution.extra["heatmap"]["matrix"])
        np.testing.assert_allclose(heatmap.sum(axis=1), 1.0, atol=1e-3)  # rounded to 4 places
        assert attribution.extra["signed"] is False
        assert all(0 <= s <= 1 for s in attribution.scores)
        assert sum(attribution.scores) + attribution.extra["special_share"] == pytest.approx(1.0)
        assert np.array(attribution.extra["attention"]["matrices"]).shape[:2] == (2, 2)
        [alone] = attention_explain(loaded, [ids], fn=fn)
        np.testing.assert_allclose(attribution.scores, alone.scores, atol=1e-6)
    assert loaded.model.config._attn_implementation != "eager"  # switched back


def test_ig_batches_cap_rows_and_padding():
    from explain.methods.integrated_gradients import PAD_SLACK, _batches

    lengths = [20, 88, 21, 22, 22, 23, 90, 5]
    order = sorted(range(len(lengths)), key=lambda i: lengths[i])
    batches = _batches(order, lengths, batch_size=3)
    assert [i for batch in batches for i in batch] == order  # every text once, in length order
    for batch in batches:
        real = sum(lengths[i] for i in batch)
        assert len(batch) <= 3
        assert len(batch) * max(lengths[i] for i in batch) <= (1 + PAD_SLACK) * real
    assert [lengths[i] for i in batches[0]] == [5]  # a 5-token text does not pad to 20
    assert [[lengths[i] for i in b] for b in batches[1:]] == [[20, 21, 22], [22, 23], [88, 90]]
