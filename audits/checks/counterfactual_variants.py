"""Counterfactual text variants: each identity term a text mentions, swapped for the others of its category.

A variant changes exactly one term of one text: every occurrence of that term (in any
spelling the lexicon's matcher accepts) is replaced by one other term of the same
category, with the case of each occurrence carried over ("Gay" -> "Straight", "GAY" ->
"STRAIGHT", "African American" -> "Middle Eastern"). A text mentioning several terms
yields variants for each of them, one term at a time, so every difference in the
model's output is caused by one swap. A swap to a term the text already mentions is left
out: "gay and straight couples" -> "straight and straight couples" does not put one
identity in place of another, it deletes one.

What counts as a mention is audits.identity's definition (whole words, any case, a
multi-word term winning over its parts), so the variants cover exactly the texts that
the identity-term groups of the other checks count as mentioning a term.

The number of variants grows with the lexicon (17 ethnicity terms give 16 swaps per
mention), so it is capped per text and in total; when a cap bites, the variants kept
are a seeded uniform sample, and the caller says so in its finding.
"""
from __future__ import annotations

import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np

# The identity module's matcher is reused, not re-implemented, so that "mentions a
# term" means the same thing here as in the identity-term groups.
from audits.identity import _SEPARATORS, _compiled, _key

MAX_PER_TEXT = 20
MAX_TOTAL = 20_000
# Characters of unchanged text kept either side of a difference in a side-by-side example.
EXCERPT_CONTEXT = 120
EXCERPT_MAX = 600


@dataclass(frozen=True)
class Variant:
    row: int  # index of the original text
    category: str
    term: str  # the lexicon term the original mentions
    swap: str  # the lexicon term put in its place
    text: str


@dataclass
class Variants:
    items: list[Variant]
    possible: int  # swaps before any cap
    texts_capped: int  # texts whose swaps were sampled down to the per-text cap
    total_capped: bool  # the total cap sampled the remaining swaps down further
    per_text: int
    total: int
    # category -> how many texts mention at least one of its terms
    mentions: dict[str, int] = field(default_factory=dict)

    @property
    def capped(self) -> bool:
        return self.texts_capped > 0 or self.total_capped


def match_case(found: str, swap: str) -> str:
    """`swap` (a lower-case lexicon term) written in the case of the text it replaces.

    All capitals stay all capitals; a multi-word term with every word capitalised gives
    a title-cased swap; otherwise only the first letter's case is carried over, since a
    capital at the start of a sentence says nothing about the words after it.
    """
    letters = [c for c in found if c.isalpha()]
    if len(letters) > 1 and all(c.isupper() for c in letters):
        return swap.upper()
    words = [w for w in _SEPARATORS.split(found) if w]
    if len(words) > 1 and all(w[0].isupper() for w in words):
        return " ".join(w[:1].upper() + w[1:] for w in swap.split(" "))
    if found[:1].isupper():
        return swap[:1].upper() + swap[1:]
    return swap


@lru_cache(maxsize=16)
def _matcher(terms: tuple[str, ...]) -> tuple[re.Pattern[str] | None, dict[str, str]]:
    pattern, canonical = _compiled(terms)
    if pattern is None:
        return None, canonical
    # identity's pattern is written for lower-cased text. Run case-insensitively on the
    # text itself instead, so the spans are the original's (lower() can change a
    # string's length, e.g. "İ") and the case of each occurrence can be carried over.
    return re.compile(pattern.pattern, re.IGNORECASE), canonical


def _replace(text: str, found: list[tuple[int, int, str]], term: str, swap: str) -> str:
    pieces, last = [], 0
    for start, end, mentioned in found:
        if mentioned == term:
            pieces += [text[last:start], match_case(text[start:end], swap)]
            last = end
    pieces.append(text[last:])
    return "".join(pieces)


def generate_variants(
    texts: Sequence[str], lexicon: Sequence[tuple[str, str]], *,
    per_text: int = MAX_PER_TEXT, total: int = MAX_TOTAL, seed: int = 0,
) -> Variants:
    """Every one-term swap of every text, capped per text and in total by a seeded sample.

    Variants come in text order, then in order of first mention, then in lexicon order
    of the swap; sampling keeps that order.
    """
    if per_text < 1 or total < 1:
        raise ValueError(f"Variant caps must be at least 1, not per_text={per_text}, total={total}.")
    pattern, canonical = _matcher(tuple(term for term, _ in lexicon))
    category_of: dict[str, str] = {}
    for term, category in lexicon:
        if _key(term) in canonical:
            category_of.setdefault(canonical[_key(term)], category)
    members: dict[str, list[str]] = {}
    for term, category in category_of.items():
        members.setdefault(category, []).append(term)

    rng = np.random.default_rng(seed)
    specs: list[tuple[int, str, str]] = []
    found_in: dict[int, list[tuple[int, int, str]]] = {}
    mentions: dict[str, int] = {}
    possible = texts_capped = 0
    for row, text in enumerate(texts):
        if pattern is None or not isinstance(text, str):
            continue
        found = [(m.start(), m.end(), canonical[_key(m.group(0))]) for m in pattern.finditer(text)]
        mentioned = list(dict.fromkeys(term for _, _, term in found))
        for category in dict.fromkeys(category_of[t] for t in mentioned):
            mentions[category] = mentions.get(category, 0) + 1
        swaps = [(row, term, swap) for term in mentioned for swap in members[category_of[term]]
                 if swap not in mentioned]
        if not swaps:
            continue
        possible += len(swaps)
        if len(swaps) > per_text:
            texts_capped += 1
            swaps = [swaps[i] for i in np.sort(rng.choice(len(swaps), size=per_text, replace=False))]
        found_in[row] = found
        specs.extend(swaps)
    total_capped = len(specs) > total
    if total_capped:
        specs = [specs[i] for i in np.sort(rng.choice(len(specs), size=total, replace=False))]
    # Strings are built only for the swaps kept: the candidates can be many times more.
    items = [Variant(row, category_of[term], term, swap, _replace(texts[row], found_in[row], term, swap))
             for row, term, swap in specs]
    return Variants(items, possible, texts_capped, total_capped, per_text, total, mentions)


def side_by_side(original: str, variant: str, context: int = EXCERPT_CONTEXT,
                 limit: int = EXCERPT_MAX) -> tuple[str, str]:
    """Both texts cut to the stretch where they differ, with `context` characters either side.

    Comments run to thousands of characters; a reviewer needs the swap and its
    surroundings, and the report should not carry every text twice.
    """
    prefix = len(os.path.commonprefix([original, variant]))
    room = min(len(original), len(variant)) - prefix
    suffix = min(room, len(os.path.commonprefix([original[::-1], variant[::-1]])))
    start = max(0, prefix - context)

    def cut(text: str) -> str:
        end = min(len(text) - suffix + context, len(text), start + limit)
        return ("..." if start > 0 else "") + text[start:end] + ("..." if end < len(text) else "")

    return cut(original), cut(variant)
