"""Global importance per group, identity terms called out, their share of attribution."""
from __future__ import annotations

import pytest

from explain.aggregate import global_importance, identity_drivers, identity_mentions, importance
from explain.tokens import word_units

LEXICON = [("gay", "sexuality"), ("african", "ethnicity"), ("african american", "ethnicity"),
           ("muslim", "religion")]


def test_mentions_follow_the_tokenizer_and_prefer_the_longer_term(loaded):
    text = "Unbelievably, an African-American and an African, both GAY."
    words, _ = word_units(loaded.tokenizer, loaded.tokenizer(text)["input_ids"])
    assert words[:3] == ["unbelievably", ",", "an"]  # pieces merged into words
    mentions = identity_mentions(loaded.tokenizer, words, LEXICON)
    assert [(m["term"], words[m["start"]:m["end"]]) for m in mentions] == [
        ("african american", ["african", "-", "american"]),
        ("african", ["african"]),
        ("gay", ["gay"]),
    ]


def _example(words, scores, group, mentions=()):
    return {"words": words, "word_scores": {"shap": scores, "attention": [abs(s) for s in scores]},
            "groups": {"sexuality": group}, "mentions": list(mentions)}


EXAMPLES = [
    _example(["you", "are", "gay"], [0.0, -0.01, 0.3], "gay", [{"term": "gay", "category": "sexuality", "start": 2, "end": 3}]),
    _example(["gay", "and", "kind"], [0.1, 0.0, -0.02], "gay", [{"term": "gay", "category": "sexuality", "start": 0, "end": 1}]),
    _example(["you", "are", "kind"], [0.02, 0.0, -0.06], "none"),
]


def test_importance_is_the_mass_of_absolute_scores_over_the_sample():
    top = importance(EXAMPLES, "shap", top_k=2)
    assert [row["word"] for row in top] == ["gay", "kind"]
    gay = top[0]
    assert gay["mean"] == pytest.approx(0.2)
    assert gay["count"] == 2
    assert gay["importance"] == pytest.approx(0.4 / 3)
    assert gay["identity"] == "sexuality" and top[1]["identity"] is None
    assert gay["rank"] == 1
    assert gay["share"] == pytest.approx(0.4 / 0.51)


def test_per_group_figures_and_identity_share():
    overview = global_importance(EXAMPLES, ["shap"], top_k=5)
    groups = overview["groups"]["sexuality"]
    assert groups["gay"]["examples"] == 2 and groups["none"]["examples"] == 1
    assert groups["none"]["shap"][0]["word"] == "kind"
    share = overview["identity_share"]
    assert share["overall"]["shap"] == pytest.approx(0.4 / 0.51)
    assert share["groups"]["sexuality"]["none"]["shap"] == 0.0
    assert share["groups"]["sexuality"]["gay"]["shap"] == pytest.approx(0.4 / 0.43)


def test_identity_terms_among_top_drivers_are_called_out_in_plain_words():
    overview = global_importance(EXAMPLES, ["shap", "attention"], top_k=5)
    drivers = identity_drivers(overview["overall"], signed={"shap": True, "attention": False}, favourable="toxic")
    assert [d["sentence"] for d in drivers] == [
        "'gay' raises the probability of the favourable label ('toxic') by 0.20 on average (SHAP, 2 mentions; rank 1).",
        "'gay' receives 0.20 of the attention rollout from [CLS] on average (attention rollout, 2 mentions; rank 1).",
    ]
    lowered = [dict(row, mean=-row["mean"]) for row in overview["overall"]["shap"]]
    [driver] = identity_drivers({"shap": lowered}, signed={"shap": True})
    assert "'gay' lowers the probability of the favourable label by 0.20" in driver["sentence"]
    # A term with a negligible share of the importance is not worth a sentence.
    assert identity_drivers({"shap": lowered}, signed={"shap": True}, min_share=0.9) == []
