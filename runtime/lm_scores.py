"""Sentence scores of language models, for stereotype probes (sentence pairs).

Masked LMs: pseudo-log-likelihood (Salazar et al. 2020) restricted to the tokens two
sentences share, as CrowS-Pairs scores them (Nangia et al. 2020): the pair's token ids
are aligned with difflib, and each shared token other than the special ones is masked
in turn and scored by the log-probability the model gives it back. A sentence of n
shared tokens costs n forward passes; every masked variant of every sentence is one row,
and rows are batched by padded tokens (runtime.batching) as the classifiers' rows are.
Only the masked position's hidden state reaches the LM head (a hook on the base model
cuts the rest away), so the head's vocabulary-wide product is paid once per row, not
once per token of the row.

Causal LMs: the summed log-probability of the whole sentence, each token given the ones
before it (after a beginning-of-sequence token, so the first word is scored too), and
the same divided by the number of tokens scored. Rows are right-padded: a causal row
never attends to the positions after it, so a batched row computes what it does alone.

Log-probabilities are taken in float64 from the model's logits, and summed in float64.
"""
from __future__ import annotations

import difflib
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from transformers import AutoModelForCausalLM, AutoModelForMaskedLM, AutoTokenizer
from transformers.models.auto.modeling_auto import (
    MODEL_FOR_CAUSAL_LM_MAPPING_NAMES,
    MODEL_FOR_MASKED_LM_MAPPING_NAMES,
)

from runtime.batching import length_batches
from runtime.device import model_device
from runtime.limits import Encoded
from runtime.limits import encode as encode_limited
from runtime.padding import pad_rows, preferred_pad_id

MASKED_LM = "masked_lm"
CAUSAL_LM = "causal_lm"
LANGUAGE_MODEL_KINDS = (MASKED_LM, CAUSAL_LM)
Progress = Callable[[int, int], None]
LOGP_BYTES = 64 * 2**20  # float64 log-probabilities computed at once (causal LMs)


def architecture_kind(architectures: Sequence[str] | None) -> str | None:
    """MASKED_LM or CAUSAL_LM when every class named is a masked or causal LM transformers
    builds by itself (BertForMaskedLM, GPT2LMHeadModel, LlamaForCausalLM, ...), else None."""
    names = [a for a in architectures or [] if isinstance(a, str)]
    if not names:
        return None
    if all(a in set(MODEL_FOR_MASKED_LM_MAPPING_NAMES.values()) for a in names):
        return MASKED_LM
    if all(a in set(MODEL_FOR_CAUSAL_LM_MAPPING_NAMES.values()) for a in names):
        return CAUSAL_LM
    return None


