"""sampling_bias: does the dataset represent each group, and does the text give groups away?

Per protected attribute:
- count and share per group, against a uniform split or, when given, the reference
  population (ctx.reference_shares[attribute]); the representation ratio (observed
  over expected share) of the least represented group, judged by the policy, and the
  chi-square goodness-of-fit test (scipy.stats.chisquare) of the counts;
- the smallest group count, with "too few to judge" under ctx.min_group_rows (the
  other checks skip such groups);
- proxy leakage: the cross-validated ROC AUC of a logistic regression telling each
  group from the privileged group from the text alone (TF-IDF, or ctx.embeddings when
  given). Near 0.5 the text carries little group signal; near 1 a model can learn the
  group from the text even when the attribute is withheld from it.
Per pair of attributes, one more result for their intersections: count, share and the
representation ratio against independence of the two observed shares (so what each
attribute's own result reports is not counted twice; joint population shares are
rarely known), with its chi-square test (the test of independence).

Identity-term attributes are derived from the text, so they leak by construction: the
leakage is reported, not judged, and their representation is compared among the texts
that mention a term (the "none" background is left out).
Shares have Wilson's interval; the representation ratio comes from an unstratified
bootstrap of rows (shares are what varies), and leakage from a bootstrap of the
out-of-fold scores stratified by class, both bias-corrected: the smallest of several
ratios is biased low in resamples, so a plain percentile interval can miss it.
"""
from __future__ import annotations

from itertools import combinations

import numpy as np
from scipy.stats import chisquare
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedKFold, cross_val_predict
from sklearn.preprocessing import StandardScaler

from .confidence import WILSON, wilson
from .context import CheckContext
from .intervals import (
    AUC,
    VERDICT_TEXT,
    bootstrap,
    clean,
    group_sums,
    merge_privileged,
    metric_entry,
    ratio,
    verdict,
)
from .registry import register

CHECK_ID = "sampling_bias"
# The leakage estimate settles long before this; it bounds the time spent fitting.
MAX_LEAKAGE_ROWS = 20_000
FEW, ENOUGH = "too few to judge", "enough rows"


def _representation(names, counts_fn, expected_fn, min_rows: int, rng, resamples, n, ddof=0):
    """Shares, ratios and chi-square of groups `names` against the expected shares that
    `expected_fn` gives for (k, groups) counts (constant for a reference, not for independence)."""
    counts = counts_fn(np.ones((1, n)))[0]
    expected = expected_fn(counts[None, :])[0]
    total = counts.sum()
    test = chisquare(counts, expected * total, ddof=ddof) if names.size >= 2 and total > 0 else None
    # Only groups expected to have enough rows are judged; both sets of shares are
    # renormalised over them, so the smallest ratio stays at most 1.
    judged = expected * total >= min_rows

    def statistic(w):
        c = counts_fn(w)
        shares = ratio(c, c.sum(axis=1, keepdims=True))
        kept, wanted = c[:, judged], expected_fn(c)[:, judged]
        ratios = ratio(ratio(kept, kept.sum(axis=1, keepdims=True)), ratio(wanted, wanted.sum(axis=1, keepdims=True)))
        return {"share": shares, "min_ratio": ratios.min(axis=1, initial=np.inf) if judged.any() else
                np.full(len(w), np.nan), "ratios": ratios}

    point = {k: v[0] for k, v in statistic(np.ones((1, n))).items()}
    boot = bootstrap(statistic, np.zeros(n, dtype=int), rng, resamples=resamples)
    return counts, expected, test, judged, point, boot


