"""The model's parts that explainers and mitigation reach into: padded batches they run
themselves, differentiable logits and probabilities, the classification head, the embedding
layer attributions integrate over, and where a text's tokens sit in what the model reads.
Re-exported by runtime/__init__.py, so callers keep writing `runtime.pad_token_ids` etc.
"""
from __future__ import annotations

from collections.abc import Sequence

import torch

from runtime.loaded import LoadedModel, batching, forward
from runtime.padding import forward_logits, pad_rows, preferred_pad_id


def pad_token_ids(loaded: LoadedModel, ids: Sequence[Sequence[int]]) -> tuple[torch.Tensor, torch.Tensor]:
    """(input_ids, attention_mask) for one batch, on the CPU, padded to its longest row with
    the model's pad id on the side `batching(loaded)` found exact (runtime.padding); `forward`
    moves them to the model and refills the padding as the model needs. Callers that batch
    themselves (explainers, mitigation) find each row's tokens where its mask is 1, and
    cap their batches with `batch_rows`."""
    return pad_rows(ids, preferred_pad_id(loaded.model, loaded.tokenizer), batching(loaded).side)


def batch_rows(loaded: LoadedModel, batch_size: int) -> int:
    """`batch_size`, or 1 for a model whose padded batches are not exact (`batching`)."""
    return batch_size if batching(loaded).exact else 1


def forward_rows(loaded: LoadedModel, ids: Sequence[Sequence[int]], *, model: torch.nn.Module | None = None
                 ) -> torch.Tensor:
    """Differentiable logits (B, num_labels) of `model` (a copy of `loaded.model` being
    trained; by default the model itself) for token-id rows, each as it would be alone:
    one padded batch when batches are exact, else row by row."""
    model = loaded.model if model is None else model
    if len(ids) > 1 and not batching(loaded).exact:
        return torch.cat([forward_rows(loaded, [row], model=model) for row in ids])
    return forward_logits(model, loaded.tokenizer, *pad_token_ids(loaded, ids))


def classification_head(model: torch.nn.Module) -> torch.nn.Module:
    """The module that turns pooled features into logits: `classifier` (encoders) or
    `score` (decoders, which apply it to every position and pool afterwards)."""
    for name in ("classifier", "score"):
        head = getattr(model, name, None)
        if isinstance(head, torch.nn.Module):
            return head
    raise ValueError(f"{type(model).__name__} has no classification head (classifier or score) to train.")


def tokenize_with_offsets(loaded: LoadedModel, text: str) -> tuple[list[int], list[tuple[int, int]]]:
    """`tokenize(loaded, [text])[0]` and each token's character span in `text`."""
    if loaded.prompt is not None:
        ids, spans = loaded.prompt.encode([text], offsets=True)
        return ids[0], spans[0]
    encoded = loaded.tokenizer(text, truncation=True, max_length=loaded.max_length, padding=False,
                               return_offsets_mapping=True)
    return list(encoded["input_ids"]), [(int(a), int(b)) for a, b in encoded["offset_mapping"]]


def class_probabilities(loaded: LoadedModel, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """Differentiable class probabilities (B, num_labels) for right-padded rows of
    `tokenize` ids (as `pad_token_ids` makes them); gradients flow from `attribution_layer`."""
    if loaded.prompt is not None:
        return loaded.prompt.forward(input_ids, attention_mask)
    return torch.softmax(forward(loaded, input_ids, attention_mask).float(), dim=-1)


def attribution_layer(loaded: LoadedModel) -> torch.nn.Module:
    """The embedding layer of the tokens `tokenize` returns, the layer Integrated Gradients
    integrates over: the whole input of a head classifier, the text slot of a prompted one."""
    if loaded.prompt is not None:
        return loaded.prompt.text_embedding
    return loaded.model.get_input_embeddings()


def model_input(loaded: LoadedModel, ids: Sequence[int]) -> tuple[list[int], int, int]:
    """The whole sequence the model reads for `tokenize` ids, where those ids start in it, and
    the position whose representation makes the prediction (attention maps read from it)."""
    if loaded.prompt is not None:
        return loaded.prompt.full_ids(ids)
    return [int(i) for i in ids], 0, 0
