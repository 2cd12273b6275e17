"""How many tokens a model accepts, and tokenisation that cuts texts to it and counts the cut.

The limit is the smallest of the model's own position limit, the tokenizer's
`model_max_length` and settings.PREDICT_MAX_LENGTH. A tokenizer often claims more than
its model holds (a distilled BERT with 128 positions shipped with a 512-token
tokenizer): trusting it fails on the first long comment.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from django.conf import settings

# Config fields that name the number of positions, by architecture family.
POSITION_FIELDS = ("max_position_embeddings", "n_positions", "n_ctx", "max_sequence_length", "seq_length")


def position_limit(model: torch.nn.Module) -> int | None:
    """The longest input the model's positions cover, or None when nothing bounds it.

    RoBERTa-style embeddings (RoBERTa, XLM-R, CamemBERT, Longformer, MPNet, ...) number
    positions from padding_idx + 1, so their table of max_position_embeddings rows holds
    that many fewer tokens; they are recognised by the method that numbers them.
    """
    config = model.config.get_text_config()
    limits = [int(v) for v in (getattr(config, name, None) for name in POSITION_FIELDS)
              if isinstance(v, int) and v > 0]
    for module in model.modules():
        table = getattr(module, "position_embeddings", None)
        pad = getattr(module, "padding_idx", None)
        if (hasattr(module, "create_position_ids_from_input_ids") and isinstance(table, torch.nn.Embedding)
                and isinstance(pad, int)):
            limits.append(table.num_embeddings - pad - 1)
    return min(limits) if limits else None


def max_length(model: torch.nn.Module, tokenizer) -> int:
    """Tokens per input, special tokens included: what every tokenisation here cuts to."""
    limits = [settings.PREDICT_MAX_LENGTH, tokenizer.model_max_length, position_limit(model)]
    return int(min(v for v in limits if v is not None and v > 0))


@dataclass(frozen=True)
class Encoded:
    """Token ids per text, cut to `max_length`; `truncated` rows lost tokens to the cut."""

    ids: list[list[int]]
    max_length: int
    truncated: int


def encode(tokenizer, texts: Sequence[str], limit: int) -> Encoded:
    """Tokenise with truncation to `limit`, counting the rows that were cut.

    Texts are first cut to limit + 1 tokens: a row that reaches it was longer than the
    limit, and only those rows are tokenised again at the limit (which keeps the
    tokenizer's closing special tokens, unlike slicing the ids).
    """
    texts = list(texts)
    if not texts:
        return Encoded(ids=[], max_length=limit, truncated=0)
    ids = [list(x) for x in tokenizer(texts, truncation=True, max_length=limit + 1, padding=False)["input_ids"]]
    long_rows = [i for i, row in enumerate(ids) if len(row) > limit]
    if long_rows:
        cut = tokenizer([texts[i] for i in long_rows], truncation=True, max_length=limit, padding=False)["input_ids"]
        for i, row in zip(long_rows, cut, strict=True):
            ids[i] = list(row)
    return Encoded(ids=ids, max_length=limit, truncated=len(long_rows))
