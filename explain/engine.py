"""The one model function every explainer calls: token ids in, probabilities out.

SHAP, LIME and the faithfulness suite each ask for thousands of perturbed inputs, and
many of them are the same sequence (LIME on a short text draws the same word subset
again and again; SHAP's partition tree revisits coalitions; faithfulness re-asks for
inputs the explainers already saw). `ModelFunction` answers each distinct token-id
sequence once: it deduplicates a request, serves what it has seen from a bounded LRU
cache, and sends only the rest to `runtime.predict_token_ids`, which sorts by
length, pads per batch and runs under `torch.inference_mode`. Nothing is decoded or
re-tokenised on the way.
"""
from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

import runtime


@dataclass
class Counters:
    """What the function did, for benchmarks and tests.

    inputs = unique_forwards + cache_hits + duplicates: every requested sequence was
    either run through the model, found in the cache from an earlier call, or a repeat
    of another sequence in the same call.
    """

    calls: int = 0
    inputs: int = 0
    unique_forwards: int = 0
    cache_hits: int = 0
    duplicates: int = 0

    def as_dict(self) -> dict[str, int]:
        return dict(self.__dict__)


class ModelFunction:
    """Batched, cached class probabilities of one loaded model for token-id sequences.

    `fn(ids_list)` returns the favourable label's probability per sequence, `fn.probs`
    all labels. A sequence is any iterable of ints (a list, a tuple, a numpy row).
    """

    def __init__(
        self,
        loaded: runtime.LoadedModel,
        *,
        favourable_id: int,
        batch_size: int = 64,
        cache_size: int = 100_000,
    ) -> None:
        if not 0 <= favourable_id < loaded.num_labels:
            raise ValueError(
                f"favourable_id {favourable_id} is not a label of this model (0..{loaded.num_labels - 1})."
            )
        self.loaded = loaded
        self.tokenizer = loaded.tokenizer
        self.favourable_id = favourable_id
        self.batch_size = batch_size
        self.cache_size = cache_size
        self.counters = Counters()
        # Keys are int32 bytes, not tuples: a tuple of Python ints costs ~36 bytes a
        # token, so a cache of LIME neighbourhoods would take gigabytes.
        self._cache: OrderedDict[bytes, np.ndarray] = OrderedDict()

    def __call__(self, ids_list: Iterable[Sequence[int]]) -> np.ndarray:
        return self.probs(ids_list)[:, self.favourable_id]

    def probs(self, ids_list: Iterable[Sequence[int]]) -> np.ndarray:
        """Probabilities (n, num_labels), in input order."""
        arrays = [np.asarray(ids, dtype=np.int32).reshape(-1) for ids in ids_list]
        keys = [a.tobytes() for a in arrays]
        counters = self.counters
        counters.calls += 1
        counters.inputs += len(keys)

        # Distinct keys this call needs from the model, in first-seen order.
        todo: dict[bytes, np.ndarray] = {}
        found: dict[bytes, np.ndarray] = {}
        for key, array in zip(keys, arrays, strict=True):
            if key in found or key in todo:
                counters.duplicates += 1
            elif key in self._cache:
                self._cache.move_to_end(key)
                found[key] = self._cache[key]
                counters.cache_hits += 1
            else:
                todo[key] = array
        if todo:
            sequences = [array.tolist() for array in todo.values()]
            result = runtime.predict_token_ids(self.loaded, sequences, batch_size=self.batch_size)
            counters.unique_forwards += len(sequences)
            for key, row in zip(todo, result, strict=True):
                found[key] = row
                self._remember(key, row)
        out = np.empty((len(keys), self.loaded.num_labels), dtype=np.float64)
        for i, key in enumerate(keys):
            out[i] = found[key]
        return out

    def _remember(self, key: bytes, row: np.ndarray) -> None:
        self._cache[key] = row
        if len(self._cache) > self.cache_size:
            self._cache.popitem(last=False)

    def cache_len(self) -> int:
        return len(self._cache)
