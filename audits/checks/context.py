"""What a check reads: the labels, predictions and groups of one audit (`CheckContext`)."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

# Fewer rows than this and a group is listed but not judged (its intervals are too wide).
MIN_GROUP_ROWS = 10


@dataclass
class SentencePairs:
    """Sentence pairs scored by a language model, for stereotype_pairs (runtime.lm_scores)."""

    more: list[str]  # the more-stereotypical sentence of each pair
    less: list[str]
    bias_type: np.ndarray  # str per pair
    direction: np.ndarray  # "stereo", "antistereo" or "" per pair
    more_score: np.ndarray  # float64: PLL over the shared tokens, or summed log-probability
    less_score: np.ndarray
    kind: str  # "masked_lm" or "causal_lm"
    # Causal LMs: the length-normalised scores (mean log-probability per token), reported beside.
    more_mean: np.ndarray | None = None
    less_mean: np.ndarray | None = None
    rows: np.ndarray | None = None  # 0-based rows of the uploaded file (default: 0..n-1)


@dataclass
class CheckContext:
    """Everything a check may read: labels, predictions and groups of one audit."""

    y_true: np.ndarray  # bool: the dataset label is the favourable one
    y_pred: np.ndarray  # bool: the model predicts the favourable label
    prob: np.ndarray  # model probability of the favourable label
    groups: pd.DataFrame  # one string column per protected attribute
    privileged: dict[str, list[str]]  # attribute -> privileged values
    policy: dict
    seed: int
    resamples: int = 1000
    min_group_rows: int = MIN_GROUP_ROWS
    texts: list[str] = field(default_factory=list)
    # One column per annotator, True where that annotator gave the favourable label;
    # missing annotations as NaN / None.
    annotators: pd.DataFrame | None = None
    # attribute -> {group: share of the reference population}; uniform when absent.
    reference_shares: dict[str, dict[str, float]] | None = None
    embeddings: np.ndarray | None = None  # (rows, dim) pooled text embeddings
    # automation_bias: equal-width confidence bins, and the accuracy that the decisions
    # left to the model (not sent to a person for review) must reach.
    calibration_bins: int = 10
    review_target_accuracy: float = 0.95
    # counterfactual: the runtime's batched, cached model function (texts -> favourable
    # probability each), the identity lexicon as (term, category) pairs (the shipped one
    # when None), and per row an aligned counterfactual text from a second dataset, or None.
    predict: Callable[[list[str]], np.ndarray] | None = None
    lexicon: list[tuple[str, str]] | None = None
    counterfactual_texts: list[str | None] | None = None
    # stereotype_pairs: the pairs and a language model's scores of them.
    pairs: SentencePairs | None = None