def folder_kind(folder: Path) -> str | None:
    """architecture_kind of a folder's config.json (already validated by the upload)."""
    try:
        config = json.loads((Path(folder) / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return architecture_kind(config.get("architectures") if isinstance(config, dict) else None)


def load_language_model(folder: Path, kind: str, *, device, dtype: torch.dtype):
    """(model, tokenizer, loading report) of a masked or causal LM folder: safetensors only,
    never remote code, nothing fetched."""
    auto = AutoModelForMaskedLM if kind == MASKED_LM else AutoModelForCausalLM
    model, info = auto.from_pretrained(folder, use_safetensors=True, trust_remote_code=False, local_files_only=True,
                                       output_loading_info=True, dtype=dtype)
    model.to(device).eval()
    tokenizer = AutoTokenizer.from_pretrained(folder, trust_remote_code=False, local_files_only=True)
    return model, tokenizer, info


@dataclass
class SentenceScores:
    """Per sentence: the summed log-probability and how many tokens it sums over."""

    total: np.ndarray  # float64
    tokens: np.ndarray  # int

    @property
    def mean(self) -> np.ndarray:
        """Length-normalised: the mean log-probability per scored token (NaN with none)."""
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(self.tokens > 0, self.total / np.maximum(self.tokens, 1), np.nan)


def shared_positions(a: Sequence[int], b: Sequence[int], skip: set[int]) -> tuple[list[int], list[int]]:
    """Positions of the tokens `a` and `b` share (difflib's equal blocks over token ids),
    in each; tokens in `skip` (the tokenizer's special ids) are left out."""
    matcher = difflib.SequenceMatcher(None, [int(x) for x in a], [int(x) for x in b], autojunk=False)
    left, right = [], []
    for op, a0, a1, b0, b1 in matcher.get_opcodes():
        if op != "equal":
            continue
        for i, j in zip(range(a0, a1), range(b0, b1), strict=True):
            if int(a[i]) not in skip:
                left.append(i)
                right.append(j)
    return left, right


def sentence_ids(tokenizer, texts: Sequence[str], limit: int) -> Encoded:
    """Token ids with the tokenizer's special tokens, cut to `limit` tokens (runtime.limits)."""
    return encode_limited(tokenizer, texts, limit)


def causal_ids(tokenizer, texts: Sequence[str], limit: int) -> Encoded:
    """Token ids that start with a beginning-of-sequence token (the tokenizer's own, else
    its BOS or end-of-text token put first), so the sentence's first token is scored too."""
    start = tokenizer.bos_token_id if tokenizer.bos_token_id is not None else tokenizer.eos_token_id
    encoded = encode_limited(tokenizer, texts, max(limit - 1, 1))
    rows = [row if start is None or (row and row[0] == start) else [start, *row] for row in encoded.ids]
    return Encoded(ids=rows, max_length=limit, truncated=encoded.truncated)


def _masked_rows(sentences: Sequence[Sequence[int]], positions: Sequence[Sequence[int]]):
    """One row per (sentence, masked position): sentence index, position, length."""
    owner = np.fromiter((s for s, ps in enumerate(positions) for _ in ps), dtype=np.int64)
    where = np.fromiter((p for ps in positions for p in ps), dtype=np.int64)
    lengths = np.array([len(sentences[s]) for s in owner], dtype=np.int64)
    return owner, where, lengths


class _KeepPositions:
    """A forward hook on the base model: only each row's masked position goes on to the head."""

    def __init__(self) -> None:
        self.positions: torch.Tensor | None = None

    def __call__(self, _module, _args, output):
        rows = torch.arange(len(self.positions), device=self.positions.device)
        if isinstance(output, tuple):
            return (output[0][rows, self.positions][:, None], *output[1:])
        output.last_hidden_state = output.last_hidden_state[rows, self.positions][:, None]
        return output


def masked_pll(model, tokenizer, sentences: Sequence[Sequence[int]], positions: Sequence[Sequence[int]], *,
               progress: Progress | None = None) -> SentenceScores:
    """Per sentence, the sum over `positions` of log P(token | the sentence with that token
    masked), one masked position per row, rows batched by padded tokens."""
    n = len(sentences)
    total = np.zeros(n, dtype=np.float64)
    counts = np.array([len(p) for p in positions], dtype=np.int64)
    owner, where, lengths = _masked_rows(sentences, positions)
    if owner.size == 0:
        return SentenceScores(total, counts)
    mask_id, pad_id = tokenizer.mask_token_id, preferred_pad_id(model, tokenizer)
    if mask_id is None:
        raise ValueError("the tokenizer has no mask token, so a masked LM cannot be scored")
    device = model_device(model)
    keep = _KeepPositions()
    handle = model.base_model.register_forward_hook(keep)
    done = 0
    try:
        with torch.inference_mode():
            for chunk in length_batches(lengths):
                ids, attention = pad_rows([sentences[s] for s in owner[chunk]], pad_id)
                pos = torch.from_numpy(where[chunk])
                targets = ids[torch.arange(len(chunk)), pos].clone()
                ids[torch.arange(len(chunk)), pos] = mask_id
                keep.positions = pos.to(device)
                logits = model(input_ids=ids.to(device), attention_mask=attention.to(device)).logits
                if logits.shape[1] != 1:  # the hook did not reach the head: read the positions here
                    logits = logits[torch.arange(len(chunk), device=device), keep.positions][:, None]
                logp = torch.log_softmax(logits[:, 0].double(), dim=-1)
                picked = logp.gather(1, targets.to(device)[:, None])[:, 0].cpu().numpy()
                np.add.at(total, owner[chunk], picked)
                done += len(chunk)
                if progress:
                    progress(done, owner.size)
    finally:
        handle.remove()
    return SentenceScores(total, counts)


def causal_log_likelihood(model, tokenizer, sentences: Sequence[Sequence[int]], *,
                          progress: Progress | None = None) -> SentenceScores:
    """Per sentence, the sum of log P(token t | tokens before t) over t >= 1, one row per
    sentence, right-padded, batched by padded tokens."""
    n = len(sentences)
    total = np.zeros(n, dtype=np.float64)
    counts = np.array([max(len(s) - 1, 0) for s in sentences], dtype=np.int64)
    device = model_device(model)
    pad_id = preferred_pad_id(model, tokenizer)
    done = 0
    with torch.inference_mode():
        for chunk in length_batches([len(s) for s in sentences]):
            ids, attention = pad_rows([sentences[i] for i in chunk], pad_id)
            ids, attention = ids.to(device), attention.to(device)
            logits = model(input_ids=ids, attention_mask=attention).logits
            # float64 log-softmax, a few rows at a time: a whole batch's (rows, length,
            # vocabulary) in float64 would not fit beside a large vocabulary.
            step = max(1, LOGP_BYTES // (8 * max(ids.shape[1] - 1, 1) * logits.shape[-1]))
            for start in range(0, len(chunk), step):
                part = logits[start:start + step, :-1].double()
                target = ids[start:start + step, 1:, None]
                picked = part.gather(-1, target)[..., 0] - torch.logsumexp(part, dim=-1)
                real = attention[start:start + step, 1:].bool()  # a padding position is no target
                total[chunk[start:start + step]] = picked.masked_fill(~real, 0.0).sum(dim=1).cpu().numpy()
            done += len(chunk)
            if progress:
                progress(done, n)
    return SentenceScores(total, counts)


@dataclass
class PairScores:
    """Scores of sentence pairs (more and less stereotypical), by one model."""

    kind: str
    more: SentenceScores
    less: SentenceScores
    truncated: int = 0  # sentences cut to the model's token limit


def pair_scores(model, tokenizer, kind: str, more: Sequence[str], less: Sequence[str], *, limit: int,
                progress: Progress | None = None) -> PairScores:
    """Scores of each (more, less) pair: PLL over the shared tokens (masked LM), or the
    log-likelihood of each whole sentence (causal LM)."""
    if len(more) != len(less):
        raise ValueError("more and less sentences must pair up")
    encode = sentence_ids if kind == MASKED_LM else causal_ids
    first, second = encode(tokenizer, more, limit), encode(tokenizer, less, limit)
    a, b = first.ids, second.ids
    truncated = first.truncated + second.truncated
    if kind == CAUSAL_LM:
        scores = causal_log_likelihood(model, tokenizer, a + b, progress=progress)
    else:
        skip = set(int(i) for i in tokenizer.all_special_ids)
        spans = [shared_positions(x, y, skip) for x, y in zip(a, b, strict=True)]
        positions = [s[0] for s in spans] + [s[1] for s in spans]
        scores = masked_pll(model, tokenizer, a + b, positions, progress=progress)
    n = len(a)
    return PairScores(kind=kind, more=SentenceScores(scores.total[:n], scores.tokens[:n]),
                      less=SentenceScores(scores.total[n:], scores.tokens[n:]), truncated=truncated)
