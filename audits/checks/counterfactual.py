"""counterfactual: does swapping an identity term change the model's decision?

Two sources of counterfactual pairs (Garg et al. 2019, "Counterfactual Fairness in Text
Classification through Robustness"; Dixon et al. 2018):

- generated: every text that mentions a lexicon term, with that term swapped for each
  other term of its category (counterfactual_variants.py). One result per category.
- supplied: a second dataset aligned row by row with the first (e.g. the fuzzed
  Wikipedia test set), compared wherever its text differs. One result, "supplied pairs".

Each pair compares the original's favourable probability (ctx.prob, from the audit's
one prediction pass) with the variant's, scored by ctx.predict: the runtime's batched,
cached model function, called once for every distinct variant text of the check. The
figures per pair: did the decision (probability >= 0.5) flip, and by how much did the
probability move. Rates are over pairs (each swap counts once), as in the literature;
`metrics` hold the figures of all a category's swaps together, which is the question
the policy asks (flip rate <= 0.02), and `groups` break them down per original term
and per term -> swap pair.

Intervals come from a seeded bootstrap that resamples original texts, not pairs: the
swaps of one text share everything but one word, so they are far from independent, and
resampling them singly would give intervals too narrow; they are bias-corrected, and a
flip rate of 0 (or 1) gets Wilson's interval over the texts. The largest change has no
interval, because the bootstrap of a sample maximum is not consistent.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy import sparse

from audits.identity import default_lexicon, find_terms

from .confidence import WILSON, wilson
from .context import CheckContext
from .counterfactual_variants import MAX_PER_TEXT, MAX_TOTAL, Variants, generate_variants, side_by_side
from .intervals import VERDICT_TEXT, bootstrap, clean, metric_entry, ratio, verdict
from .registry import register
from .verdicts import group_status, mark_insufficient

CHECK_ID = "counterfactual"
DECISION_THRESHOLD = 0.5
EXAMPLES = 10
FLIP = "counterfactual_flip_rate"
MEAN_ABS = "counterfactual_mean_abs_change"
MAX_ABS = "counterfactual_max_abs_change"
MEAN = "counterfactual_mean_change"
ALL_SWAPS = "all swaps"
ALL_PAIRS = "all pairs"
SUPPLIED = "supplied pairs"
NO_LEXICON = "identity terms"


def _skipped(attribute: str, message: str) -> dict:
    return {"id": CHECK_ID, "attribute": attribute, "status": "skipped", "message": message,
            "metrics": {}, "groups": {}, "examples": []}


def _scores(predict, queries: list[str]) -> dict[str, float]:
    """The favourable probability of each distinct query text, from one call to predict."""
    if not queries:
        return {}
    out = np.asarray(predict(queries), dtype=np.float64).reshape(-1)
    if out.size != len(queries):
        raise ValueError(f"predict returned {out.size} probabilities for {len(queries)} texts.")
    if not np.all(np.isfinite(out) & (out >= 0) & (out <= 1)):
        raise ValueError("predict returned probabilities that are not finite numbers in [0, 1].")
    return dict(zip(queries, out.tolist(), strict=True))


def _figures(unit: np.ndarray, member_pair: np.ndarray, member_group: np.ndarray, names: list[str],
             p0: np.ndarray, p1: np.ndarray, ctx: CheckContext, rng: np.random.Generator) -> dict[str, dict]:
    """Per group: counts, and flip rate and mean absolute change with bootstrap intervals over units.

    Pair k belongs to group member_group[j] wherever member_pair[j] == k; unit[k] is the
    original text it came from, the thing the bootstrap resamples.
    """
    n_units, n_groups = int(unit.max()) + 1, len(names)
    flip = ((p0 >= DECISION_THRESHOLD) != (p1 >= DECISION_THRESHOLD)).astype(np.float64)
    change = p1 - p0
    rows = unit[member_pair]

    def per_unit(values: np.ndarray) -> sparse.csr_array:
        # (units, groups): the sum of `values` over each text's pairs in each group.
        return sparse.csr_array((values[member_pair], (rows, member_group)), shape=(n_units, n_groups))

    count, flips, absolute = per_unit(np.ones_like(change)), per_unit(flip), per_unit(np.abs(change))

    def statistic(w: np.ndarray) -> dict[str, np.ndarray]:
        pairs = w @ count
        return {FLIP: ratio(w @ flips, pairs), MEAN_ABS: ratio(w @ absolute, pairs)}

    boot = bootstrap(statistic, np.zeros(n_units, dtype=int), rng, resamples=ctx.resamples)
    point = statistic(np.ones((1, n_units)))
    swaps = np.bincount(member_group, minlength=n_groups)
    texts = np.diff(count.tocsc().indptr)  # units with at least one pair in the group
    signed = np.bincount(member_group, weights=change[member_pair], minlength=n_groups)
    largest = np.zeros(n_groups)
    np.maximum.at(largest, member_group, np.abs(change)[member_pair])
    flipped = np.bincount(member_group, weights=flip[member_pair], minlength=n_groups)
    thresholds = ctx.policy["thresholds"]
    out = {}
    for g, name in enumerate(names):
        out[name] = {
            "texts": int(texts[g]), "swaps": int(swaps[g]), "flips": int(flipped[g]),
            FLIP: _flip_entry(point[FLIP][0, g], boot[FLIP][:, g], int(flipped[g]), int(swaps[g]), int(texts[g]),
                              thresholds.get(FLIP)),
            MEAN_ABS: metric_entry(point[MEAN_ABS][0, g], boot[MEAN_ABS][:, g], thresholds.get(MEAN_ABS)),
            MAX_ABS: metric_entry(largest[g], None, thresholds.get(MAX_ABS)),
            MEAN: clean(signed[g] / swaps[g]),
        }
    return out


def _flip_entry(value, draws, flips: int, swaps: int, texts: int, threshold) -> dict:
    """The flip rate with its bootstrap interval over texts; with no flip (or only flips)
    every resample agrees and that interval would be [0, 0], a certainty no sample gives,
    so Wilson's interval over the texts (the independent units) is used instead."""
    if swaps and flips in (0, swaps):
        x = 0 if flips == 0 else texts
        return metric_entry(value, None, threshold, interval=wilson(x, texts), method=WILSON + " over texts")
    return metric_entry(value, draws, threshold)