def _groups_block(names, counts, expected, judged, point, boot, min_rows) -> dict:
    groups, judged_names = {}, list(names[judged])
    for i, g in enumerate(names):
        # A share of rows is a rate: Wilson's interval.
        share = metric_entry(point["share"][i], None, None, interval=wilson(counts[i], counts.sum()), method=WILSON)
        groups[str(g)] = {"count": int(counts[i]), "share": share["value"], "share_ci_low": share["ci_low"],
                          "share_ci_high": share["ci_high"], "expected_share": clean(expected[i]),
                          "representation_ratio": clean(point["ratios"][judged_names.index(g)]) if judged[i]
                          else None, "verdict": FEW if counts[i] < min_rows else ENOUGH}
    return groups


def _common_metrics(ctx, groups, compared, test, judged, point, boot) -> dict:
    threshold = ctx.policy["thresholds"].get("representation_ratio")
    ratio_entry = metric_entry(point["min_ratio"], boot["min_ratio"], threshold)
    if ratio_entry["value"] is not None:
        ratio_entry["group"] = str(compared[judged][int(np.nanargmin(point["ratios"]))])
    least = min(groups, key=lambda g: groups[g]["count"])
    smallest = groups[least]["count"]
    return {
        "representation_ratio": ratio_entry,
        # A p-value already expresses sampling uncertainty; a bootstrap interval of it has no standard meaning.
        "chi_square_p_value": {"value": clean(test.pvalue) if test else None, "ci_low": None, "ci_high": None,
                               "threshold": None, "status": "info" if test else "skipped"},
        # A count of the rows at hand is a fact, not an estimate: no interval.
        "smallest_group_count": {"value": smallest, "ci_low": None, "ci_high": None,
                                 "threshold": {"low": ctx.min_group_rows, "high": None},
                                 "status": "warn" if smallest < ctx.min_group_rows else "pass",
                                 "group": least},
    }


def text_features(ctx: CheckContext):
    """The row features a group is predicted from: standardised embeddings when the audit
    has them, else TF-IDF of the texts; None when there is neither.

    Both are unsupervised, so they are fitted once on every row: no group label can leak
    into them, and each attribute and group reuses the same matrix.
    """
    n = len(ctx.y_true)
    if ctx.embeddings is not None and len(ctx.embeddings) == n:
        return StandardScaler().fit_transform(np.asarray(ctx.embeddings, dtype=np.float64))
    if len(ctx.texts) != n:
        return None
    try:
        return TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, max_features=50_000).fit_transform(ctx.texts)
    except ValueError:  # no word in any text: nothing to predict a group from
        return None


def proxy_leakage(features, target: np.ndarray, ctx: CheckContext, rng) -> tuple[float | None, np.ndarray]:
    """Cross-validated AUC of a logistic regression predicting `target` from `features`,
    and its bootstrap draws over the out-of-fold scores (stratified by class)."""
    rows = np.arange(target.size)
    if rows.size > MAX_LEAKAGE_ROWS:
        rows = np.sort(rng.choice(rows.size, MAX_LEAKAGE_ROWS, replace=False))
    features, target = features[rows], target[rows]
    minority = int(min(target.sum(), (~target).sum()))
    if minority < 2:
        return None, np.full(ctx.resamples, np.nan)
    folds = StratifiedKFold(n_splits=min(5, minority), shuffle=True, random_state=ctx.seed)
    # liblinear: fast on sparse TF-IDF, deterministic for the primal L2 problem.
    model = LogisticRegression(solver="liblinear", max_iter=1000)
    scores = cross_val_predict(model, features, target, cv=folds, method="predict_proba")[:, 1]
    auc = AUC(scores, target)
    boot = bootstrap(lambda w: {"auc": auc(w)}, target.astype(int), rng, resamples=ctx.resamples)
    return float(roc_auc_score(target, scores)), boot["auc"]


