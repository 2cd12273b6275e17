"""The common output of every explainer, and its projection onto positions and words.

An `Attribution` keeps the method's own units (`tokens`, one score each) and always
says, in `extra`, which unit that is ("token": a word piece; "word": a word of the raw
text) and where each unit sits in the model input (`extra["spans"]`, [start, end)
positions in `token_ids`, which is the whole input, special tokens included). That is
enough to perturb the input by unit (faithfulness) and to put every method on the
tokenizer's words (agreement, global importance) without asking the method again.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from explain.tokens import Span


@dataclass
class Attribution:
    tokens: list[str]
    token_ids: list[int]
    scores: list[float]
    base_value: float | None
    predicted: float
    extra: dict = field(default_factory=dict)

    @property
    def spans(self) -> list[Span]:
        return [tuple(span) for span in self.extra["spans"]]

    @property
    def unit(self) -> str:
        return self.extra["unit"]

    @property
    def signed(self) -> bool:
        """False for methods whose scores are a share of attention, not a direction."""
        return self.extra.get("signed", True)

    def to_json(self) -> dict:
        return {
            "tokens": list(self.tokens),
            "scores": [float(s) for s in self.scores],
            "base_value": None if self.base_value is None else float(self.base_value),
            "predicted": float(self.predicted),
            "extra": self.extra,
        }


def position_scores(attribution: Attribution) -> np.ndarray:
    """One score per input position: a unit's score shared equally by its positions.

    Sharing keeps sums: a word's total over its pieces is the word's score, so word
    scores built from positions are the method's own where its unit is the word.
    """
    out = np.zeros(len(attribution.token_ids), dtype=np.float64)
    for score, (start, end) in zip(attribution.scores, attribution.spans, strict=True):
        if end > start:
            out[start:end] += float(score) / (end - start)
    return out


def word_scores(attribution: Attribution, word_spans: Sequence[Span]) -> np.ndarray:
    """The attribution summed onto the tokenizer's words (see explain.tokens.word_units)."""
    positions = position_scores(attribution)
    return np.array([positions[a:b].sum() for a, b in word_spans], dtype=np.float64)
