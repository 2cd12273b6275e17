"""Batches that give every row the prediction it would get alone.

Rows are right-padded with the attention mask marking the padding. That is exact for
encoders (padding is masked out of attention and the pooled position is the first or
a masked mean) and for decoders: a causal row never attends to the positions after it,
and its position ids stay 0..n-1 as when it runs alone (left padding would shift them
in every model that numbers positions from the cache rather than from the mask). A
model that reads its last position whatever the padding (XLNet) is left-padded
instead: runtime.exactness finds the side by probing.

Decoder classifiers (`*ForSequenceClassification` of Llama, Qwen, GPT-2, ...) pool the
rightmost token that is not `config.pad_token_id` (transformers 5's
`GenericForSequenceClassification.forward` and its copies). So the padding must be that
very id: padding with any other (the tokenizer's pad, or 0) makes the model read a
padding position. A config without a pad id is refused by transformers for batches of
more than one row; then each batch is padded with an id found in none of its rows, and
the config names that id for the one forward pass, so the rightmost non-pad token is
each row's last real token, as when it runs alone with no pad id at all.
"""
from __future__ import annotations

import threading
from collections.abc import Sequence

import numpy as np
import torch

from runtime.device import model_device

# The config is shared by every thread using the model: only one forward at a time may
# lend it a pad id.
_config_lock = threading.Lock()


def config_pad_id(model: torch.nn.Module) -> int | None:
    """The config's pad id when it names a row of the embedding table, else None."""
    pad = model.config.get_text_config().pad_token_id
    if isinstance(pad, int) and 0 <= pad < model.get_input_embeddings().num_embeddings:
        return pad
    return None


def preferred_pad_id(model: torch.nn.Module, tokenizer) -> int:
    """The config's pad, then the tokenizer's pad, then its end-of-sequence token, then 0."""
    pad = config_pad_id(model)
    for candidate in (pad, tokenizer.pad_token_id, tokenizer.eos_token_id):
        if isinstance(candidate, int) and 0 <= candidate < model.get_input_embeddings().num_embeddings:
            return candidate
    return 0


def pad_rows(ids: Sequence[Sequence[int]], pad_id: int, side: str = "right") -> tuple[torch.Tensor, torch.Tensor]:
    """(input_ids, attention_mask) for one batch, padded with `pad_id` to its longest row
    on the `side` ("right" or "left") of each row."""
    width = max(len(x) for x in ids)
    input_ids = np.full((len(ids), width), pad_id, dtype=np.int64)
    mask = np.zeros((len(ids), width), dtype=np.int64)
    for row, x in enumerate(ids):
        cols = slice(0, len(x)) if side == "right" else slice(width - len(x), width)
        input_ids[row, cols] = x
        mask[row, cols] = 1
    return torch.from_numpy(input_ids), torch.from_numpy(mask)


def free_pad_id(input_ids: torch.Tensor, preferred: int, vocab_size: int) -> int | None:
    """`preferred` if no row holds it, else the smallest id no row holds (None if none)."""
    used = torch.zeros(vocab_size, dtype=torch.bool)
    used[input_ids.reshape(-1).cpu().clamp(0, vocab_size - 1)] = True
    if not used[preferred]:
        return preferred
    free = (~used).nonzero()
    return int(free[0]) if len(free) else None


def padding_positions(attention_mask: torch.Tensor) -> torch.Tensor:
    """True before each row's first real token and after its last: its padding, on either side."""
    real = attention_mask != 0
    positions = torch.arange(attention_mask.shape[1], device=attention_mask.device)
    first = real.int().argmax(dim=1, keepdim=True)
    last = (positions * real).argmax(dim=1, keepdim=True)
    return (positions < first) | (positions > last)


def forward_logits(
    model: torch.nn.Module, tokenizer, input_ids: torch.Tensor, attention_mask: torch.Tensor,
) -> torch.Tensor:
    """The model's logits for one padded batch, on the model's device, each row pooled as it
    would be alone. Padding positions may hold any id: they are refilled here."""
    device = model_device(model)
    input_ids, attention_mask = input_ids.to(device), attention_mask.to(device)
    padding = padding_positions(attention_mask)
    pad = config_pad_id(model)
    if pad is not None:
        return model(input_ids=input_ids.masked_fill(padding, pad), attention_mask=attention_mask).logits
    if len(input_ids) > 1:
        vocab = model.get_input_embeddings().num_embeddings
        lent = free_pad_id(input_ids.masked_select(~padding), preferred_pad_id(model, tokenizer), vocab)
        if lent is None:  # every id of the vocabulary is in the batch: run its rows alone
            return torch.cat([forward_logits(model, tokenizer, input_ids[i:i + 1], attention_mask[i:i + 1])
                              for i in range(len(input_ids))])
    config = model.config.get_text_config()
    # Under the lock also for one row: another thread's lent id must not be in the config.
    with _config_lock:
        if len(input_ids) == 1:  # alone, a model without a pad id reads the last position: drop the padding
            real = ~padding[0]
            return model(input_ids=input_ids[:, real], attention_mask=attention_mask[:, real]).logits
        saved = config.pad_token_id
        config.pad_token_id = lent
        try:
            return model(input_ids=input_ids.masked_fill(padding, lent), attention_mask=attention_mask).logits
        finally:
            config.pad_token_id = saved
