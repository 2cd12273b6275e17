"""Faithfulness (ERASER comprehensiveness and sufficiency) and agreement between methods.

DeYoung et al. 2020 (ERASER): take the top k% of an explanation's units as its
rationale r; comprehensiveness is p(x) - p(x without r) (did removing the evidence hurt
the prediction?), sufficiency p(x) - p(r alone) (was the evidence enough?). AOPC is the
mean over k in 1, 5, 10, 20, 50%. Here p is the probability of the predicted side of
the favourable label: p_fav when the model's top label is the favourable one, 1 - p_fav
otherwise (for two labels exactly the predicted class's probability), and signed
methods rank by evidence for that side. Every method is scored on the same units, the
tokenizer's words (a word's pieces go together), and removal deletes the words' tokens
while [CLS]/[SEP] stay.

All perturbed inputs of all methods and examples go to the model function in one call:
methods that agree on the top words ask for the same inputs, so the engine runs them
once.
"""
from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from itertools import combinations

import numpy as np
from scipy.stats import spearmanr

from explain.attribution import Attribution, word_scores
from explain.engine import ModelFunction
from explain.tokens import Span, word_units

BINS = (0.01, 0.05, 0.10, 0.20, 0.50)


def rationale_size(fraction: float, n_words: int) -> int:
    return min(n_words, max(1, math.ceil(fraction * n_words - 1e-9)))


def ranked_words(attribution: Attribution, spans: Sequence[Span], direction: int) -> list[int]:
    """Word indices, strongest evidence for the predicted side first (ties: earlier word)."""
    scores = word_scores(attribution, spans)
    key = direction * scores if attribution.signed else scores
    return sorted(range(len(spans)), key=lambda w: (-key[w], w))


def _without(ids: Sequence[int], spans: Sequence[Span], words: Sequence[int]) -> list[int]:
    drop = {p for w in words for p in range(*spans[w])}
    return [t for p, t in enumerate(ids) if p not in drop]


def _only(ids: Sequence[int], spans: Sequence[Span], words: Sequence[int]) -> list[int]:
    every = {p for span in spans for p in range(*span)}
    keep = {p for w in words for p in range(*spans[w])}
    return [t for p, t in enumerate(ids) if p not in every or p in keep]


def faithfulness(
    fn: ModelFunction,
    attributions: Mapping[str, Sequence[Attribution]],
    *,
    bins: Sequence[float] = BINS,
) -> dict[str, list[dict | None]]:
    """Per method, per example: {"comprehensiveness", "sufficiency", "bins": {k%: [comp, suff]}}.

    `attributions[method][i]` explain example i; all methods' i-th attributions must be
    of the same input. An example without words gets None.
    """
    plans = []  # (method, example, spans, direction, [(fraction, removed ids, kept ids)])
    requests: list[list[int]] = []
    for method, items in attributions.items():
        for index, attribution in enumerate(items):
            ids = list(attribution.token_ids)
            _, spans = word_units(fn.tokenizer, ids)
            plans.append((method, index, ids, spans))
            requests.append(ids)
    full = fn.probs(requests) if requests else np.zeros((0, 0))
    perturbed: list[list[int]] = []
    layout = []
    for (method, index, ids, spans), probs in zip(plans, full, strict=True):
        direction = 1 if int(np.argmax(probs)) == fn.favourable_id else -1
        steps = []
        if spans:
            order = ranked_words(attributions[method][index], spans, direction)
            for fraction in bins:
                top = order[: rationale_size(fraction, len(spans))]
                steps.append((fraction, len(perturbed)))
                perturbed.append(_without(ids, spans, top))
                perturbed.append(_only(ids, spans, top))
        layout.append((method, index, direction, float(probs[fn.favourable_id]), steps))
    answers = fn(perturbed) if perturbed else np.zeros(0)

    out: dict[str, list[dict | None]] = {m: [None] * len(items) for m, items in attributions.items()}
    for method, index, direction, p, steps in layout:
        if not steps:
            continue
        per_bin = {}
        for fraction, at in steps:
            comp = direction * (p - answers[at])
            suff = direction * (p - answers[at + 1])
            per_bin[_percent(fraction)] = [float(comp), float(suff)]
        values = np.array(list(per_bin.values()))
        out[method][index] = {
            "comprehensiveness": float(values[:, 0].mean()),
            "sufficiency": float(values[:, 1].mean()),
            "bins": per_bin,
        }
    return out


def _percent(fraction: float) -> str:
    return f"{fraction * 100:g}%"


def summarise(per_example: Mapping[str, Sequence[dict | None]]) -> dict[str, dict]:
    """AOPC per method averaged over examples (the figures the report shows)."""
    summary = {}
    for method, rows in per_example.items():
        rows = [r for r in rows if r is not None]
        summary[method] = {
            "comprehensiveness": float(np.mean([r["comprehensiveness"] for r in rows])) if rows else None,
            "sufficiency": float(np.mean([r["sufficiency"] for r in rows])) if rows else None,
            "examples": len(rows),
        }
    return summary


def pair_key(a: str, b: str) -> str:
    return f"{a}~{b}"


def example_agreement(scores: Mapping[str, Sequence[float]], signed: Mapping[str, bool]) -> dict[str, float | None]:
    """Spearman rank correlation of word scores for every pair of methods, one example.

    Two signed methods are compared on signed scores; a pair with an unsigned method
    (attention) on magnitudes, since a share of attention has no direction. None where
    the correlation is undefined (fewer than two words, or one method constant).
    """
    out: dict[str, float | None] = {}
    for a, b in combinations(list(scores), 2):
        x, y = np.asarray(scores[a], dtype=float), np.asarray(scores[b], dtype=float)
        if not (signed[a] and signed[b]):
            x, y = np.abs(x), np.abs(y)
        rho = None
        if len(x) >= 2 and np.ptp(x) > 0 and np.ptp(y) > 0:
            rho = float(spearmanr(x, y).statistic)
        out[pair_key(a, b)] = rho
    return out


def mean_agreement(per_example: Sequence[Mapping[str, float | None]]) -> dict[str, dict]:
    pairs: dict[str, list[float]] = {}
    for row in per_example:
        for key, rho in row.items():
            pairs.setdefault(key, [])
            if rho is not None and not math.isnan(rho):
                pairs[key].append(rho)
    return {
        key: {"spearman": float(np.mean(values)) if values else None, "examples": len(values)}
        for key, values in pairs.items()
    }
