"""Identity terms: the shipped and edited lexicons, term matching, and groups derived from text."""
from __future__ import annotations

import csv
from pathlib import Path

import pandas as pd
import pytest

from audits.errors import BadInput
from audits.identity import (
    DEFAULT_LEXICON_PATH,
    default_lexicon,
    find_terms,
    identity_groups,
    lexicon_for,
    parse_lexicon,
)
from audits.models import Organisation

WIKI = Path("/work/shared/data/wiki_toxicity.csv")


def test_default_lexicon_covers_every_shipped_term():
    lexicon = default_lexicon()
    words = [w.strip() for w in (DEFAULT_LEXICON_PATH.parent / "identity_terms.txt").read_text().splitlines() if w.strip()]
    assert [term for term, _ in lexicon] == words
    assert {category for _, category in lexicon} == {
        "gender", "sexuality", "ethnicity", "religion", "age", "disability"
    }
    with (DEFAULT_LEXICON_PATH.parent / "madlib_words.csv").open(encoding="utf-8") as handle:
        madlib = {r["word"]: r["subtype"] for r in csv.DictReader(handle) if r["type"] == "identity"}
    assert all(madlib[term] == category for term, category in lexicon)
    assert dict(lexicon)["african american"] == "ethnicity"


def test_parse_lexicon_formats_and_comments():
    text = "# our own list\n\nGay,sexuality\n  african   american , ethnicity\nveteran\n"
    assert parse_lexicon(text) == [("gay", "sexuality"), ("african american", "ethnicity"), ("veteran", "identity")]


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("gay,sexuality\na,b,c\n", "line 2: 'a,b,c' has more than one comma"),
        ("gay,\n", "line 1: 'gay,' has an empty category"),
        (",sexuality\n", "line 1: ',sexuality' has no term"),
        ("gay\n# x\nGAY,sexuality\n", "line 3: 'gay' is already listed on line 1"),
        ("middle aged,age\nmiddle-aged,age\n", "line 2"),
        ("old,none\n", "'none' cannot be a category name"),
    ],
)
def test_parse_lexicon_refuses_bad_lines(text, fragment):
    with pytest.raises(BadInput, match="Identity terms") as caught:
        parse_lexicon(text)
    assert fragment in str(caught.value)


@pytest.mark.django_db
def test_lexicon_for_organisation():
    org = Organisation.objects.create(name="Lex")
    assert lexicon_for(org) == default_lexicon()
    org.identity_terms = "nurse,occupation\n"
    assert lexicon_for(org) == [("nurse", "occupation")]


def test_multi_word_terms_win_over_their_parts():
    lexicon = default_lexicon()
    assert find_terms(["An African American writer"], lexicon) == [["african american"]]
    assert find_terms(["African-American and African–American"], lexicon) == [["african american"]]
    assert find_terms(["middle\n aged man"], lexicon) == [["middle aged"]]
    assert find_terms(["african american and african"], lexicon) == [["african american", "african"]]
    # A multi-word term must start on a word boundary; its last word still counts alone.
    assert find_terms(["xafrican american"], lexicon) == [["american"]]


def test_case_and_word_boundaries():
    lexicon = default_lexicon()
    texts = ["GAY Pride", "the gayety of nations", "gay's rights", "LGBTQ and lgbt", "older, not olde", "", None]
    assert find_terms(texts, lexicon) == [["gay"], [], ["gay"], ["lgbtq", "lgbt"], ["older"], [], []]


def test_terms_with_punctuation_and_empty_lexicon():
    lexicon = [("c++", "skill"), ("#metoo", "movement")]
    assert find_terms(["I code c++ daily #MeToo"], lexicon) == [["c++", "#metoo"]]
    assert find_terms(["anything"], []) == [[]]
    assert identity_groups(["a", "b"], []).shape == (2, 0)


def test_identity_groups_values():
    lexicon = [("gay", "sexuality"), ("lesbian", "sexuality"), ("muslim", "religion")]
    groups = identity_groups(pd.Series(["gay and lesbian", "a muslim man", "nothing here", "gay gay"]), lexicon)
    assert list(groups.columns) == ["sexuality", "religion"]
    assert groups["sexuality"].tolist() == ["several", "none", "none", "gay"]
    assert groups["religion"].tolist() == ["none", "muslim", "none", "none"]


def test_identity_groups_on_real_comments():
    frame = pd.read_csv(WIKI).set_index("rev_id")
    rev_ids = [55731518, 36300394, 141234659, 598296]
    groups = identity_groups(frame.loc[rev_ids, "comment"], default_lexicon())
    assert groups.loc[55731518].to_dict() == {
        "sexuality": "gay", "gender": "none", "ethnicity": "none", "religion": "none", "age": "none", "disability": "none"
    }
    assert groups.loc[36300394, "ethnicity"] == "several"  # "American" and "Canadian"
    assert (groups.loc[141234659, "religion"], groups.loc[141234659, "age"]) == ("protestant", "old")
    assert set(groups.loc[598296]) == {"none"}

