"""sampling_bias: does the dataset represent each group?

Per protected attribute:
- count and share per group, against a uniform split or, when given, the reference
  population (ctx.reference_shares[attribute]); the representation ratio (observed
  over expected share) of the least represented group, judged by the policy, and the
  chi-square goodness-of-fit test (scipy.stats.chisquare) of the counts;
- each group's own representation ratio and status; a group expected to have fewer
  than ctx.min_group_rows rows is `insufficient` (too few to judge its share);
- the smallest group count, with "too few to judge" under ctx.min_group_rows (the
  other checks skip such groups).
Per pair of attributes, one more result for their intersections: count, share and the
representation ratio against independence of the two observed shares (so what each
attribute's own result reports is not counted twice; joint population shares are
rarely known), with its chi-square test (the test of independence). Pairs that
describe the same partition, or where one attribute determines the other, are not
crossed (crossings.py).

Whether the text gives a group away is the proxy_leakage check's question, not this
one's. Identity-term attributes are compared among the texts that mention a term (the
"none" background is left out); the message gives every share over all rows, so its
shares add up. Shares have Wilson's interval; representation ratios come from an
unstratified bootstrap of rows (shares are what varies), bias-corrected: the smallest
of several ratios is biased low in resamples, so a plain percentile interval can miss it.
"""
from __future__ import annotations

import numpy as np
from scipy.stats import chisquare

from .confidence import WILSON, wilson
from .context import CheckContext
from .crossings import crossable_pairs, skipped_crossing
from .intervals import (
    VERDICT_TEXT,
    bootstrap,
    clean,
    group_sums,
    metric_entry,
    ratio,
    verdict,
)
from .registry import register

CHECK_ID = "sampling_bias"
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


def _groups_block(names, counts, expected, judged, point, boot, min_rows, threshold) -> dict:
    groups, judged_names = {}, list(names[judged])
    for i, g in enumerate(names):
        # A share of rows is a rate: Wilson's interval.
        share = metric_entry(point["share"][i], None, None, interval=wilson(counts[i], counts.sum()), method=WILSON)
        figures = {"status": "insufficient", "count": int(counts[i]), "share": share["value"],
                   "share_ci_low": share["ci_low"], "share_ci_high": share["ci_high"],
                   "expected_share": clean(expected[i]), "representation_ratio": None,
                   "verdict": FEW if counts[i] < min_rows else ENOUGH}
        if judged[i]:  # expected to have enough rows for its share to be judged
            j = judged_names.index(g)
            # Per group only a shortfall harms (the policy's upper bound is for the smallest ratio).
            floor = {"low": threshold["low"], "high": np.inf} if threshold else None
            entry = metric_entry(point["ratios"][j], boot["ratios"][:, j], floor)
            figures.update({"status": entry["status"], "representation_ratio": entry["value"],
                            "representation_ratio_ci_low": entry["ci_low"],
                            "representation_ratio_ci_high": entry["ci_high"]})
        groups[str(g)] = figures
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


def _attribute_result(ctx: CheckContext, attribute: str, identity: bool, rng) -> dict:
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
    groups = _groups_block(compared, counts, expected, judged, point, boot, ctx.min_group_rows,
                           ctx.policy["thresholds"].get("representation_ratio"))
    all_counts = np.bincount(codes, minlength=n_groups)
    for g in names:
        if str(g) not in groups:  # the identity background, or a group the reference does not list
            groups[str(g)] = {"count": int(all_counts[index[str(g)]]), "share": None, "expected_share": None,
                              "representation_ratio": None,
                              "verdict": FEW if all_counts[index[str(g)]] < ctx.min_group_rows else ENOUGH}
    metrics = _common_metrics(ctx, groups, compared, test, judged, point, boot)
    status = verdict(metrics)
    message = _finding(attribute, metrics, groups, status, ctx.min_group_rows,
                       against=("the reference population" if reference else
                                "an even split among texts that mention a term" if identity else "an even split"),
                       among=int(counts.sum()) if int(counts.sum()) != values.size else None)
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
    groups = _groups_block(cells, counts, expected, judged, point, boot, ctx.min_group_rows,
                           ctx.policy["thresholds"].get("representation_ratio"))
    metrics = _common_metrics(ctx, groups, cells, test, judged, point, boot)
    status = verdict(metrics)
    attribute = f"{first} & {second}"
    return {"id": CHECK_ID, "attribute": attribute, "status": status, "metrics": metrics, "groups": groups,
            "message": _finding(attribute, metrics, groups, status, ctx.min_group_rows,
                                against="the shares expected if the two attributes were independent",
                                intersection=True)}


def _finding(attribute, metrics, groups, status, min_rows, against: str, among: int | None = None,
             intersection: bool = False) -> str:
    total = sum(f["count"] for f in groups.values())
    shown = sorted(groups.items(), key=lambda item: -item[1]["count"])
    # Every share in this sentence is of all rows, so that they add up to 100 %.
    listing = ", ".join(f"{g} {f['count'] / total:.1%} ({f['count']:,} rows)" for g, f in shown[:6])
    parts = [f"'{attribute}' has {len(groups)} {'intersections' if intersection else 'groups'}; of all {total:,}"
             f" rows: {listing}" + (", ..." if len(shown) > 6 else "") + "."]
    rep = metrics["representation_ratio"]
    if rep["value"] is not None:
        ci = f" (95% CI {rep['ci_low']:.2f} to {rep['ci_high']:.2f})" if rep["ci_low"] is not None else ""
        scope = f"Among the {among:,} rows compared, against" if among else "Against"
        parts.append(f"{scope} {against}, the least represented is {rep['group']}, at {rep['value']:.2f} of its"
                     f" expected share{ci}.")
    under = [g for g, f in groups.items() if f.get("status") in ("fail", "warn")]
    if under:
        parts.append("Outside the policy: " + ", ".join(
            f"{g} (under-represented, {groups[g]['representation_ratio']:.2f} of its expected share;"
            f" {groups[g]['status']})" for g in under) + ".")
    p = metrics["chi_square_p_value"]["value"]
    if p is not None:
        parts.append(f"A chi-square test of the counts gives p = {p:.3g}"
                     + (" (the difference is unlikely to be chance)." if p < 0.05 else "."))
    small = metrics["smallest_group_count"]
    verdict_text = FEW if small["value"] < min_rows else ENOUGH
    parts.append(f"The smallest is {small['group']} with {small['value']} rows: {verdict_text}"
                 f" (at least {min_rows} are needed).")
    parts.append(VERDICT_TEXT.get(status, ""))
    return " ".join(p for p in parts if p)


@register(CHECK_ID)
def run(ctx: CheckContext) -> list[dict]:
    rng = np.random.default_rng(ctx.seed)
    identity = set(ctx.groups.attrs.get("identity_attributes", []))
    results = [_attribute_result(ctx, a, a in identity, rng) for a in ctx.groups.columns]
    # Two identity-term categories rarely meet in one comment: their intersections are
    # almost all "none & none" and would bury the report; pairs with a column stay.
    columns = list(ctx.groups.columns)
    pairs, skipped = crossable_pairs(ctx.groups, columns)
    results += [_intersection_result(ctx, a, b, rng) for a, b in pairs if not (a in identity and b in identity)]
    results += [skipped_crossing(CHECK_ID, a, b, why) for (a, b), why in skipped.items()]
    return results
