"""LIME: lime's LimeTextExplainer, fed by the batched, cached model function.

LIME perturbs the raw text (it removes words) and asks its classifier for all
`num_samples` neighbours at once. Our classifier_fn tokenises those strings in one call
and hands the ids to `ModelFunction`, which runs each distinct neighbour once (a short
text has few distinct word subsets, so most of the 5,000 are repeats). Everything else
is LIME's own: the same explainer with the same random_state draws the same
neighbourhood and fits the same ridge model as naive use.

The unit is LIME's word (a run of \\w characters); `extra["spans"]` are the model-input
positions of the tokens each word occurrence covers, found from the tokenizer's
character offsets. Words beyond the model's length limit have no positions and are
left out; LIME sees them have no effect anyway.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from lime.lime_text import IndexedString, LimeTextExplainer

import runtime
from explain.attribution import Attribution
from explain.engine import ModelFunction
from explain.tokens import encode_with_offsets, special_ids


def classifier_fn(fn: ModelFunction):
    """LIME's classifier: strings in, (n, num_labels) probabilities out, through `fn`."""
    def predict(strings: Sequence[str]) -> np.ndarray:
        # Tokenising costs more than the forward pass for long texts; a short text's
        # neighbourhood repeats itself, so each distinct string is tokenised once.
        unique = list(dict.fromkeys(strings))
        where = {string: i for i, string in enumerate(unique)}
        probs = fn.probs(runtime.tokenize(fn.loaded, unique))
        return probs[[where[string] for string in strings]]
    return predict


def make_explainer(seed: int) -> LimeTextExplainer:
    """The explainer lime_explain uses; a fresh one per text so each text's neighbourhood
    depends on the seed alone, not on which texts were explained before it."""
    return LimeTextExplainer(random_state=seed, feature_selection="none")


def lime_explain(
    fn: ModelFunction,
    texts: Sequence[str],
    *,
    num_samples: int = 5000,
    seed: int = 0,
) -> list[Attribution]:
    """LIME word weights for the favourable label, one Attribution per text."""
    predict = classifier_fn(fn)
    label = fn.favourable_id
    results = []
    for text in texts:
        explainer = make_explainer(seed)
        ids, offsets = encode_with_offsets(fn.loaded, text)
        if not IndexedString(text, split_expression=explainer.split_expression, bow=explainer.bow).num_words():
            # Nothing to remove (empty or punctuation only): LIME cannot sample, and
            # there is nothing to attribute to.
            results.append(Attribution(tokens=[], token_ids=ids, scores=[], base_value=None,
                                       predicted=float(fn([ids])[0]),
                                       extra={"unit": "word", "spans": [], "num_samples": 0}))
            continue
        explanation = explainer.explain_instance(
            text, predict, labels=(label,), num_features=10**6, num_samples=num_samples
        )
        weights = dict(explanation.as_map()[label])
        indexed = explanation.domain_mapper.indexed_string
        occurrences = []  # (char start, word, weight), in text order
        for feature, weight in weights.items():
            word = indexed.word(feature)
            for start in indexed.string_position(feature):
                occurrences.append((int(start), word, float(weight)))
        occurrences.sort()
        tokens, scores, spans = [], [], []
        specials = special_ids(fn.tokenizer)
        for start, word, weight in occurrences:
            span = _covering(ids, offsets, specials, start, start + len(word))
            if span is None:
                continue
            tokens.append(str(word))
            scores.append(weight)
            spans.append(list(span))
        results.append(Attribution(
            tokens=tokens,
            token_ids=ids,
            scores=scores,
            base_value=float(explanation.intercept[label]),
            predicted=float(fn([ids])[0]),
            extra={"unit": "word", "spans": spans, "num_samples": num_samples,
                   "score": float(explanation.score),
                   "local_pred": float(np.asarray(explanation.local_pred).reshape(-1)[0])},
        ))
    return results


def _covering(ids, offsets, specials, start: int, end: int) -> tuple[int, int] | None:
    """The first and last+1 positions of the tokens overlapping characters [start, end)."""
    hits = [
        position for position, ((a, b), token_id) in enumerate(zip(offsets, ids, strict=True))
        if token_id not in specials and b > a and a < end and b > start
    ]
    return (hits[0], hits[-1] + 1) if hits else None
