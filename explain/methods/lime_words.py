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
from dataclasses import dataclass, field

import numpy as np
from lime.lime_text import IndexedString, LimeTextExplainer

import runtime
from explain.adaptive import LIME_MIN_SHARE, budgets, stable
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


@dataclass
class _Neighbourhood:
    """One text's full LIME neighbourhood, drawn once; the model's answers for its first
    `answered` rows; the weights fitted at each budget so far."""

    text: str
    explainer: LimeTextExplainer
    indexed: IndexedString
    data: np.ndarray
    strings: list[str]
    distances: np.ndarray
    answers: list[np.ndarray] = field(default_factory=list)
    answered: int = 0
    fit: tuple | None = None
    previous: np.ndarray | None = None
    tried: list[int] = field(default_factory=list)
    stopped: str = ""


def _draw(text: str, seed: int, num_samples: int, num_labels: int) -> _Neighbourhood | None:
    """LIME's own neighbourhood of `text` (its private sampler, as explain_instance calls
    it with a fresh explainer), with no model call; None for a text without words."""
    explainer = make_explainer(seed)
    indexed = IndexedString(text, bow=explainer.bow, split_expression=explainer.split_expression,
                            mask_string=explainer.mask_string)
    if not indexed.num_words():
        return None
    recorded: list[str] = []

    def record(strings):
        recorded.extend(strings)
        return np.zeros((len(strings), num_labels))

    data, _, distances = explainer._LimeTextExplainer__data_labels_distances(indexed, record, num_samples)
    return _Neighbourhood(text, explainer, indexed, data, recorded, distances)


def lime_explain(
    fn: ModelFunction,
    texts: Sequence[str],
    *,
    num_samples: int = 5000,
    seed: int = 0,
    adaptive: bool = False,
) -> list[Attribution]:
    """LIME word weights for the favourable label, one Attribution per text.

    At each budget (explain.adaptive.budgets; only `num_samples` when not `adaptive`) the
    texts not yet stable send the next rows of their neighbourhoods to the model together,
    in one batched call, and LIME's ridge model is fitted on the rows so far.
    """
    predict = classifier_fn(fn)
    label = fn.favourable_id
    hoods = [_draw(text, seed, num_samples, fn.loaded.num_labels) for text in texts]
    for budget in budgets(num_samples, adaptive=adaptive):
        active = [h for h in hoods if h is not None and not h.stopped]
        if not active:
            break
        asked = [s for h in active for s in h.strings[h.answered:budget]]
        answers = predict(asked) if asked else np.zeros((0, fn.loaded.num_labels))
        at = 0
        for hood in active:
            new = budget - hood.answered
            hood.answers.append(answers[at:at + new])
            at, hood.answered = at + new, budget
            _fit(hood, label, budget, num_samples)
    return [_attribution(fn, text, hood, num_samples) for text, hood in zip(texts, hoods, strict=True)]


def _fit(hood: _Neighbourhood, label: int, budget: int, num_samples: int) -> None:
    """LIME's weighted ridge on the first `budget` rows; stop the text when stable or full."""
    labels = np.concatenate(hood.answers)
    hood.fit = hood.explainer.base.explain_instance_with_data(
        hood.data[:budget], labels, hood.distances[:budget], label, 10**6,
        feature_selection=hood.explainer.feature_selection)
    hood.tried.append(budget)
    weights = np.zeros(hood.data.shape[1])
    for feature, weight in hood.fit[1]:
        weights[feature] = weight
    if budget == num_samples:
        hood.stopped = "full"
    elif budget >= LIME_MIN_SHARE * num_samples and stable(hood.previous, weights):
        hood.stopped = "stable"
    hood.previous = weights


def _attribution(fn: ModelFunction, text: str, hood: _Neighbourhood | None, num_samples: int) -> Attribution:
    ids, offsets = encode_with_offsets(fn.loaded, text)
    if hood is None:
        # Nothing to remove (empty or punctuation only): LIME cannot sample, and
        # there is nothing to attribute to.
        return Attribution(tokens=[], token_ids=ids, scores=[], base_value=None, predicted=float(fn([ids])[0]),
                           extra={"unit": "word", "spans": [], "num_samples": 0})
    intercept, local_exp, score, local_pred = hood.fit
    indexed = hood.indexed
    occurrences = []  # (char start, word, weight), in text order
    for feature, weight in local_exp:
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
    budget = hood.tried[-1]
    return Attribution(
        tokens=tokens,
        token_ids=ids,
        scores=scores,
        base_value=float(intercept),
        predicted=float(fn([ids])[0]),
        extra={"unit": "word", "spans": spans, "num_samples": num_samples,
               "budget": budget, "budgets_tried": hood.tried, "stopped": hood.stopped,
               # Neighbours the fit used (the text itself included), and how many of them
               # are distinct inputs: at most that many model forwards, fewer where the
               # cache already held one.
               "evaluations": budget, "distinct_inputs": len(set(hood.strings[:budget])),
               "score": float(score),
               "local_pred": float(np.asarray(local_pred).reshape(-1)[0])},
    )


def _covering(ids, offsets, specials, start: int, end: int) -> tuple[int, int] | None:
    """The first and last+1 positions of the tokens overlapping characters [start, end)."""
    hits = [
        position for position, ((a, b), token_id) in enumerate(zip(offsets, ids, strict=True))
        if token_id not in specials and b > a and a < end and b > start
    ]
    return (hits[0], hits[-1] + 1) if hits else None
