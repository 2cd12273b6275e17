"""The one place that loads and runs models.

Checks and explainers never load a model themselves: they call `load_model` and
`predict_proba` / `predict_token_ids`. Texts are tokenised once, sorted by length and
padded per batch, so a batch of short comments does not pay for the longest one.

What every use of a loaded model shares (runtime.loaded) and the parts explainers and
mitigation reach into (runtime.model_parts) live in modules of their own; the `x as x`
imports re-export them, so callers keep writing `runtime.pad_token_ids` and the like.
"""
from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import torch
from django.conf import settings
from transformers import AutoModelForSequenceClassification, AutoTokenizer
from transformers.utils import logging as hf_logging

from runtime.batching import length_batches
from runtime.compress import apply_at_load
from runtime.device import model_device, worker_device
from runtime.limits import max_length
from runtime.lm_scores import PairScores, folder_kind, load_language_model, pair_scores
from runtime.loaded import LoadedModel, batching, encode, forward, tokenize
from runtime.model_parts import attribution_layer as attribution_layer
from runtime.model_parts import batch_rows as batch_rows
from runtime.model_parts import class_probabilities as class_probabilities
from runtime.model_parts import classification_head
from runtime.model_parts import forward_rows as forward_rows
from runtime.model_parts import model_input as model_input
from runtime.model_parts import pad_token_ids as pad_token_ids
from runtime.model_parts import tokenize_with_offsets as tokenize_with_offsets
from runtime.padding import pad_rows, preferred_pad_id
from runtime.prompt_spec import spec_read
from runtime.prompted import load_prompted
from runtime.sanity import model_sanity
from runtime.weights import check_fits, load_dtype

Progress = Callable[[int, int], None]

# Part of every cached prediction's key: raise it when the same model and texts would get
# other probabilities (2: decoders pooled padding before the pad id came from the config).
PREDICTIONS_REVISION = 2

# Progress bars on stderr would break the CLI's one-line error contract.
hf_logging.disable_progress_bar()

_cache: dict[str, LoadedModel] = {}
_cache_lock = threading.Lock()


_pinned_threads: int | None = None


def set_threads() -> None:
    if _pinned_threads is None and settings.TORCH_THREADS > 0 and torch.get_num_threads() != settings.TORCH_THREADS:
        torch.set_num_threads(settings.TORCH_THREADS)


@contextmanager
def pinned_threads(threads: int):
    """Torch runs on `threads` threads inside, whatever settings.TORCH_THREADS says (one
    process of several sharing the cores, explain.parallel)."""
    global _pinned_threads
    before_pin, before = _pinned_threads, torch.get_num_threads()
    _pinned_threads = max(1, int(threads))
    torch.set_num_threads(_pinned_threads)
    try:
        yield
    finally:
        _pinned_threads = before_pin
        torch.set_num_threads(before)


def load_model(folder: Path | str) -> LoadedModel:
    """Load a validated Hugging Face folder; safetensors only (memory-mapped), never remote
    code; floating-point weights as settings.MODEL_DTYPE. Raises runtime.weights.ModelTooLarge,
    before loading, for weights over settings.WORKER_MAX_MODEL_BYTES."""
    folder = Path(folder).resolve()
    device = worker_device()
    key = _cache_key(folder)
    with _cache_lock:
        if key in _cache:
            return _cache[key]
        set_threads()
        # Before anything is read into memory: a model too large for this worker is refused.
        check_fits(folder)
        spec = spec_read(folder)
        if spec is not None:
            loaded = _load_prompted(folder, spec, device)
        elif (lm_kind := folder_kind(folder)) is not None:
            loaded = _load_language_model(folder, lm_kind, device)
        else:
            model, info = AutoModelForSequenceClassification.from_pretrained(
                folder, use_safetensors=True, trust_remote_code=False, local_files_only=True,
                output_loading_info=True, dtype=load_dtype(),
            )
            # An int8 variant is its parent's float weights plus the recipe (runtime.compress).
            model = apply_at_load(model.to(device).eval(), folder)
            tokenizer = AutoTokenizer.from_pretrained(
                folder, trust_remote_code=False, local_files_only=True
            )
            id2label = {int(k): str(v) for k, v in model.config.id2label.items()}
            loaded = LoadedModel(
                model=model, tokenizer=tokenizer, id2label=id2label, folder=folder,
                missing_keys=tuple(sorted(info.get("missing_keys") or ())),
                mismatched_keys=tuple(sorted(str(k) for k in info.get("mismatched_keys") or ())),
                max_length=max_length(model, tokenizer),
            )
        # A worker audits few models; keep the last handful in memory.
        if len(_cache) >= 4:
            _cache.pop(next(iter(_cache)))
        _cache[key] = loaded
        return loaded