def _attribute_result(ctx: CheckContext, attribute: str, identity: bool, features, rng) -> dict:
    values = ctx.groups[attribute].astype(str).to_numpy()
    privileged = {str(v) for v in ctx.privileged.get(attribute, [])}
    names, codes = np.unique(values, return_inverse=True)
    reference = {str(g): float(v) for g, v in ((ctx.reference_shares or {}).get(attribute) or {}).items() if v > 0}
    if reference:
        compared = np.array(sorted(reference))
        expected = np.array([reference[g] for g in compared])
    else:
        compared = np.array([g for g in names if not (identity and g in privileged)])
        expected = np.ones(compared.size)
    expected = expected / expected.sum()
    index = {str(g): i for i, g in enumerate(names)}
    lookup = np.array([index.get(str(g), -1) for g in compared])
    n_groups = names.size

    def counts_fn(w):
        c = group_sums(w, codes, n_groups)
        return np.where(lookup >= 0, c[:, np.maximum(lookup, 0)], 0.0)

    counts, _, test, judged, point, boot = _representation(
        compared, counts_fn, lambda c: np.broadcast_to(expected, c.shape), ctx.min_group_rows, rng, ctx.resamples,
        values.size)
    groups = _groups_block(compared, counts, expected, judged, point, boot, ctx.min_group_rows)
    all_counts = np.bincount(codes, minlength=n_groups)
    for g in names:
        if str(g) not in groups:  # the identity background, or a group the reference does not list
            groups[str(g)] = {"count": int(all_counts[index[str(g)]]), "share": float(all_counts[index[str(g)]]
                              / values.size), "expected_share": None, "representation_ratio": None,
                              "verdict": FEW if all_counts[index[str(g)]] < ctx.min_group_rows else ENOUGH}
    metrics = _common_metrics(ctx, groups, compared, test, judged, point, boot)
    leak = {}
    can_leak = features is not None
    # Several privileged values are one privileged group, as in group_fairness.
    merged, priv_name = merge_privileged(values, privileged)
    if can_leak and priv_name is not None and (merged == priv_name).sum() >= ctx.min_group_rows:
        threshold = None if identity else ctx.policy["thresholds"].get("proxy_leakage_auc")
        for g in names:
            if g in privileged or all_counts[index[g]] < ctx.min_group_rows:
                continue
            rows = np.flatnonzero((merged == g) | (merged == priv_name))
            auc, draws = proxy_leakage(features[rows], merged[rows] == g, ctx, rng)
            leak[str(g)] = metric_entry(auc, draws, threshold)
            groups[str(g)].update({"proxy_leakage_auc": leak[str(g)]["value"],
                                   "proxy_leakage_auc_ci_low": leak[str(g)]["ci_low"],
                                   "proxy_leakage_auc_ci_high": leak[str(g)]["ci_high"]})
    usable = {g: e for g, e in leak.items() if e["value"] is not None}
    if usable:
        worst = max(usable, key=lambda g: usable[g]["value"])
        metrics["proxy_leakage_auc"] = {**usable[worst], "group": worst}
    status = verdict(metrics)
    message = _finding(attribute, metrics, groups, bool(reference), identity, can_leak, status, ctx.min_group_rows)
    unlisted = [str(g) for g in names if reference and str(g) not in reference]
    if unlisted:
        message += " Not in the reference population, so not compared: " + ", ".join(unlisted) + "."
    return {"id": CHECK_ID, "attribute": attribute, "status": status, "metrics": metrics, "groups": groups,
            "message": message}


