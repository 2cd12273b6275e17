"""counterfactual: the variant generator, figures against plain loops, verdicts, and the supplied-pairs path.

ctx.predict is a plain Python function here (no model): the check only ever sees the
probabilities the runtime would return.
"""
from __future__ import annotations

import dataclasses
import json
import math
import zlib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from audits.checks import CheckContext, available_checks, get_check
from audits.checks.counterfactual import ALL_PAIRS, ALL_SWAPS, FLIP, MAX_ABS, MEAN_ABS, evaluate
from audits.checks.counterfactual_variants import generate_variants
from audits.checks.policy import DEFAULT_POLICY
from audits.identity import default_lexicon, find_terms

LEX = [("gay", "sexuality"), ("straight", "sexuality"), ("lesbian", "sexuality"),
       ("african american", "ethnicity"), ("african", "ethnicity"), ("middle eastern", "ethnicity"),
       ("asian", "ethnicity"), ("muslim", "religion"), ("christian", "religion")]
DEMO = Path(__file__).resolve().parents[3] / "demo"
SHARED = Path("/work/shared/data")


def _context(texts, predict, *, prob=None, seed=0, resamples=200, **extra) -> CheckContext:
    prob = np.asarray(predict(texts) if prob is None else prob, dtype=float)
    return CheckContext(
        y_true=np.ones(len(texts), bool), y_pred=prob >= 0.5, prob=prob, groups=pd.DataFrame(index=range(len(texts))),
        privileged={}, policy=DEFAULT_POLICY, seed=seed, resamples=resamples, texts=list(texts), predict=predict,
        **extra,
    )


def _hashed(text: str) -> float:
    return (zlib.crc32(text.encode()) % 1000) / 1000


def term_sensitive(texts):
    """A probability that depends on the identity terms a text mentions, and a little on the rest."""
    out = []
    for text in texts:
        words = text.lower().replace(",", " ").replace(".", " ").split()
        p = 0.62 + 0.1 * (_hashed(text) - 0.5) - 0.35 * ("gay" in words) + 0.08 * ("muslim" in words)
        out.append(min(max(p, 0.0), 1.0))
    return np.array(out)


def term_blind(texts):
    """Ignores identity terms: depends only on punctuation, which no swap changes."""
    return np.array([0.25 + 0.5 * (t.count(",") % 2) + 0.01 * t.count(".") for t in texts])


def _synthetic(n=240, seed=0) -> list[str]:
    rng = np.random.default_rng(seed)
    people = ["gay", "straight", "lesbian", "African American", "african", "Asian", "Muslim", "christian"]
    templates = ["{a} people are welcome here.", "I met a {a} friend, {b} too.", "My {a} neighbour is {b}.",
                 "Nothing to see, move along.", "The {a} community, and the {a} writers."]
    texts = []
    for _ in range(n):
        template = templates[rng.integers(len(templates))]
        a, b = rng.choice(people, size=2, replace=False)
        texts.append(template.format(a=a, b=b))
    return texts


def _texts_of(variants, row):
    return [v.text for v in variants.items if v.row == row]


def test_case_whole_words_and_multi_word_terms():
    texts = ["Gay rights", "GAY", "gayety and gays", "African American and African-American art",
             "the african art", "An Asian-African market"]
    v = generate_variants(texts, LEX)
    assert _texts_of(v, 0) == ["Straight rights", "Lesbian rights"]
    assert _texts_of(v, 1) == ["STRAIGHT", "LESBIAN"]
    assert _texts_of(v, 2) == []  # "gayety", "gays": not the whole word
    # The multi-word term wins over its part, both spellings are one term, and case follows each occurrence.
    assert _texts_of(v, 3) == ["African and African art", "Middle Eastern and Middle Eastern art",
                               "Asian and Asian art"]
    assert _texts_of(v, 4) == ["the african american art", "the middle eastern art", "the asian art"]
    assert {x.term for x in v.items if x.row == 5} == {"asian", "african"}
    assert v.mentions == {"sexuality": 2, "ethnicity": 3} and not v.capped