def _load_prompted(folder: Path, spec, device) -> LoadedModel:
    """A causal LM with its prompt spec; its labels are the spec's, in order."""
    model, tokenizer, prompt, info = load_prompted(folder, spec, device=device, dtype=load_dtype(),
                                                   max_text_tokens=settings.PREDICT_MAX_LENGTH)
    return LoadedModel(
        model=model, tokenizer=tokenizer, id2label=dict(enumerate(spec.labels)), folder=folder,
        missing_keys=tuple(sorted(info.get("missing_keys") or ())),
        mismatched_keys=tuple(sorted(str(k) for k in info.get("mismatched_keys") or ())),
        max_length=prompt.prompt.text_budget, prompt=prompt,
    )


def _load_language_model(folder: Path, kind: str, device) -> LoadedModel:
    """A masked or causal LM without a prompt: scored by sentence (runtime.lm_scores), no labels."""
    model, tokenizer, info = load_language_model(folder, kind, device=device, dtype=load_dtype())
    return LoadedModel(
        model=model, tokenizer=tokenizer, id2label={}, folder=folder,
        missing_keys=tuple(sorted(info.get("missing_keys") or ())),
        mismatched_keys=tuple(sorted(str(k) for k in info.get("mismatched_keys") or ())),
        max_length=max_length(model, tokenizer), language_model=kind,
    )


def score_pairs(loaded: LoadedModel, more: Sequence[str], less: Sequence[str], *,
                progress: Progress | None = None) -> PairScores:
    """Scores of (more, less) sentence pairs by a language model (runtime.lm_scores)."""
    if loaded.language_model is None:
        raise ValueError(f"{type(loaded.model).__name__} is a {loaded.kind}, not a masked or causal language "
                         "model; sentence pairs are scored by language models only.")
    set_threads()
    return pair_scores(loaded.model, loaded.tokenizer, loaded.language_model, more, less,
                       limit=loaded.max_length, progress=progress)


def _sanity_outputs(loaded: LoadedModel, texts: Sequence[str]) -> np.ndarray:
    """What the upload's sanity probe reads: class probabilities, or a language model's
    sentence scores (each text paired with itself)."""
    if loaded.language_model is None:
        return predict_proba(loaded, texts)
    scores = score_pairs(loaded, texts, texts)
    return np.stack([scores.more.total, scores.more.mean])


def _cache_key(folder: Path) -> str:
    # The device and dtype are part of the key: a test or a shell may switch them.
    return f"{folder}@{settings.MODEL_DEVICE}@{settings.MODEL_DTYPE}"


def clear_cache() -> None:
    with _cache_lock:
        _cache.clear()


def evict(folder: Path | str) -> None:
    """Forget one folder's model, e.g. a temporary upload folder about to be deleted."""
    prefix = f"{Path(folder).resolve()}@"
    with _cache_lock:
        for key in [k for k in _cache if k.startswith(prefix)]:
            del _cache[key]


def inspect_model(folder: Path | str) -> dict:
    """Build a validated folder's model once, through `load_model`, and describe it.

    Returns architecture, num_parameters (shared tensors counted once), labels
    (id2label with string keys), and the loading report's missing / mismatched weights
    so the caller can refuse a model that would run with random weights, and the facts
    of runtime.sanity (non-finite weights, token ids past the embeddings, a forward pass
    on fixed sentences) so it can refuse a broken one. The model is dropped from the
    cache afterwards: the folder being inspected is usually temporary.
    """
    try:
        loaded = load_model(folder)
    finally:
        evict(folder)
    config = loaded.model.config
    architectures = getattr(config, "architectures", None) or []
    return {
        "architecture": architectures[0] if architectures else config.model_type,
        "kind": loaded.kind,
        "num_parameters": int(sum(p.numel() for p in loaded.model.parameters())),
        "labels": {str(k): v for k, v in sorted(loaded.id2label.items())},
        "base_model_prefix": loaded.model.base_model_prefix,
        "missing_keys": list(loaded.missing_keys),
        "mismatched_keys": list(loaded.mismatched_keys),
        **model_sanity(loaded.model, loaded.tokenizer, lambda texts: _sanity_outputs(loaded, texts)),
    }



def prediction_facts(loaded: LoadedModel, texts: Sequence[str]) -> dict:
    """How the model ran on these texts, for the audit report: where and in which dtype,
    the token limit and how many texts were cut to it, and whether predictions were
    batched or run one by one."""
    exactness = batching(loaded)
    return {
        "device": str(model_device(loaded.model)),
        "dtype": str(next(loaded.model.parameters()).dtype).removeprefix("torch."),
        "max_length": loaded.max_length,
        "truncated_rows": encode(loaded, texts).truncated,
        "batching": exactness.mode,
        "batching_note": exactness.reason,
    }


