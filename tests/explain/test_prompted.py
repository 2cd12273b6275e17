"""Explanations of a prompted classifier: every method works on the text slot's tokens
only, with the prompt around it held fixed, exactly as on a head classifier."""
from __future__ import annotations

import numpy as np
import pytest

import runtime
from explain.engine import ModelFunction
from explain.methods import attention_explain, ig_explain, lime_explain, shap_explain
from explain.run import explain_rows
from tests.causal_factories import TOXIC_SPEC, make_causal_lm

TEXTS = ["you are gay and nice", "the straight editor wrote plain text"]


@pytest.fixture(scope="module", params=["llama", "gpt2"])
def prompted(request, tmp_path_factory):
    folder = make_causal_lm(tmp_path_factory.mktemp("prompted") / request.param, request.param,
                            spec={**TOXIC_SPEC, "calibrate": True})
    loaded = runtime.load_model(folder)
    yield loaded
    runtime.evict(folder)


@pytest.fixture
def pfn(prompted):
    return ModelFunction(prompted, favourable_id=1)


def text_ids(loaded):
    return runtime.tokenize(loaded, TEXTS)


def test_shap_perturbs_the_text_slot_only(prompted, pfn):
    ids = text_ids(prompted)
    found = shap_explain(pfn, ids, max_evals=200)
    for attribution, row in zip(found, ids, strict=True):
        assert attribution.token_ids == row and len(attribution.scores) == len(row)
        assert abs(attribution.extra["additivity_gap"]) < 1e-6
        assert attribution.predicted == pytest.approx(runtime.predict_token_ids(prompted, [row])[0, 1], abs=1e-6)
    assert any(abs(s) > 1e-4 for a in found for s in a.scores)


def test_lime_words_map_to_text_slot_tokens(prompted, pfn):
    found = lime_explain(pfn, TEXTS[:1], num_samples=200)[0]
    assert found.tokens == ["you", "are", "gay", "and", "nice"]
    ids = text_ids(prompted)[0]
    assert found.token_ids == ids
    assert all(0 <= a < b <= len(ids) for a, b in found.spans)


def test_integrated_gradients_over_the_text_embeddings(prompted, pfn):
    assert runtime.attribution_layer(prompted) is prompted.prompt.text_embedding
    ids = text_ids(prompted)
    found = ig_explain(prompted, ids, favourable_id=1, steps=64, fn=pfn)
    for attribution, row in zip(found, ids, strict=True):
        assert len(attribution.scores) == len(row)
        # Completeness: the attributions add up to f(text) - f(baseline text), the prompt
        # being the same at both ends.
        total = sum(attribution.scores) + attribution.base_value
        assert total == pytest.approx(attribution.predicted, abs=0.02)
        assert abs(attribution.extra["convergence_delta"]) < 0.02


def test_attention_is_read_from_the_predicting_position_over_the_text(prompted, pfn):
    ids = text_ids(prompted)
    found = attention_explain(prompted, ids, fn=pfn)
    for attribution, row in zip(found, ids, strict=True):
        assert len(attribution.scores) == len(row) and min(attribution.scores) >= 0
        assert sum(attribution.scores) + attribution.extra["special_share"] == pytest.approx(1.0)
        assert attribution.extra["heatmap"]["tokens"] == prompted.tokenizer.convert_ids_to_tokens(row)
        assert np.asarray(attribution.extra["attention"]["matrices"][0][0]).shape == (len(row), len(row))


def test_explain_rows_runs_every_method_on_a_prompted_classifier(prompted):
    section = explain_rows(prompted, texts=TEXTS, favourable_id=1, rows=[0, 1], seed=0,
                           options={"shap_max_evals": 100, "lime_num_samples": 100, "ig_steps": 16})
    assert [e["row"] for e in section["examples"]] == [0, 1]
    example = section["examples"][0]
    assert example["words"] == ["you", "are", "gay", "and", "nice"]
    assert set(example["methods"]) == {"shap", "lime", "ig", "attention"}
    assert all(example["faithfulness"][m] is not None for m in example["methods"])
    assert example["predicted"] == pytest.approx(runtime.predict_proba(prompted, TEXTS[:1])[0, 1], abs=1e-6)
