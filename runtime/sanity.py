"""Facts about a freshly built model that say whether it can give any meaningful figure.

Read once, where the model is built to be inspected (`runtime.inspect_model`), so an
upload can refuse it before any audit runs: weights holding NaN or infinity, a tokenizer
that can produce token ids past the model's embedding matrix (an IndexError at the
first prediction that meets one), and a forward pass on a few fixed sentences that
fails or gives non-finite outputs. The facts are plain values; the caller judges them.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch

# Plain sentences any text classifier must be able to score: short, long-ish, one word,
# punctuation and non-ASCII letters.
SANITY_TEXTS = (
    "The service was quick and the staff were friendly.",
    "I would not recommend this to anyone, it broke after a day.",
    "ok",
    "Ça coûte 12 € — très cher !",
)
# Tokens past the embedding matrix that are tried, to see if the tokenizer can produce them.
_TRIED_TOKENS = 2000
_NAMED = 3


def model_sanity(model: torch.nn.Module, tokenizer, predict: Callable[[Sequence[str]], np.ndarray]) -> dict:
    """nonfinite_weights (up to 3 tensor names), tokenizer_overflow (None, or the
    embedding rows and one token id past them that the tokenizer produces),
    probe_error (None, or the exception a forward pass on SANITY_TEXTS raised) and
    probe_nonfinite (whether its outputs hold NaN or infinity)."""
    facts = {"nonfinite_weights": nonfinite_tensors(model), "tokenizer_overflow": tokenizer_overflow(model, tokenizer),
             "probe_error": None, "probe_nonfinite": False}
    try:
        outputs = np.asarray(predict(list(SANITY_TEXTS)), dtype=np.float64)
    except Exception as exc:  # noqa: BLE001 - whatever the forward pass raises is a fact about the model
        facts["probe_error"] = f"{type(exc).__name__}: {exc}"
    else:
        facts["probe_nonfinite"] = bool(outputs.size == 0 or not np.isfinite(outputs).all())
    return facts


def nonfinite_tensors(model: torch.nn.Module) -> list[str]:
    """Names of weights and buffers holding NaN or infinity (the first few)."""
    found = []
    with torch.no_grad():
        for name, tensor in model.state_dict().items():
            # A quantised Linear's state holds packed params and flags, not float tensors.
            if not isinstance(tensor, torch.Tensor) or not tensor.is_floating_point() or tensor.numel() == 0:
                continue
            # min/max propagate NaN and show +-inf, without a copy the size of the tensor.
            low, high = torch.aminmax(tensor.detach().reshape(-1))
            if not (torch.isfinite(low) and torch.isfinite(high)):
                found.append(name)
                if len(found) == _NAMED:
                    break
    return found


def tokenizer_overflow(model: torch.nn.Module, tokenizer) -> dict | None:
    """A token id the tokenizer produces that the embedding matrix has no row for, or None.

    Ids past the matrix only matter when the tokenizer can emit them: the special ids
    it adds to inputs, and vocabulary entries that come back when their text is
    encoded (an evenly spread sample of them when there are many).
    """
    embeddings = model.get_input_embeddings()
    rows = int(getattr(embeddings, "num_embeddings", 0) or embeddings.weight.shape[0])
    special = [i for i in [*tokenizer.all_special_ids, tokenizer.pad_token_id] if i is not None and i >= rows]
    if special:
        return _overflow(tokenizer, rows, special[0])
    beyond = sorted(i for i in tokenizer.get_vocab().values() if i >= rows)
    if not beyond:
        return None
    step = max(1, len(beyond) // _TRIED_TOKENS)
    tried = beyond[::step][:_TRIED_TOKENS]
    texts = [tokenizer.convert_tokens_to_string([token]) for token in tokenizer.convert_ids_to_tokens(tried)]
    for ids in tokenizer(texts, add_special_tokens=False)["input_ids"]:
        past = [i for i in ids if i >= rows]
        if past:
            return _overflow(tokenizer, rows, past[0])
    return None


def _overflow(tokenizer, rows: int, token_id: int) -> dict:
    return {"embedding_rows": rows, "token_id": int(token_id), "token": tokenizer.convert_ids_to_tokens(int(token_id)),
            "vocabulary": len(tokenizer)}
