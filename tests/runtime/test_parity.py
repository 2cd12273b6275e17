"""Batched, length-sorted predictions equal one-text-at-a-time ones, for every architecture.

Each (architecture, tokenizer) case is a tiny random classifier with a position limit
of 64 (tests/runtime/tiny_models.py); the texts run from empty to far beyond 64
tokens and include the special tokens' own spellings, so some rows hold the pad or
end-of-sequence id among their real tokens.
"""
from __future__ import annotations

import dataclasses
import random
from types import SimpleNamespace

import numpy as np
import pytest
import torch
import transformers

import runtime
from runtime.padding import forward_logits, free_pad_id, pad_rows
from tests.runtime import tiny_models

WORDS = ("the club met on Tuesday and everyone was welcome gay straight people here there "
         "a very long comment about nothing in particular with punctuation ok I love this").split()


def _texts() -> list[str]:
    rng = random.Random(0)
    texts = [" ".join(rng.choice(WORDS) for _ in range(n)) for n in (0, 1, 2, 3, 5, 8, 13, 21, 34, 55, 89, 150) * 3]
    return texts + ["ok!", "a row that ends in the pad token <pad>", "</s> starts with eos, ends with it </s>",
                    "hi there"]


TEXTS = _texts()


@pytest.fixture(scope="module")
def build(tmp_path_factory):
    """Build each (architecture, case) once per module, on first use."""
    root = tmp_path_factory.mktemp("parity")
    built: dict[tuple[str, str], runtime.LoadedModel] = {}

    def get(model_type: str, case: str) -> runtime.LoadedModel:
        if (model_type, case) not in built:
            built[model_type, case] = runtime.load_model(tiny_models.build(root, model_type, case, TEXTS))
        return built[model_type, case]

    yield get
    runtime.clear_cache()


def one_at_a_time(model: torch.nn.Module, ids: list[list[int]]) -> np.ndarray:
    """The reference: each row alone, no padding, no mask, straight through transformers."""
    with torch.inference_mode():
        return np.stack([torch.softmax(model(input_ids=torch.tensor([row])).logits.float(), dim=-1)[0].double().numpy()
                         for row in ids])


@pytest.mark.parametrize(("model_type", "case"), tiny_models.cases())
def test_batched_predictions_equal_one_at_a_time(build, model_type, case):
    loaded = build(model_type, case)
    encoded = runtime.encode(loaded, TEXTS)
    assert encoded.max_length == tiny_models.POSITIONS  # the model's limit, not the tokenizer's
    assert encoded.truncated == sum(len(x) == tiny_models.POSITIONS for x in encoded.ids) > 0
    expected = one_at_a_time(loaded.model, encoded.ids)
    # Outputs that vary from row to row: a wrongly pooled position could not hide.
    assert expected[:, 1].std() > 0.03
    got = runtime.predict_token_ids(loaded, encoded.ids)
    assert runtime.batching(loaded).exact
    assert runtime.batching(loaded).side == ("left" if model_type == "xlnet" else "right")
    np.testing.assert_allclose(got, expected, atol=1e-5, rtol=0)
    # Batches of other shapes give the same rows back in input order.
    np.testing.assert_allclose(runtime.predict_token_ids(loaded, encoded.ids, batch_size=3), expected,
                               atol=1e-5, rtol=0)


@pytest.mark.parametrize("model_type", ["llama", "gpt2"])
def test_padding_with_the_tokenizers_pad_or_0_reads_a_padding_position(build, model_type):
    """Issue 19's defect, kept visible: config.pad_token_id is the end-of-sequence id and the
    tokenizer has no pad; padding with 0 (what the runtime did) changes the predictions."""
    loaded = build(model_type, "eos")
    ids = runtime.tokenize(loaded, TEXTS)
    input_ids, mask = pad_rows(ids, loaded.tokenizer.pad_token_id or 0)
    with torch.inference_mode():
        naive = torch.softmax(loaded.model(input_ids=input_ids, attention_mask=mask).logits, dim=-1).double().numpy()
    assert np.abs(naive - one_at_a_time(loaded.model, ids)).max() > 0.05


def test_a_model_without_pad_id_is_refused_batches_by_transformers_and_batched_here(build):
    loaded = build("qwen2", "none")
    assert loaded.model.config.pad_token_id is None
    input_ids, mask = runtime.pad_token_ids(loaded, runtime.tokenize(loaded, TEXTS[:4]))
    with pytest.raises(ValueError, match="no padding token"), torch.inference_mode():
        loaded.model(input_ids=input_ids, attention_mask=mask)
    with torch.inference_mode():
        runtime.forward(loaded, input_ids, mask)
    assert loaded.model.config.pad_token_id is None  # lent for one forward, then given back


class IgnoresMask(torch.nn.Module):
    """A classifier that attends to its padding: the kind of pooling no padding rule can make exact."""

    def __init__(self, inner: torch.nn.Module):
        super().__init__()
        self.inner = inner
        self.config = inner.config

    def get_input_embeddings(self):
        return self.inner.get_input_embeddings()

    def forward(self, input_ids, attention_mask=None):
        return self.inner(input_ids=input_ids)


def test_a_model_whose_batches_differ_runs_one_text_at_a_time_and_says_so(build):
    real = build("bert", "pad")
    loaded = dataclasses.replace(real, model=IgnoresMask(real.model), checked_batching=None)
    batching = runtime.batching(loaded)
    assert not batching.exact and batching.mode == "unbatched"
    assert "run on its own" in batching.reason
    ids = runtime.tokenize(loaded, TEXTS)
    np.testing.assert_allclose(runtime.predict_token_ids(loaded, ids), one_at_a_time(loaded.model, ids),
                               atol=1e-5, rtol=0)
    assert runtime.batching(real).exact and real.checked_batching.mode == "batched"


def test_a_batch_holding_every_id_of_the_vocabulary_runs_its_rows_alone():
    """No id is free to lend as padding: the rows run one by one, still exact."""
    torch.manual_seed(0)
    config = transformers.GPT2Config(vocab_size=6, n_embd=16, n_layer=1, n_head=2, n_positions=8, num_labels=2,
                                     initializer_range=0.3, pad_token_id=None)
    model = transformers.GPT2ForSequenceClassification(config).eval()
    rows = [[0, 1, 2, 3], [4, 5]]
    assert free_pad_id(torch.tensor(sum(rows, [])), 0, 6) is None
    input_ids, mask = pad_rows(rows, 0)
    with torch.inference_mode():
        got = forward_logits(model, SimpleNamespace(pad_token_id=None, eos_token_id=None), input_ids, mask)
    np.testing.assert_allclose(torch.softmax(got, -1).double().numpy(), one_at_a_time(model, rows), atol=1e-6)
    assert free_pad_id(torch.tensor([[0, 2]]), 0, 6) == 1 and free_pad_id(torch.tensor([[0, 2]]), 3, 6) == 3
