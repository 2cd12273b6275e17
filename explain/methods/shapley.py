"""SHAP: shap's Partition explainer with its Text masker, working on token ids.

shap.maskers.Text tokenises a string and, with output_type="token_ids", hands the
model arrays of ids with masked tokens replaced by the mask token id. We keep that
masker (its partition tree over tokens, its masking rules, its kept [CLS]/[SEP]) and
give it a tokenizer shim whose "strings" are renderings of our own token-id sequences:
the masker "tokenises" a rendering back to exactly the ids we started from, so the
text is never decoded and re-tokenised, and every masked input goes straight to the
batched, cached `ModelFunction`.

The unit is the token (word piece); SHAP values are additive, so summing pieces gives
word values (explain.attribution.word_scores).
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import shap
import shap.explainers._partition

import runtime
from explain.adaptive import budgets, shap_top_k, stable
from explain.attribution import Attribution
from explain.engine import ModelFunction
from explain.lockstep import Gather, install, run_threads, thread_random
from explain.tokens import continuation_prefix, continuation_rule, special_ids, token_units


class IdTokenizer:
    """What shap.maskers.Text needs from a tokenizer, over renderings of id sequences.

    `render(ids)` returns a string standing for `ids` and remembers which ids (and which
    character span per token) it stands for. The rendering reads like the text the ids
    came from: word pieces joined without a space, words with one, special tokens empty
    at offset (0, 0), as the real tokenizer's offsets make them. The masker builds its
    partition tree from those segments, so the tree is the one naive use (shap.Explainer
    on a pipeline) builds from the raw text (bench/explain_shap.py: with tokens joined
    by spaces, [CLS]/[SEP] became "[CLS]"/"[SEP]" segments that the tree keeps apart,
    and rank agreement with naive use fell to 0.5 on a 56-token comment). Where two
    sequences read alike, the second falls back to every token spaced apart. The empty
    string, which shap tokenises to find the special tokens kept around every input, is
    answered with `null_ids` when given (the runtime's: none for a prompted classifier's
    text slot, whatever its tokenizer adds alone). Anything else goes to the real
    tokenizer; so do attribute look-ups.
    """

    def __init__(self, tokenizer, null_ids: Sequence[int] | None = None) -> None:
        self._tokenizer = tokenizer
        self._known: dict[str, tuple[list[int], list[tuple[int, int]]]] = {}
        self._specials = special_ids(tokenizer)
        if null_ids is not None:
            self._known[""] = ([int(i) for i in null_ids], [(0, 0)] * len(null_ids))

    def render(self, ids: Sequence[int]) -> str:
        ids = [int(i) for i in ids]
        pieces = self._tokenizer.convert_ids_to_tokens(ids)
        for spaced in (False, True):
            text, offsets = self._layout(ids, pieces, spaced)
            known = self._known.get(text)
            if known is None or known[0] == ids:
                self._known[text] = (ids, offsets)
                return text
        raise ValueError(f"Two token sequences render alike: {text!r}")

    def _layout(self, ids, pieces, spaced: bool) -> tuple[str, list[tuple[int, int]]]:
        continues = continuation_rule(self._tokenizer, pieces)
        prefix = continuation_prefix(self._tokenizer) or ""
        parts: list[str] = []
        offsets, position = [], 0
        for token_id, piece in zip(ids, pieces, strict=True):
            if token_id in self._specials:
                offsets.append((0, 0))
                continue
            if spaced:
                segment = "_".join(piece.split()) or "_"
            else:
                segment = self._tokenizer.convert_tokens_to_string([piece]).strip() or "_".join(piece.split()) or "_"
                if prefix and segment.startswith(prefix):
                    segment = segment[len(prefix):] or segment
            joined = not spaced and parts and continues(piece)
            if parts and not joined:
                parts.append(" ")
                position += 1
            parts.append(segment)
            offsets.append((position, position + len(segment)))
            position += len(segment)
        return "".join(parts), offsets

    def __call__(self, text, return_offsets_mapping=False, **kwargs):
        if text in self._known:
            ids, offsets = self._known[text]
            out = {"input_ids": list(ids)}
            if return_offsets_mapping:
                out["offset_mapping"] = list(offsets)
            return out
        return self._tokenizer(text, return_offsets_mapping=return_offsets_mapping, **kwargs)

    def __getattr__(self, name):
        if name.startswith("__") or name in ("_tokenizer", "_known", "_specials"):
            # Not ours to delegate (copy/pickle probe these before __init__ has run).
            raise AttributeError(name)
        return getattr(self._tokenizer, name)


def mask_id(tokenizer) -> int:
    """[MASK] where the vocabulary has one (what the model saw in pre-training), else unk, else
    pad, else end-of-sequence (byte-level causal LMs often have nothing else)."""
    for candidate in (tokenizer.mask_token_id, tokenizer.unk_token_id, tokenizer.pad_token_id,
                      tokenizer.eos_token_id):
        if candidate is not None:
            return int(candidate)
    raise ValueError("The tokenizer has no mask, unknown, padding or end token to mask with.")


def id_masker(tokenizer, null_ids: Sequence[int] | None = None) -> tuple[shap.maskers.Text, IdTokenizer]:
    """A Text masker that outputs token ids, and the shim whose renderings it reads."""
    shim = IdTokenizer(tokenizer, null_ids)
    masker = shap.maskers.Text(shim, mask_token=mask_id(tokenizer), output_type="token_ids")
    return masker, shim


install(shap.explainers._partition)


def shap_explain(
    fn: ModelFunction,
    ids_list: Sequence[Sequence[int]],
    *,
    max_evals: int = 500,
    seed: int = 0,
    batch_size: int | None = None,
    adaptive: bool = False,
) -> list[Attribution]:
    """Partition SHAP values of the favourable probability, one Attribution per input.

    Each text gets at most `max_evals` model evaluations (shap's own budget); its
    explainer asks for `batch_size` masked inputs at a time. The texts are explained side
    by side, their requests answered together (explain.lockstep). `adaptive`: grow the
    budget and stop when the top tokens are stable (explain.adaptive).
    """
    # The special tokens the runtime puts around every input, which the masker keeps.
    null_ids = [i for i in runtime.tokenize(fn.loaded, [""])[0] if i in special_ids(fn.tokenizer)]
    ids_list = [[int(i) for i in ids] for ids in ids_list]
    predicted = fn(ids_list) if ids_list else np.zeros(0)
    batch_size = batch_size or fn.batch_size
    gather = Gather(fn, len(ids_list))

    def explain_one(i: int) -> Attribution:
        ids = ids_list[i]
        masker, shim = id_masker(fn.tokenizer, null_ids)
        model = lambda batch: gather(batch)  # noqa: E731 - a plain function: shap probes model objects for framework types
        explainer = shap.explainers.Partition(model, masker)
        tokens, spans = token_units(fn.tokenizer, ids)
        values, base, tried, why = _grown(explainer, shim.render(ids), [start for start, _ in spans],
                                          max_evals=max_evals, seed=seed, batch_size=batch_size,
                                          adaptive=adaptive)
        return Attribution(
            tokens=tokens,
            token_ids=ids,
            scores=[float(values[start]) for start, _ in spans],
            base_value=base,
            predicted=float(predicted[i]),
            extra={"unit": "token", "spans": [list(s) for s in spans], "max_evals": max_evals,
                   "budget": tried[-1], "budgets_tried": tried, "stopped": why,
                   # Masked inputs shap asked for at the last budget, f(x) and f(background)
                   # included (the model runs fewer: the cache answers repeats and the
                   # smaller budgets' inputs again).
                   "evaluations": int(explainer.last_eval_count) + 2,
                   "mask_token_id": masker.mask_token_id,
                   # Values on [CLS]/[SEP] are zero (the masker keeps them); the rest add up
                   # to predicted - base_value.
                   "additivity_gap": float(base + values.sum() - predicted[i])},
        )

    return run_threads(explain_one, len(ids_list), gather)


def _grown(explainer, text: str, units: list[int], *, max_evals: int, seed: int, batch_size: int,
           adaptive: bool) -> tuple[np.ndarray, float, list[int], str]:
    """(values, base value, budgets tried, why it stopped) of one text: at each budget of
    explain.adaptive.budgets until its top tokens (`units`: their positions; special
    tokens are not units) are stable, the partition tree is exhausted (the values are
    exact), or the full budget is spent."""
    k = shap_top_k(len(units))
    tried: list[int] = []
    previous = None
    for budget in budgets(max_evals, adaptive=adaptive):
        # Seeded per run: the partition explainer breaks priority ties with randn, so a
        # text's values depend on the seed alone, and each budget walks the tree as the
        # last one did before going further.
        with thread_random(seed):
            explanation = explainer([text], max_evals=budget, batch_size=batch_size, silent=True)
        tried.append(budget)
        values = np.asarray(explanation.values[0], dtype=np.float64)
        base = float(np.asarray(explanation.base_values).reshape(-1)[0])
        if budget == max_evals:
            return values, base, tried, "full"
        if explainer.last_eval_count + 2 < budget:
            return values, base, tried, "exhausted"
        if stable(previous, values[units], k):
            return values, base, tried, "stable"
        previous = values[units]
    raise AssertionError("budgets() ends at the full budget")