def test_several_terms_swapped_one_at_a_time():
    v = generate_variants(["A gay Muslim", "gay and straight couples"], LEX)
    assert [(x.term, x.swap, x.text) for x in v.items if x.row == 0] == [
        ("gay", "straight", "A straight Muslim"), ("gay", "lesbian", "A lesbian Muslim"),
        ("muslim", "christian", "A gay Christian")]
    # No swap to a term the text already mentions: that would delete an identity, not exchange it.
    assert _texts_of(v, 1) == ["lesbian and straight couples", "gay and lesbian couples"]


def test_caps_sample_deterministically_by_seed():
    texts = _synthetic(120, seed=3)
    full = generate_variants(texts, LEX, per_text=1000, total=10**6)
    capped = generate_variants(texts, LEX, per_text=2, total=150, seed=7)
    again = generate_variants(texts, LEX, per_text=2, total=150, seed=7)
    other = generate_variants(texts, LEX, per_text=2, total=150, seed=8)
    assert capped.items == again.items and capped.items != other.items
    assert len(capped.items) == 150 and capped.total_capped and capped.possible == len(full.items)
    per_row = pd.Series([x.row for x in capped.items]).value_counts()
    assert per_row.max() <= 2
    assert capped.texts_capped == sum(len(_texts_of(full, r)) > 2 for r in range(len(texts)))
    keys = [(x.row, x.term, x.swap) for x in full.items]
    positions = [keys.index((x.row, x.term, x.swap)) for x in capped.items]
    assert positions == sorted(positions)  # a sample of the full list, in its order
    with pytest.raises(ValueError):
        generate_variants(texts, LEX, per_text=0)


def test_variants_cover_every_mention_identity_finds():
    texts = pd.read_csv(DEMO / "wiki_toxicity.csv")["comment"].tolist()[:400]
    lexicon = default_lexicon()
    v = generate_variants(texts, lexicon, per_text=10**4, total=10**6)
    size = pd.Series([c for _, c in lexicon]).value_counts()
    category = dict(lexicon)
    for row, found in enumerate(find_terms(texts, lexicon)):
        swappable = {t for t in found if size[category[t]] > len([f for f in found if category[f] == category[t]])}
        assert {x.term for x in v.items if x.row == row} == swappable


def _loop_figures(pairs):
    """pairs: (row, p0, p1); flip rate, mean / max absolute and mean signed change, texts, by plain loops."""
    flips = [(a >= 0.5) != (b >= 0.5) for _, a, b in pairs]
    changes = [b - a for _, a, b in pairs]
    return {"swaps": len(pairs), "texts": len({r for r, _, _ in pairs}), "flips": sum(flips),
            FLIP: sum(flips) / len(pairs), MEAN_ABS: sum(abs(c) for c in changes) / len(pairs),
            MAX_ABS: max(abs(c) for c in changes), "counterfactual_mean_change": sum(changes) / len(pairs)}


def test_figures_equal_plain_loops_and_the_bootstrap_resamples_texts():
    texts = _synthetic(240)
    ctx = _context(texts, term_sensitive, resamples=300, lexicon=LEX)
    results = {r["attribute"]: r for r in evaluate(ctx, per_text=10**4, total=10**6)}
    variants = generate_variants(texts, LEX, per_text=10**4, total=10**6).items
    p1 = dict(zip([v.text for v in variants], term_sensitive([v.text for v in variants]), strict=True))
    for category in ("sexuality", "ethnicity", "religion"):
        mine = [v for v in variants if v.category == category]
        groups = {ALL_SWAPS: mine}
        for v in mine:
            groups.setdefault(v.term, []).append(v)
            groups.setdefault(f"{v.term} -> {v.swap}", []).append(v)
        assert set(results[category]["groups"]) == set(groups)
        for name, members in groups.items():
            expected = _loop_figures([(v.row, ctx.prob[v.row], p1[v.text]) for v in members])
            got = results[category]["groups"][name]
            for key, value in expected.items():
                assert got[key] == pytest.approx(value, abs=1e-9), (category, name, key)
        metric = results[category]["metrics"][FLIP]
        assert metric["value"] == pytest.approx(_loop_figures(
            [(v.row, ctx.prob[v.row], p1[v.text]) for v in mine])[FLIP], abs=1e-9)
    # The first category's interval, recomputed by resampling whole texts with the check's seeded stream.
    mine = [v for v in variants if v.category == "sexuality"]
    rows = sorted({v.row for v in mine})
    flips = np.array([sum((ctx.prob[r] >= 0.5) != (p1[v.text] >= 0.5) for v in mine if v.row == r) for r in rows])
    counts = np.array([sum(v.row == r for v in mine) for r in rows])
    draws = np.random.default_rng(ctx.seed).integers(0, len(rows), size=(300, len(rows)))
    rates = [flips[d].sum() / counts[d].sum() for d in draws]
    low, high = np.percentile(rates, [2.5, 97.5])
    metric = results["sexuality"]["metrics"][FLIP]
    assert (metric["ci_low"], metric["ci_high"]) == pytest.approx((low, high), abs=1e-9)


