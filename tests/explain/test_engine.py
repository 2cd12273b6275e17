"""The model function: deduplicates, caches (bounded), and answers what the runtime would."""
from __future__ import annotations

import numpy as np
import pytest

import runtime
from explain.engine import ModelFunction

from .conftest import GAY_TEXTS, OTHER_TEXTS


def test_answers_equal_the_runtime_in_input_order(loaded, fn):
    ids = runtime.tokenize(loaded, GAY_TEXTS + OTHER_TEXTS)
    expected = runtime.predict_token_ids(loaded, ids)
    np.testing.assert_allclose(fn.probs(ids), expected, atol=1e-6)
    np.testing.assert_allclose(fn(ids), expected[:, 1], atol=1e-6)


def test_deduplicates_within_a_call_and_caches_across_calls(loaded, fn):
    a, b = runtime.tokenize(loaded, ["you are gay", "you are kind"])
    first = fn([a, a, b, a])
    assert first[0] == first[1] == first[3]
    assert fn.counters.as_dict() == {
        "calls": 1, "inputs": 4, "unique_forwards": 2, "cache_hits": 0, "duplicates": 2,
    }
    # A numpy row and a tuple are the same sequence as the list.
    second = fn([np.array(b), tuple(a)])
    assert second.tolist() == [first[2], first[0]]
    assert fn.counters.unique_forwards == 2
    assert fn.counters.cache_hits == 2
    assert fn.counters.calls == 2


def test_cache_is_bounded_and_forgets_the_least_recently_used(loaded):
    fn = ModelFunction(loaded, favourable_id=1, cache_size=2)
    a, b, c = runtime.tokenize(loaded, ["one", "two", "three"])
    fn([a]), fn([b]), fn([a]), fn([c])  # b is now the least recently used
    assert fn.cache_len() == 2
    fn([a])
    assert fn.counters.unique_forwards == 3
    fn([b])
    assert fn.counters.unique_forwards == 4


def test_empty_request(fn):
    assert fn.probs([]).shape == (0, 2)
    assert fn.counters.unique_forwards == 0


def test_rejects_a_label_the_model_does_not_have(loaded):
    with pytest.raises(ValueError, match="favourable_id 2"):
        ModelFunction(loaded, favourable_id=2)
