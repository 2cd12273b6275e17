"""Global explanations: which words drive the model over the sample, overall and per group.

Works on the chunk results' word view (explain.run): per example the tokenizer's words,
each method's score per word, the example's groups and its identity-term mentions. A
mention of a lexicon term counts as one feature (a multi-word term's words together);
every other word counts as itself, lower-cased. A feature's importance is the mass of
its absolute scores over the examples (SHAP's global "mean |value|" with absent = 0),
so a word that matters a little everywhere and one that matters a lot once both show.
"""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence

import numpy as np

from explain.tokens import word_units

METHOD_NAMES = {"shap": "SHAP", "lime": "LIME", "ig": "Integrated Gradients", "attention": "attention rollout"}


def identity_mentions(tokenizer, words: Sequence[str], lexicon: Sequence[tuple[str, str]]) -> list[dict]:
    """Mentions of lexicon terms among an example's words: [{"term", "category", "start", "end"}].

    Terms are split into words by the same tokenizer (so case, accents and hyphens are
    treated as the model treats them); the longest term wins where terms overlap.
    """
    patterns = _term_words(tokenizer, tuple((t, c) for t, c in lexicon))
    lowered = [w.lower() for w in words]
    taken = [False] * len(words)
    mentions = []
    for term_words, term, category in patterns:
        for start in range(len(words)):
            end = _match(lowered, start, term_words)
            if end is not None and not any(taken[start:end]):
                mentions.append({"term": term, "category": category, "start": start, "end": end})
                for i in range(start, end):
                    taken[i] = True
    return sorted(mentions, key=lambda m: m["start"])


# Between a term's words, as in audits.identity: a hyphen or a dash ("African-American").
_SEPARATORS = frozenset("-\u2010\u2011\u2012\u2013\u2014\u2015")


def _match(words: Sequence[str], start: int, term_words: Sequence[str]) -> int | None:
    """End (exclusive) of term_words found at `start`, separators allowed between words."""
    position = start
    for index, term_word in enumerate(term_words):
        if index:
            while position < len(words) and words[position] in _SEPARATORS:
                position += 1
        if position >= len(words) or words[position] != term_word:
            return None
        position += 1
    return position


_term_cache: dict[tuple, list] = {}


def _term_words(tokenizer, lexicon: tuple[tuple[str, str], ...]) -> list[tuple[list[str], str, str]]:
    key = (type(tokenizer).__name__, getattr(tokenizer, "name_or_path", ""), len(tokenizer), lexicon)
    if key not in _term_cache:
        patterns = []
        for term, category in lexicon:
            ids = tokenizer(term, add_special_tokens=False)["input_ids"]
            term_words = [w.lower() for w in word_units(tokenizer, ids)[0] if w not in _SEPARATORS]
            if term_words:
                patterns.append((term_words, term, category))
        patterns.sort(key=lambda p: -len(p[0]))  # longest first
        if len(_term_cache) > 8:
            _term_cache.clear()
        _term_cache[key] = patterns
    return _term_cache[key]


def _features(example: Mapping, method: str) -> list[tuple[str, float, str | None]]:
    """(feature, score, the identity category or None) for one example and method."""
    scores = example["word_scores"][method]
    words = example["words"]
    features, covered = [], set()
    for mention in example.get("mentions", ()):
        span = range(mention["start"], mention["end"])
        covered.update(span)
        features.append((mention["term"], float(sum(scores[i] for i in span)), mention["category"]))
    for i, word in enumerate(words):
        if i not in covered:
            features.append((word.lower(), float(scores[i]), None))
    return features