def test_planted_dependence_fails_and_a_term_blind_model_passes():
    texts = _synthetic(300, seed=1)
    planted = {r["attribute"]: r for r in get_check("counterfactual")(_context(texts, term_sensitive, lexicon=LEX))}
    assert planted["sexuality"]["status"] == "fail" and planted["sexuality"]["metrics"][FLIP]["status"] == "fail"
    assert "'gay'" in planted["sexuality"]["message"] and "Outside policy" in planted["sexuality"]["message"]
    assert planted["sexuality"]["groups"]["gay"][FLIP] > planted["sexuality"]["groups"]["straight -> lesbian"][FLIP]
    examples = planted["sexuality"]["examples"]
    changes = [abs(e["change"]) for e in examples]
    assert len(examples) == 10 and changes == sorted(changes, reverse=True) and examples[0]["flipped"]
    assert "gay" in (examples[0]["term"], examples[0]["swap"])
    blind = get_check("counterfactual")(_context(texts, term_blind, lexicon=LEX))
    assert [r["status"] for r in blind] == ["pass", "pass", "pass"]
    for result in blind:
        assert result["metrics"][FLIP]["value"] == 0.0 and result["metrics"][MAX_ABS]["value"] == 0.0
        assert "No variant moved the probability" in result["message"]


class Recorder:
    def __init__(self, fn):
        self.fn, self.calls = fn, []

    def __call__(self, texts):
        self.calls.append(list(texts))
        return self.fn(texts)


def test_predict_is_called_once_with_distinct_texts():
    texts = ["A gay man.", "A gay man.", "Muslim and gay.", "no terms here"]
    supplied = ["A straight man.", None, "Muslim and gay.", "no terms here, really"]
    prob = term_sensitive(texts)
    recorder = Recorder(term_sensitive)
    evaluate(_context(texts, recorder, prob=prob, lexicon=LEX, counterfactual_texts=supplied))
    [call] = recorder.calls
    assert len(call) == len(set(call))
    generated = {v.text for v in generate_variants(texts, LEX).items}
    assert set(call) == generated | {"A straight man.", "no terms here, really"}
    silent = Recorder(term_sensitive)
    results = evaluate(_context(["nothing", "at all"], silent, prob=[0.4, 0.6], lexicon=LEX))
    assert silent.calls == [] and {r["status"] for r in results} == {"skipped"}


def test_supplied_pairs():
    texts = ["The gay couple", "A muslim teacher", "Same text", "A fine day", "An asian cook"]
    supplied = ["The straight couple", None, "Same text", "A fine day indeed", "An african cook"]
    ctx = _context(texts, term_sensitive, lexicon=LEX, counterfactual_texts=supplied)
    result = evaluate(ctx)[-1]
    assert result["attribute"] == "supplied pairs"
    expected = _loop_figures([(r, ctx.prob[r], term_sensitive([supplied[r]])[0]) for r in (0, 3, 4)])
    figures = result["groups"][ALL_PAIRS]
    for key, value in expected.items():
        assert figures[key] == pytest.approx(value, abs=1e-9)
    by_row = {e["row"]: e for e in result["examples"]}
    assert set(by_row) == {0, 3, 4}
    assert (by_row[0]["term"], by_row[0]["swap"], by_row[0]["flipped"]) == ("gay", "straight", True)
    assert (by_row[4]["term"], by_row[4]["swap"]) == ("asian", "african")
    assert by_row[3]["term"] is None and by_row[3]["swap"] is None
    with pytest.raises(ValueError):
        evaluate(_context(texts, term_sensitive, lexicon=LEX, counterfactual_texts=supplied[:3]))