def predict_token_ids(
    loaded: LoadedModel,
    ids: Sequence[Sequence[int]],
    *,
    batch_size: int | None = None,
    progress: Progress | None = None,
) -> np.ndarray:
    """Class probabilities (n, num_labels) for already-tokenised inputs, in input order.

    Batches are capped by padded tokens (rows x longest row), not by rows: short texts
    go in large batches and long ones in small batches, so the feed-forward activations
    stay in the CPU cache (bench/predict.py measured 1.15x to 2.3x over 32 fixed rows).
    `batch_size`, when given, also caps the rows of a batch. Rows are padded on the side
    `batching` found exact; a model whose batches are not exact on either side runs one
    row at a time, in the same length order.
    """
    n = len(ids)
    probs = np.zeros((n, loaded.num_labels), dtype=np.float64)
    if n == 0:
        return probs
    set_threads()
    exactness = batching(loaded)
    if not exactness.exact:
        batch_size = 1
    if loaded.prompt is not None:
        return loaded.prompt.predict(ids, batch_size=batch_size, progress=progress)
    pad_id = preferred_pad_id(loaded.model, loaded.tokenizer)
    with torch.inference_mode():
        done = 0
        for chunk in length_batches([len(x) for x in ids], batch_size=batch_size):
            logits = forward(loaded, *pad_rows([ids[i] for i in chunk], pad_id, exactness.side))
            probs[chunk] = torch.softmax(logits.float(), dim=-1).double().cpu().numpy()
            done += len(chunk)
            if progress:
                progress(done, n)
    return probs


def predict_proba(
    loaded: LoadedModel,
    texts: Sequence[str],
    *,
    batch_size: int | None = None,
    progress: Progress | None = None,
) -> np.ndarray:
    return predict_token_ids(loaded, tokenize(loaded, texts), batch_size=batch_size, progress=progress)


def classifier_inputs(
    loaded: LoadedModel,
    ids: Sequence[Sequence[int]],
    *,
    batch_size: int | None = None,
    progress: Progress | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """What the model's classification head (`classification_head`) receives for the
    position it predicts from, one row per input, in input order, and the class
    probabilities of the same pass (as `predict_token_ids` returns them).

    Mitigation trains that head on these cached features instead of re-running the
    encoder every epoch. Heads fed the whole sequence (RoBERTa, ELECTRA) read only the
    first position, so only that position is kept, (n, 1, hidden). A decoder's head maps
    every position and the model then pools one per row (the last before its padding):
    that row's features are the position whose head output is the model's logits, (n,
    hidden); other heads get (n, hidden) too. Rows come back through the same
    length-sorted batches as `predict_token_ids`, which is why they are re-ordered here.
    """
    if loaded.prompt is not None:
        raise ValueError("A prompted classifier has no classification head to read the inputs of.")
    batching(loaded)  # probed before the hooks, so that only the inputs' passes are captured
    captured: list[torch.Tensor] = []
    head_pass: list[tuple[torch.Tensor, torch.Tensor]] = []

    def keep(_module, args, output):
        head_pass[:] = [(args[0].detach(), output.detach())]

    def pooled(_module, _args, output):
        (x, mapped), logits = head_pass.pop(), output.logits.detach()
        if mapped.dim() == 3:  # mapped every position: keep the one pooled into the logits
            same = (mapped == logits[:, None, :]).all(dim=-1)
            if not bool(same.any(dim=1).all()):
                raise ValueError(f"{type(loaded.model).__name__}'s logits are none of its head's outputs; "
                                 "set option 'unfreeze_layers' to 1 or more.")
            positions = torch.arange(same.shape[1], device=same.device)
            x = x[torch.arange(len(x), device=x.device), (positions * same).argmax(dim=1)]
        elif x.dim() == 3:
            x = x[:, :1, :]
        captured.append(x.float().cpu())

    handles = [classification_head(loaded.model).register_forward_hook(keep),
               loaded.model.register_forward_hook(pooled)]
    try:
        probs = predict_token_ids(loaded, ids, batch_size=batch_size, progress=progress)
    finally:
        for handle in handles:
            handle.remove()
    if not captured:
        return np.zeros((0, 0), dtype=np.float32), probs
    rows = torch.cat(captured).numpy()
    order = np.argsort(np.fromiter((len(x) for x in ids), dtype=np.int64, count=len(ids)), kind="stable")
    features = np.empty_like(rows)
    features[order] = rows
    return features, probs
