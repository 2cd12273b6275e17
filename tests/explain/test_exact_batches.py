"""Integrated Gradients and attention batch as the runtime does, so a text's explanation is
the one it gets alone, for decoders without a pad id and decoders pooled by their pad id
(and, for attention, a model exact only when left-padded: XLNet, whose embeddings are
laid out time-first, which captum's layer attribution cannot take); IG's attributions
add up for each, RoBERTa's too (it numbers positions around its pad id)."""
from __future__ import annotations

import numpy as np
import pytest

import runtime
from explain.methods.attention import attention_explain
from explain.methods.integrated_gradients import baseline_token, ig_explain
from tests.runtime import tiny_models

TEXTS = [
    "the gay editor wrote plain text",
    "ok",
    "a much longer comment about the club that met on Tuesday, and everyone was welcome there",
    "hello there",
]
# (architecture, case of tests/runtime/tiny_models.build)
MODELS = [("llama", "none"), ("llama", "pad"), ("xlnet", "pad")]
IG_MODELS = [("llama", "none"), ("llama", "pad"), ("roberta", "pad")]


@pytest.fixture(scope="module")
def build(tmp_path_factory):
    root = tmp_path_factory.mktemp("exact-explain")
    built: dict[tuple[str, str], runtime.LoadedModel] = {}

    def get(model_type: str, case: str) -> runtime.LoadedModel:
        if (model_type, case) not in built:
            built[model_type, case] = runtime.load_model(tiny_models.build(root, model_type, case, TEXTS * 3))
        return built[model_type, case]

    yield get
    runtime.clear_cache()


def test_the_cases_are_what_they_claim(build):
    assert build("llama", "none").model.config.pad_token_id is None
    pooled = build("llama", "pad")
    assert pooled.model.config.pad_token_id == pooled.tokenizer.pad_token_id is not None
    assert runtime.batching(build("xlnet", "pad")).side == "left"
    input_ids, mask = runtime.pad_token_ids(build("xlnet", "pad"), [[5, 6, 7], [5]])
    assert mask.tolist() == [[1, 1, 1], [0, 0, 1]]


@pytest.mark.parametrize(("model_type", "case"), IG_MODELS)
def test_ig_batched_equals_one_text_at_a_time_and_adds_up(build, model_type, case):
    loaded = build(model_type, case)
    ids = runtime.tokenize(loaded, TEXTS)
    batched = ig_explain(loaded, ids, favourable_id=1, steps=64, batch_size=4)
    for row, together in zip(ids, batched, strict=True):
        [alone] = ig_explain(loaded, [row], favourable_id=1, steps=64)
        assert len(together.token_ids) == len(row)
        np.testing.assert_allclose(together.scores, alone.scores, atol=1e-5, rtol=1e-4)
        # Completeness: f(input) - f(baseline), with f(baseline) the start of the path.
        assert abs(together.extra["convergence_delta"]) < 0.02, together.extra["convergence_delta"]


def test_a_decoder_pooled_by_its_pad_id_gets_another_baseline_token(build):
    pooled = build("llama", "pad")
    probe = runtime.tokenize(pooled, TEXTS[:1])[0]
    # The pad id would move the pooled position of the baseline; <unk> does not.
    assert baseline_token(pooled, probe) == pooled.tokenizer.unk_token_id
    lent = build("llama", "none")
    assert baseline_token(lent, probe) == 0  # no pad anywhere: id 0, as before


@pytest.mark.parametrize(("model_type", "case"), MODELS)
def test_attention_batched_equals_one_text_at_a_time(build, model_type, case):
    loaded = build(model_type, case)
    ids = runtime.tokenize(loaded, TEXTS)
    batched = attention_explain(loaded, ids, favourable_id=1, batch_size=4)
    for row, together in zip(ids, batched, strict=True):
        [alone] = attention_explain(loaded, [row], favourable_id=1, batch_size=1)
        np.testing.assert_allclose(together.scores, alone.scores, atol=1e-6)
        np.testing.assert_allclose(together.extra["heatmap"]["matrix"], alone.extra["heatmap"]["matrix"], atol=1e-4)