def _flatten(figures: dict, min_texts: int) -> dict:
    """A group's row in the report: its status, counts, values, and intervals as NAME_ci_low /
    NAME_ci_high. The status is its flip rate's; under `min_texts` texts a pass or warning
    is only insufficient (a breach shown by the whole interval stays a fail)."""
    flip = dict(figures[FLIP])
    if figures["texts"] < min_texts:
        mark_insufficient({FLIP: flip})
    row = {"status": group_status([flip])}
    for name, value in figures.items():
        if isinstance(value, dict):
            row[name] = value["value"]
            if value["ci_low"] is not None:
                row[f"{name}_ci_low"], row[f"{name}_ci_high"] = value["ci_low"], value["ci_high"]
        else:
            row[name] = value
    return row


def _examples(pairs: list[tuple[int, str, str | None, str | None]], texts: Sequence[str],
              p0: np.ndarray, p1: np.ndarray) -> list[dict]:
    """The largest changes, side by side; pairs are (row, variant text, term, swap)."""
    change = np.abs(p1 - p0)
    order = sorted(range(len(pairs)), key=lambda k: (-change[k], pairs[k][0], pairs[k][2] or "", pairs[k][3] or ""))
    examples = []
    for k in order[:EXAMPLES]:
        row, variant, term, swap = pairs[k]
        original_excerpt, variant_excerpt = side_by_side(texts[row], variant)
        examples.append({
            "row": int(row), "original": original_excerpt, "variant": variant_excerpt, "term": term, "swap": swap,
            "original_probability": clean(p0[k]), "variant_probability": clean(p1[k]),
            "change": clean(p1[k] - p0[k]),
            "flipped": bool((p0[k] >= DECISION_THRESHOLD) != (p1[k] >= DECISION_THRESHOLD)),
        })
    return examples


def _count(n: int, noun: str) -> str:
    return f"{n:,} {noun}" + ("" if n == 1 else "s")


def _summary(subject: str, overall: dict, example: dict | None) -> list[str]:
    flip, mean_abs = overall[FLIP], overall[MEAN_ABS]
    ci = (f" (95% CI {flip['ci_low']:.1%} to {flip['ci_high']:.1%})" if flip["ci_low"] is not None else "")
    # Supplied pairs are one per text; generated ones several.
    scope = (_count(overall["texts"], "text") if overall["swaps"] == overall["texts"]
             else f"{_count(overall['swaps'], 'pair')} over {_count(overall['texts'], 'text')}")
    parts = [f"{subject} changed the model's decision in {flip['value']:.1%} of {scope}{ci}; the favourable"
             f" probability moved by {mean_abs['value']:.3f} on average."]
    if example is None or not example["change"]:
        parts.append("No variant moved the probability at all.")
    else:
        what = (f"'{example['term']}' -> '{example['swap']}'" if example["term"] and example["swap"]
                else "a supplied variant")
        parts.append(f"The largest change was {what} in row {example['row']}: {example['original_probability']:.2f}"
                     f" -> {example['variant_probability']:.2f}.")
    return parts