def importance(examples: Sequence[Mapping], method: str, *, top_k: int = 20) -> list[dict]:
    """Top features by importance: [{"word", "mean", "mean_abs", "count", "importance",
    "share", "identity", "rank"}].

    "share" is the feature's part of all features' importance; "identity" is the lexicon
    category where the feature is an identity term, else None.
    """
    total: dict[str, float] = defaultdict(float)
    absolute: dict[str, float] = defaultdict(float)
    count: dict[str, int] = defaultdict(int)
    identity: dict[str, str | None] = {}
    n = 0
    for example in examples:
        if method not in example["word_scores"]:
            continue
        n += 1
        for feature, score, category in _features(example, method):
            total[feature] += score
            absolute[feature] += abs(score)
            count[feature] += 1
            identity[feature] = identity.get(feature) or category
    rows = [
        {"word": f, "mean": total[f] / count[f], "mean_abs": absolute[f] / count[f], "count": count[f],
         "importance": absolute[f] / n, "identity": identity[f]}
        for f in total
    ]
    rows.sort(key=lambda r: (-r["importance"], r["word"]))
    mass = sum(r["importance"] for r in rows)
    for rank, row in enumerate(rows, start=1):
        row["rank"] = rank
        row["share"] = row["importance"] / mass if mass > 0 else 0.0
    return rows[:top_k] if top_k else rows


def identity_share(examples: Sequence[Mapping], method: str) -> float | None:
    """Share of all absolute attribution that falls on identity-term mentions."""
    on_terms = everything = 0.0
    for example in examples:
        if method not in example["word_scores"]:
            continue
        for _, score, category in _features(example, method):
            everything += abs(score)
            on_terms += abs(score) if category else 0.0
    return on_terms / everything if everything > 0 else None


def by_group(examples: Sequence[Mapping]) -> dict[str, dict[str, list[Mapping]]]:
    groups: dict[str, dict[str, list[Mapping]]] = defaultdict(lambda: defaultdict(list))
    for example in examples:
        for attribute, value in (example.get("groups") or {}).items():
            groups[attribute][str(value)].append(example)
    return {a: dict(sorted(values.items())) for a, values in sorted(groups.items())}


def global_importance(
    examples: Sequence[Mapping], methods: Sequence[str], *, top_k: int = 20
) -> dict:
    """{"overall": {method: top}, "groups": {attr: {value: {"examples", method: top}}},
    "identity_share": {"overall": {method: share}, "groups": {attr: {value: {method: share}}}}}."""
    grouped = by_group(examples)
    return {
        "top_k": top_k,
        "overall": {m: importance(examples, m, top_k=top_k) for m in methods},
        "groups": {
            attribute: {
                value: {"examples": len(rows), **{m: importance(rows, m, top_k=top_k) for m in methods}}
                for value, rows in values.items()
            }
            for attribute, values in grouped.items()
        },
        "identity_share": {
            "overall": {m: identity_share(examples, m) for m in methods},
            "groups": {
                attribute: {value: {m: identity_share(rows, m) for m in methods} for value, rows in values.items()}
                for attribute, values in grouped.items()
            },
        },
    }


def identity_drivers(
    overall: Mapping[str, Sequence[Mapping]],
    *,
    signed: Mapping[str, bool],
    favourable: str | None = None,
    max_rank: int = 10,
    min_share: float = 0.05,
) -> list[dict]:
    """Identity terms among each method's top drivers, each with a plain sentence.

    A driver ranks within `max_rank` and carries at least `min_share` of the method's
    importance: on a short sample every word is "in the top 20", and a term that moves
    the output by 0.00 is not worth a sentence.
    """
    label = f" ('{favourable}')" if favourable else ""
    drivers = []
    for method, rows in overall.items():
        name = METHOD_NAMES.get(method, method)
        for row in rows:
            if not row["identity"] or row["rank"] > max_rank or row["share"] < min_share:
                continue
            mentions = f"{row['count']} mention{'s' if row['count'] != 1 else ''}"
            if signed.get(method, True):
                verb = "raises" if row["mean"] >= 0 else "lowers"
                sentence = (f"'{row['word']}' {verb} the probability of the favourable label{label} "
                            f"by {abs(row['mean']):.2f} on average ({name}, {mentions}; rank {row['rank']}).")
            else:
                sentence = (f"'{row['word']}' receives {row['mean']:.2f} of the attention rollout from [CLS] "
                            f"on average ({name}, {mentions}; rank {row['rank']}).")
            drivers.append({"term": row["word"], "category": row["identity"], "method": method, "mean": row["mean"], "count": row["count"],
                            "rank": row["rank"], "share": row["share"], "sentence": sentence})
    return drivers


def mean_or_none(values: Sequence[float]) -> float | None:
    values = [v for v in values if v is not None]
    return float(np.mean(values)) if values else None
