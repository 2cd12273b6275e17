"""The model runtime: batched prediction equals one-at-a-time forwards, in input order."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from transformers import BertForSequenceClassification

import runtime

TEXTS = [
    "I love this.",
    "gay people are welcome here",
    "This is a much longer comment that goes on and on about nothing in particular, "
    "just so that the batch has very different lengths in it.",
    "",
    "ok",
    "The straight and the gay members of the club met on Tuesday.",
    "Another one, medium length, with punctuation!?",
]


@pytest.fixture
def loaded(tiny_model_dir):
    runtime.clear_cache()
    yield runtime.load_model(tiny_model_dir)
    runtime.clear_cache()


def one_at_a_time(loaded: runtime.LoadedModel, texts: list[str]) -> np.ndarray:
    rows = []
    with torch.inference_mode():
        for ids in runtime.tokenize(loaded, texts):
            logits = loaded.model(input_ids=torch.tensor([ids])).logits
            rows.append(torch.softmax(logits, dim=-1)[0].double().numpy())
    return np.stack(rows)


@pytest.mark.parametrize("batch_size", [1, 2, 3, 5, 32])
def test_predict_proba_equals_direct_forward(loaded, batch_size):
    expected = one_at_a_time(loaded, TEXTS)
    got = runtime.predict_proba(loaded, TEXTS, batch_size=batch_size)
    assert got.shape == (len(TEXTS), 2)
    np.testing.assert_allclose(got, expected, atol=1e-5, rtol=0)
    np.testing.assert_allclose(got.sum(axis=1), 1.0, atol=1e-6)


def test_input_order_is_kept_whatever_the_batch_size(loaded):
    order = np.random.default_rng(0).permutation(len(TEXTS))
    shuffled = [TEXTS[i] for i in order]
    base = runtime.predict_proba(loaded, TEXTS, batch_size=4)
    for batch_size in (1, 3, 7, 100):
        np.testing.assert_allclose(runtime.predict_proba(loaded, shuffled, batch_size=batch_size),
                                   base[order], atol=1e-5, rtol=0)


def test_the_planted_bias_is_visible(loaded):
    probs = runtime.predict_proba(loaded, ["you are gay", "you are tall"])
    assert probs[0, 1] > probs[1, 1]


def test_progress_and_empty_input(loaded):
    seen = []
    runtime.predict_proba(loaded, TEXTS, batch_size=3, progress=lambda done, total: seen.append((done, total)))
    assert seen == [(3, 7), (6, 7), (7, 7)]
    assert runtime.predict_token_ids(loaded, []).shape == (0, 2)


def test_load_model_is_cached_and_reports_a_complete_checkpoint(loaded, tiny_model_dir):
    assert runtime.load_model(tiny_model_dir) is loaded
    assert loaded.id2label == {0: "False", 1: "True"}
    assert loaded.missing_keys == () and loaded.mismatched_keys == ()


def test_inspect_model_describes_and_does_not_keep_the_model(tiny_model_dir):
    runtime.clear_cache()
    info = runtime.inspect_model(tiny_model_dir)
    direct = BertForSequenceClassification.from_pretrained(tiny_model_dir, use_safetensors=True, local_files_only=True)
    assert info["architecture"] == "BertForSequenceClassification"
    assert info["num_parameters"] == sum(p.numel() for p in direct.parameters())
    assert info["labels"] == {"0": "False", "1": "True"}
    assert info["missing_keys"] == [] and info["mismatched_keys"] == []
    assert str(tiny_model_dir.resolve()) not in runtime._cache