def _term_text(term: str, row: dict) -> str:
    """"'gay' (fail): 6.0% of 50 swaps flip; the original leans favourable", the direction
    being the sign of the mean change: swapping the term out raises or lowers the
    favourable probability, so the original term is disfavoured or favoured."""
    change = row.get(MEAN) or 0.0
    lean = ("disfavoured: swapping it out raises the favourable probability" if change > 0 else
            "favoured: swapping it out lowers the favourable probability" if change < 0 else "no direction")
    return (f"'{term}' ({row['status']}) flips {row[FLIP]:.1%} of {row['swaps']:,} swaps, {lean} by"
            f" {abs(change):.3f} on average")


def _verdict_text(status: str, policy: dict) -> str:
    if policy["thresholds"].get(FLIP) is None:
        return f"The policy sets no threshold for {FLIP}, so no verdict is given."
    return VERDICT_TEXT.get(status, "")


def _category_result(ctx: CheckContext, category: str, variants: list, scores: dict, order: dict,
                     cap_note: str, rng: np.random.Generator) -> dict:
    rows = np.array([v.row for v in variants])
    p0 = np.asarray(ctx.prob, dtype=np.float64)[rows]
    p1 = np.array([scores[v.text] for v in variants])
    _, unit = np.unique(rows, return_inverse=True)
    terms = sorted({v.term for v in variants}, key=order.__getitem__)
    pairs = sorted({(v.term, v.swap) for v in variants}, key=lambda p: (order[p[0]], order[p[1]]))
    names = [ALL_SWAPS] + terms + [f"{t} -> {s}" for t, s in pairs]
    index = {name: g for g, name in enumerate(names)}
    member_pair = np.repeat(np.arange(len(variants)), 3)
    member_group = np.array([[0, index[v.term], index[f"{v.term} -> {v.swap}"]] for v in variants]).ravel()
    figures = _figures(unit, member_pair, member_group, names, p0, p1, ctx, rng)
    overall = figures[ALL_SWAPS]
    metrics = {name: {**overall[name], "group": ALL_SWAPS} for name in (FLIP, MEAN_ABS, MAX_ABS)}
    status = verdict(metrics)
    examples = _examples([(v.row, v.text, v.term, v.swap) for v in variants], ctx.texts, p0, p1)
    parts = _summary(f"Swapping one '{category}' term for another", overall, examples[0])
    groups = {name: _flatten(f, ctx.min_group_rows) for name, f in figures.items()}
    outside = [t for t in terms if groups[t]["status"] in ("fail", "warn")]
    if outside:
        parts.append("Swapping these terms out breaches the policy: " + "; ".join(_term_text(t, groups[t])
                                                                                 for t in outside) + ".")
    judged = [t for t in terms if figures[t]["texts"] >= ctx.min_group_rows and figures[t]["flips"]]
    if judged and not outside:
        worst = max(judged, key=lambda t: (figures[t][FLIP]["value"], figures[t]["swaps"]))
        parts.append(f"Swaps of '{worst}' changed the decision most often: {figures[worst][FLIP]['value']:.1%}"
                     f" of {figures[worst]['swaps']:,} over {_count(figures[worst]['texts'], 'text')}.")
    parts += [_verdict_text(status, ctx.policy), cap_note]
    return {"id": CHECK_ID, "attribute": category, "status": status, "message": " ".join(p for p in parts if p),
            "metrics": metrics, "groups": groups, "examples": examples}


def _supplied_rows(ctx: CheckContext) -> list[int]:
    """Rows whose supplied variant is a text that differs from the original."""
    variants = ctx.counterfactual_texts
    if len(variants) != len(ctx.prob):
        raise ValueError(f"counterfactual_texts has {len(variants)} rows but the dataset has {len(ctx.prob)}.")
    return [i for i, v in enumerate(variants) if isinstance(v, str) and v != ctx.texts[i]]


