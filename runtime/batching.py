"""Batches of similar length, capped by padded tokens: the plan every forward loop follows."""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from django.conf import settings


def length_batches(lengths: Sequence[int], *, batch_size: int | None = None) -> list[np.ndarray]:
    """Row indices in batches of similar length: sorted ascending, each batch capped by
    padded tokens (rows x its longest row) at PREDICT_MAX_TOKENS and, when given, by
    `batch_size` rows. A row longer than the cap gets a batch of its own."""
    n = len(lengths)
    lengths = np.asarray(lengths, dtype=np.int64)
    order = np.argsort(lengths, kind="stable")
    max_tokens = settings.PREDICT_MAX_TOKENS
    batches = []
    start = 0
    while start < n:
        # Sorted ascending: the row about to join a batch is its longest so far.
        end = start + 1
        while (end < n and (batch_size is None or end - start < batch_size)
               and (end + 1 - start) * lengths[order[end]] <= max_tokens):
            end += 1
        batches.append(order[start:end])
        start = end
    return batches
