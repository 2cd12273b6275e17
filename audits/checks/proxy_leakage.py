"""proxy_leakage: can a group be told from the text alone?

Per protected attribute and non-privileged group: the cross-validated ROC AUC of a
logistic regression telling the group's rows from the privileged group's from the text
alone (TF-IDF, or ctx.embeddings when given). Near 0.5 the text carries little group
signal; near 1 a model can learn the group from the text even when the attribute is
withheld from it, so a model that looks fair can still act on a proxy.

Its own finding, apart from sampling_bias: how well a classifier separates the groups
says nothing about whether the data represent them, and a balanced sample of texts that
name their group (a template set, names in the text) leaks by design. By default it
warns and never fails an audit: leakage is a risk to know and mitigate, not itself a
difference in treatment; the fairness checks measure that.

Identity-term attributes are derived from the text, so they leak by construction: the
leakage is reported with no threshold. Intervals come from a bootstrap of the
out-of-fold scores stratified by class, bias-corrected.
"""
from __future__ import annotations

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedKFold, cross_val_predict
from sklearn.preprocessing import StandardScaler

from .context import CheckContext
from .intervals import AUC, VERDICT_TEXT, bootstrap, merge_privileged, metric_entry, verdict, worst_entry
from .registry import register
from .verdicts import group_status

CHECK_ID = "proxy_leakage"
METRIC = "proxy_leakage_auc"
# The leakage estimate settles long before this; it bounds the time spent fitting.
MAX_LEAKAGE_ROWS = 20_000
# Leakage is reported, at worst as a warning (see the module docstring).
CEILING = "warn"


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


def leakage_auc(features, target: np.ndarray, ctx: CheckContext, rng) -> tuple[float | None, np.ndarray]:
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


def _skipped(attribute: str, message: str) -> dict:
    return {"id": CHECK_ID, "attribute": attribute, "status": "skipped", "metrics": {}, "groups": {},
            "message": message}


def _attribute_result(ctx: CheckContext, attribute: str, identity: bool, features, rng) -> dict:
    values = ctx.groups[attribute].astype(str).to_numpy()
    # Several privileged values are one privileged group, as in group_fairness.
    merged, priv_name = merge_privileged(values, ctx.privileged.get(attribute, []))
    if features is None:
        return _skipped(attribute, "Proxy leakage was not measured: the audit has no usable texts or embeddings.")
    if priv_name is None or (merged == priv_name).sum() < ctx.min_group_rows:
        return _skipped(attribute, f"The privileged group of '{attribute}' has fewer than {ctx.min_group_rows}"
                                   " rows, so no group can be told from it.")
    threshold = None if identity else ctx.policy["thresholds"].get(METRIC)
    names, counts = np.unique(merged, return_counts=True)
    groups, entries, too_small = {}, {}, []
    for g, count in zip(names, counts, strict=True):
        if g == priv_name:
            continue
        if count < ctx.min_group_rows:
            too_small.append(f"{g} ({count})")
            continue
        rows = np.flatnonzero((merged == g) | (merged == priv_name))
        entry = entries[str(g)] = metric_entry(*leakage_auc(features[rows], merged[rows] == g, ctx, rng), threshold)
        if entry["status"] == "fail":
            entry["status"] = CEILING
        groups[str(g)] = {"status": group_status([entry]) if threshold else "info", "count": int(count),
                          METRIC: entry["value"], f"{METRIC}_ci_low": entry["ci_low"],
                          f"{METRIC}_ci_high": entry["ci_high"]}
    worst = worst_entry(entries, worse="high")
    if worst is None:
        return _skipped(attribute, f"No non-privileged group of '{attribute}' has {ctx.min_group_rows} rows or"
                                   f" more: {', '.join(too_small) or 'none'}.")
    metrics = {METRIC: worst}
    status = verdict(metrics)
    return {"id": CHECK_ID, "attribute": attribute, "status": status, "metrics": metrics, "groups": groups,
            "message": _finding(attribute, entries, priv_name, identity, status, too_small)}


def _finding(attribute, entries, priv, identity, status, too_small) -> str:
    leaky = sorted(((g, e) for g, e in entries.items() if e["status"] == CEILING),
                   key=lambda item: -item[1]["value"])
    shown = leaky or [max(entries.items(), key=lambda item: item[1]["value"] or 0)]
    named = "; ".join(f"{g} at AUC {e['value']:.2f}" + (f" (95% CI {e['ci_low']:.2f} to {e['ci_high']:.2f})"
                                                         if e["ci_low"] is not None else "") for g, e in shown)
    strength = max(e["value"] or 0 for _, e in shown)
    signal = "little" if strength < 0.6 else "some" if strength < 0.75 else "strong"
    parts = [f"From the text alone, a classifier tells {'these groups' if len(shown) > 1 else 'this group'} of"
             f" '{attribute}' from the privileged group ({priv}): {named} ({signal} group signal; 0.5 is none)."]
    if identity:
        parts.append("This attribute is derived from identity terms in the text, so the text reveals it by"
                     " construction; the leakage is expected and not judged.")
    elif leaky:
        parts.append("A model can learn these groups from the text even when the attribute is withheld from it;"
                     " leakage is reported as a warning, not a failure: the fairness checks show whether the"
                     " model treats the groups differently.")
    else:
        parts.append(VERDICT_TEXT.get(status, ""))
    if too_small:
        parts.append("Too few rows to judge: " + ", ".join(too_small) + ".")
    return " ".join(p for p in parts if p)


@register(CHECK_ID)
def run(ctx: CheckContext) -> list[dict]:
    rng = np.random.default_rng(ctx.seed)
    identity = set(ctx.groups.attrs.get("identity_attributes", []))
    features = text_features(ctx)
    return [_attribute_result(ctx, a, a in identity, features, rng) for a in ctx.groups.columns]