def _all_numbers_finite(value) -> bool:
    if isinstance(value, dict):
        return all(_all_numbers_finite(v) for v in value.values())
    if isinstance(value, list):
        return all(_all_numbers_finite(v) for v in value)
    return not isinstance(value, float) or math.isfinite(value)


def test_same_seed_same_result_and_strict_json():
    texts = _synthetic(200, seed=2)
    supplied = [t.replace("gay", "straight") for t in texts]
    ctx = _context(texts, term_sensitive, seed=11, lexicon=LEX, counterfactual_texts=supplied)
    first, second = evaluate(ctx, per_text=3, total=300), evaluate(ctx, per_text=3, total=300)
    assert first == second
    assert _all_numbers_finite(first)
    assert json.loads(json.dumps(first, allow_nan=False)) == first
    assert "seeded sample" in first[0]["message"]
    other = evaluate(_context(texts, term_sensitive, seed=12, lexicon=LEX, counterfactual_texts=supplied),
                     per_text=3, total=300)
    assert other[0]["groups"] != first[0]["groups"]  # another sample of variants


def test_skips_with_reasons_and_registration():
    texts = _synthetic(50)
    ctx = _context(texts, term_sensitive, lexicon=LEX, counterfactual_texts=texts)
    no_model = evaluate(dataclasses.replace(ctx, predict=None))
    assert [r["attribute"] for r in no_model] == ["identity terms", "supplied pairs"]
    assert all(r["status"] == "skipped" and "No model function" in r["message"] for r in no_model)
    [lone, none] = evaluate(_context(["A gay man", "hello"], term_sensitive,
                                     lexicon=[("gay", "sexuality"), ("deaf", "disability"), ("blind", "disability")]))
    assert lone["status"] == "skipped" and "none leaves another term" in lone["message"]
    assert none["status"] == "skipped" and "No text mentions a 'disability' term" in none["message"]
    [empty] = evaluate(_context(texts, term_sensitive, lexicon=[]))
    assert empty["status"] == "skipped" and "empty" in empty["message"]
    # A policy saved before this check existed: figures reported, no verdict invented.
    old_policy = {"thresholds": {k: v for k, v in DEFAULT_POLICY["thresholds"].items() if k != FLIP}}
    [first, *_] = evaluate(dataclasses.replace(_context(texts, term_sensitive, lexicon=LEX), policy=old_policy))
    assert first["status"] == "skipped" and first["metrics"][FLIP]["status"] == "info"
    assert "no threshold" in first["message"]
    assert "counterfactual" in available_checks()
    assert DEFAULT_POLICY["thresholds"][FLIP] == {"low": 0.0, "high": 0.02}


def test_real_data_supplied_pairs_find_exactly_the_rows_that_differ():
    original_path = DEMO / "wiki_toxicity.csv"
    if not original_path.exists():
        original_path = SHARED / "wiki_toxicity.csv"
    original = pd.read_csv(original_path).head(200)
    fuzzed = pd.read_csv(DEMO / "wiki_toxicity_fuzzed.csv").head(200)
    assert (original["rev_id"] == fuzzed["rev_id"]).all()
    texts, variants = original["comment"].tolist(), fuzzed["comment"].tolist()
    differ = [i for i in range(200) if texts[i] != variants[i]]
    assert len(differ) > 50
    recorder = Recorder(term_sensitive)
    ctx = _context(texts, recorder, prob=term_sensitive(texts), counterfactual_texts=variants)
    result = evaluate(ctx)[-1]
    assert result["attribute"] == "supplied pairs" and result["status"] in {"pass", "warn", "fail"}
    assert result["groups"][ALL_PAIRS]["swaps"] == result["groups"][ALL_PAIRS]["texts"] == len(differ)
    assert {variants[i] for i in differ} <= set(recorder.calls[0])
    assert {e["row"] for e in result["examples"]} <= set(differ)
    expected = _loop_figures([(i, ctx.prob[i], term_sensitive([variants[i]])[0]) for i in differ])
    assert result["groups"][ALL_PAIRS][FLIP] == pytest.approx(expected[FLIP], abs=1e-9)
    assert all(len(e["original"]) <= 606 for e in result["examples"])
