"""Identity terms: the editable lexicon, and groups derived from the terms a text mentions.

For text without demographic columns, the platform groups texts by the identities they
mention (Dixon et al., AIES 2018; the Jigsaw bias benchmarks): one attribute per
lexicon category, whose value is the term a text mentions, "several" when it mentions
more than one term of the category, and "none" when it mentions none. "none" is the
privileged (background) group every mention is compared against.
"""
from __future__ import annotations

import csv
import re
from collections.abc import Iterable, Sequence
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from audits.errors import BadInput

if TYPE_CHECKING:
    from audits.models import Organisation

DEFAULT_LEXICON_PATH = Path(__file__).parent / "data" / "identity_terms.csv"
DEFAULT_CATEGORY = "identity"
NONE = "none"
SEVERAL = "several"
PRIVILEGED = NONE

Lexicon = list[tuple[str, str]]


def _normal_term(term: str) -> str:
    return " ".join(term.lower().split())


def default_lexicon() -> Lexicon:
    """The shipped lexicon (audits/data/identity_terms.csv), as (term, category) pairs."""
    return list(_default_lexicon())


@lru_cache(maxsize=1)
def _default_lexicon() -> tuple[tuple[str, str], ...]:
    with DEFAULT_LEXICON_PATH.open(encoding="utf-8", newline="") as handle:
        return tuple((_normal_term(r["term"]), r["category"].strip()) for r in csv.DictReader(handle))


def parse_lexicon(text: str) -> Lexicon:
    """Pairs from lines "term,category" or "term" (category "identity"); blank and # lines skipped.

    Terms are compared lower-cased, with a hyphen or any run of spaces as one space,
    so a term listed twice in different spellings is caught as a duplicate.
    """
    lexicon: Lexicon = []
    seen: dict[str, int] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        parts = [part.strip() for part in stripped.split(",")]
        if len(parts) > 2:
            raise BadInput(f"Identity terms, line {number}: {stripped!r} has more than one comma; "
                           "write \"term,category\" or just \"term\".")
        term = _normal_term(parts[0])
        category = parts[1] if len(parts) == 2 else DEFAULT_CATEGORY
        if not re.search(r"\w", term):
            raise BadInput(f"Identity terms, line {number}: {stripped!r} has no term before the comma.")
        if not category:
            raise BadInput(f"Identity terms, line {number}: {stripped!r} has an empty category after the comma.")
        if category.lower() in {NONE, SEVERAL}:
            # Those are the derived columns' own values; a category by that name would be ambiguous.
            raise BadInput(f"Identity terms, line {number}: {category!r} cannot be a category name.")
        if _key(term) in seen:
            raise BadInput(
                f"Identity terms, line {number}: {term!r} is already listed on line {seen[_key(term)]}."
            )
        seen[_key(term)] = number
        lexicon.append((term, category))
    return lexicon


def lexicon_for(organisation: Organisation) -> Lexicon:
    """The organisation's own lexicon when it has set one, else the shipped default."""
    text = (organisation.identity_terms or "").strip()
    return parse_lexicon(text) if text else default_lexicon()


def find_terms(texts: Iterable[str], lexicon: Sequence[tuple[str, str]]) -> list[list[str]]:
    """For each text, the distinct lexicon terms it mentions, in order of first mention.

    Whole words, any case; a multi-word term wins over its parts ("African American"
    is that term only, not also "african" and "american"), and its words may be
    separated by any whitespace, a hyphen or a dash.
    """
    pattern, canonical = _compiled(tuple(term for term, _ in lexicon))
    found: list[list[str]] = []
    for text in texts:
        if not isinstance(text, str) or pattern is None:
            found.append([])
            continue
        terms: dict[str, None] = {}  # an ordered set
        for match in pattern.finditer(text.lower()):
            terms[canonical[_key(match.group(0))]] = None
        found.append(list(terms))
    return found


# Between the words of a term: spaces, line breaks, a hyphen or a dash ("African–American").
_SEPARATOR = r"[\s\-\u2010-\u2015]+"
_SEPARATORS = re.compile(_SEPARATOR)


def _key(term: str) -> str:
    """What two spellings of one term share: lower case, any run of separators as one space."""
    return _SEPARATORS.sub(" ", term.lower()).strip()


@lru_cache(maxsize=16)
def _compiled(terms: tuple[str, ...]) -> tuple[re.Pattern[str] | None, dict[str, str]]:
    """One regex for the whole lexicon, to be run on lower-cased text.

    The alternation is shaped as a trie ("a(?:frican(?:[\\s\\-]+american)?|sian)"):
    Python's engine tries every alternative at every position, so sharing prefixes
    makes it about twice as fast as a flat list, and the greedy optional parts try the
    longer term first, which is what makes "african american" win over "african".
    """
    canonical = {_key(term): _normal_term(term) for term in terms if _key(term)}
    if not canonical:
        return None, canonical
    trie: dict = {}
    for key in canonical:
        node = trie
        for char in key:
            node = node.setdefault(char, {})
        node[""] = {}  # a term ends here
    # Look-arounds rather than \b: a term may begin or end with a non-word character.
    return re.compile(rf"(?<!\w)(?:{_trie_pattern(trie)})(?!\w)"), canonical


def _trie_pattern(node: dict) -> str:
    ends = "" in node
    branches = [
        (_SEPARATOR if char == " " else re.escape(char)) + _trie_pattern(child)
        for char, child in sorted(node.items()) if char
    ]
    if not branches:
        return ""
    body = branches[0] if len(branches) == 1 else "(?:" + "|".join(branches) + ")"
    if ends:
        body = f"(?:{body})?" if len(branches) == 1 else body + "?"
    return body


def identity_groups(texts: Sequence[str], lexicon: Sequence[tuple[str, str]]) -> pd.DataFrame:
    """One column per category (in lexicon order): the term mentioned, "several" or "none"."""
    category_of = {_normal_term(term): category for term, category in lexicon}
    categories = list(dict.fromkeys(category for _, category in lexicon))
    columns: dict[str, list[str]] = {category: [] for category in categories}
    for mentioned in find_terms(texts, lexicon):
        per_category: dict[str, list[str]] = {}
        for term in mentioned:
            per_category.setdefault(category_of[term], []).append(term)
        for category in categories:
            terms = per_category.get(category, [])
            columns[category].append(terms[0] if len(terms) == 1 else SEVERAL if terms else NONE)
    index = texts.index if isinstance(texts, pd.Series) else pd.RangeIndex(len(texts))
    return pd.DataFrame(columns, index=index, dtype="str")