def _intersection_result(ctx: CheckContext, first: str, second: str, rng) -> dict:
    a, b = (ctx.groups[c].astype(str).to_numpy() for c in (first, second))
    a_names, a_codes = np.unique(a, return_inverse=True)
    b_names, b_codes = np.unique(b, return_inverse=True)
    codes = a_codes * b_names.size + b_codes
    cells = np.array([f"{x} & {y}" for x in a_names for y in b_names])

    def independent(c):  # (k, cells) counts -> the cell shares the two marginals imply
        table = c.reshape(len(c), a_names.size, b_names.size)
        total = table.sum(axis=(1, 2))[:, None, None]
        return ratio(table.sum(axis=2)[:, :, None] * table.sum(axis=1)[:, None, :], total**2).reshape(len(c), -1)

    # Independence with shares estimated from the data: the degrees of freedom of the
    # r x c contingency test, (r - 1)(c - 1), rather than r * c - 1.
    counts, expected, test, judged, point, boot = _representation(
        cells, lambda w: group_sums(w, codes, cells.size), independent, ctx.min_group_rows, rng, ctx.resamples,
        a.size, ddof=a_names.size + b_names.size - 2)
    groups = _groups_block(cells, counts, expected, judged, point, boot, ctx.min_group_rows)
    metrics = _common_metrics(ctx, groups, cells, test, judged, point, boot)
    status = verdict(metrics)
    attribute = f"{first} & {second}"
    return {"id": CHECK_ID, "attribute": attribute, "status": status, "metrics": metrics, "groups": groups,
            "message": _finding(attribute, metrics, groups, False, False, False, status, ctx.min_group_rows,
                                intersection=True)}


def _finding(attribute, metrics, groups, reference, identity, can_leak, status, min_rows, intersection=False):
    shown = sorted(groups.items(), key=lambda item: -item[1]["count"])
    listing = ", ".join(f"{g} {f['share']:.1%} ({f['count']} rows)" for g, f in shown[:6])
    parts = [f"'{attribute}' has {len(groups)} {'intersections' if intersection else 'groups'}: {listing}"
             + (", ..." if len(shown) > 6 else "") + "."]
    against = ("the shares expected if the two attributes were independent" if intersection else
               "the reference population" if reference else
               "an even split among texts that mention a term" if identity else "an even split")
    rep = metrics["representation_ratio"]
    if rep["value"] is not None:
        ci = f" (95% CI {rep['ci_low']:.2f} to {rep['ci_high']:.2f})" if rep["ci_low"] is not None else ""
        parts.append(f"Against {against}, the least represented is {rep['group']}, at {rep['value']:.2f} of its"
                     f" expected share{ci}.")
    p = metrics["chi_square_p_value"]["value"]
    if p is not None:
        parts.append(f"A chi-square test of the counts gives p = {p:.3g}"
                     + (" (the difference is unlikely to be chance)." if p < 0.05 else "."))
    small = metrics["smallest_group_count"]
    verdict_text = FEW if small["value"] < min_rows else ENOUGH
    parts.append(f"The smallest is {small['group']} with {small['value']} rows: {verdict_text}"
                 f" (at least {min_rows} are needed).")
    leak = metrics.get("proxy_leakage_auc")
    if leak:
        strength = "little" if leak["value"] < 0.6 else "some" if leak["value"] < 0.75 else "strong"
        parts.append(f"From the text alone, a classifier tells {leak['group']} from the privileged group with"
                     f" cross-validated AUC {leak['value']:.2f} ({strength} group signal; 0.5 is none).")
        if identity:
            parts.append("This attribute is derived from identity terms in the text, so the text reveals it by"
                         " construction; the leakage is expected and not judged.")
    elif not intersection and not can_leak:
        parts.append("Proxy leakage was not measured: the audit has no usable texts or embeddings.")
    parts.append(VERDICT_TEXT.get(status, ""))
    return " ".join(p for p in parts if p)


@register(CHECK_ID)
def run(ctx: CheckContext) -> list[dict]:
    rng = np.random.default_rng(ctx.seed)
    identity = set(ctx.groups.attrs.get("identity_attributes", []))
    features = text_features(ctx)
    results = [_attribute_result(ctx, a, a in identity, features, rng) for a in ctx.groups.columns]
    # Two identity-term categories rarely meet in one comment: their intersections are
    # almost all "none & none" and would bury the report; pairs with a column stay.
    pairs = [(a, b) for a, b in combinations(ctx.groups.columns, 2) if not (a in identity and b in identity)]
    results += [_intersection_result(ctx, a, b, rng) for a, b in pairs]
    return results