def _supplied_result(ctx: CheckContext, rows: list[int], scores: dict, rng: np.random.Generator) -> dict:
    if not rows:
        return _skipped(SUPPLIED, "No supplied counterfactual text differs from its original.")
    variants = [ctx.counterfactual_texts[i] for i in rows]
    p0 = np.asarray(ctx.prob, dtype=np.float64)[rows]
    p1 = np.array([scores[v] for v in variants])
    units = np.arange(len(rows))
    figures = _figures(units, units, np.zeros(len(rows), dtype=int), [ALL_PAIRS], p0, p1, ctx, rng)[ALL_PAIRS]
    metrics = {name: {**figures[name], "group": ALL_PAIRS} for name in (FLIP, MEAN_ABS, MAX_ABS)}
    status = verdict(metrics)
    examples = _examples([(r, v, None, None) for r, v in zip(rows, variants, strict=True)], ctx.texts, p0, p1)
    # Name the identity terms each shown pair exchanges, where the lexicon knows them.
    lexicon = default_lexicon() if ctx.lexicon is None else ctx.lexicon
    shown = [e["row"] for e in examples]
    before = find_terms([ctx.texts[r] for r in shown], lexicon)
    after = find_terms([ctx.counterfactual_texts[r] for r in shown], lexicon)
    for example, was, now in zip(examples, before, after, strict=True):
        example["term"] = ", ".join(t for t in was if t not in now) or None
        example["swap"] = ", ".join(t for t in now if t not in was) or None
    parts = _summary("Replacing texts with their supplied counterfactuals", figures, examples[0])
    parts.append(_verdict_text(status, ctx.policy))
    return {"id": CHECK_ID, "attribute": SUPPLIED, "status": status, "message": " ".join(p for p in parts if p),
            "metrics": metrics, "groups": {ALL_PAIRS: _flatten(figures, ctx.min_group_rows)}, "examples": examples}


def _cap_note(variants: Variants) -> str:
    if not variants.capped:
        return ""
    note = (f"Only {len(variants.items):,} of the {variants.possible:,} possible swaps were scored, a seeded"
            " sample:")
    if variants.texts_capped:
        note += f" {variants.texts_capped:,} texts had more than {variants.per_text} swaps each"
    if variants.total_capped:
        note += ("," if variants.texts_capped else "") + f" the total is capped at {variants.total:,}"
    return note + "."


def evaluate(ctx: CheckContext, *, per_text: int = MAX_PER_TEXT, total: int = MAX_TOTAL) -> list[dict]:
    """The check with its variant caps chosen by the caller; `run` uses the defaults."""
    lexicon = default_lexicon() if ctx.lexicon is None else list(ctx.lexicon)
    categories = list(dict.fromkeys(category for _, category in lexicon))
    supplied = ctx.counterfactual_texts is not None
    if ctx.predict is None:
        # One result, not one per category: the reason is the same for all of them.
        reason = "No model function was given to score variant texts, so no counterfactual could be scored."
        return [_skipped(NO_LEXICON, reason)] + ([_skipped(SUPPLIED, reason)] if supplied else [])
    texts = list(ctx.texts)
    if texts and len(texts) != len(ctx.prob):
        raise ValueError(f"The context has {len(texts)} texts but {len(ctx.prob)} probabilities.")
    if supplied and not texts:
        raise ValueError("counterfactual_texts were given without the original texts.")
    variants = generate_variants(texts, lexicon, per_text=per_text, total=total, seed=ctx.seed)
    supplied_rows = _supplied_rows(ctx) if supplied else []
    queries = [v.text for v in variants.items] + [ctx.counterfactual_texts[i] for i in supplied_rows]
    scores = _scores(ctx.predict, list(dict.fromkeys(queries)))  # one call, each distinct text once
    used = [v.row for v in variants.items] + supplied_rows
    if used and not np.isfinite(np.asarray(ctx.prob, dtype=np.float64)[used]).all():
        raise ValueError("The original probabilities of some texts with counterfactuals are not finite.")
    rng = np.random.default_rng(ctx.seed)
    order = {term: i for i, term in enumerate(dict.fromkeys(" ".join(t.lower().split()) for t, _ in lexicon))}
    by_category: dict[str, list] = {}
    for variant in variants.items:
        by_category.setdefault(variant.category, []).append(variant)
    results = []
    for category in categories:
        if category in by_category:
            results.append(_category_result(ctx, category, by_category[category], scores, order,
                                            _cap_note(variants), rng))
        elif variants.mentions.get(category):
            why = ("the cap on variants left none of their swaps" if variants.capped
                   else "none leaves another term of the category to swap in")
            results.append(_skipped(category, f"{variants.mentions[category]:,} texts mention a '{category}'"
                                              f" term, but {why}."))
        else:
            results.append(_skipped(category, f"No text mentions a '{category}' term of the lexicon."))
    if not categories:
        results.append(_skipped(NO_LEXICON, "The identity-term lexicon is empty, so there is nothing to swap."))
    if supplied:
        results.append(_supplied_result(ctx, supplied_rows, scores, rng))
    return results


@register(CHECK_ID)
def run(ctx: CheckContext) -> list[dict]:
    return evaluate(ctx)
