"""automation_bias: can a person trust the model's scores, equally for every group?

People over-trust confident machines. This check measures whether the confidence a
model shows matches how often it is right (calibration), overall and per group:

- expected calibration error (ECE): predictions binned by confidence into equal-width
  bins; the row-weighted mean of |accuracy - mean confidence| over bins;
- reliability-diagram data per group (per bin: mean confidence, accuracy, count);
- Brier score of the favourable probability (sklearn's brier_score_loss);
- confidently-wrong rate: share of a group's rows predicted with confidence >= 0.9
  and wrong, the errors a person is least likely to catch;
- review threshold: the confidence below which a person should review, so that the
  decisions left automated reach the target accuracy (default 0.95).

The task is read as favourable-vs-rest: the prediction is favourable when its
probability is at least 0.5, and the confidence is max(p, 1 - p). (ctx.y_pred, the
argmax over all classes, is not used: with more than two classes it can disagree with
that confidence, and calibration needs the two to belong together.) Per group, the
review threshold's share of rows sent to review and the accuracy left automated show
whether one group carries the reviews or the errors. A binary confidence
never drops below 0.5, so the bins divide [0.5, 1] (with bins over [0, 1] half would
always be empty); bin k holds confidences in (lower, upper], the first also 0.5.
Intervals come from a bootstrap stratified by group, so every resample keeps each
group's size, bias-corrected. A binned ECE is biased upward (noise in a bin reads as
miscalibration), so its interval also takes in the bootstrap of a noise-corrected ECE
(debiased_ece) to reach below the estimate (confidence.union_interval); the
confidently-wrong rate, a plain rate of rows, has Wilson's interval.
"""
from __future__ import annotations

import numpy as np
from scipy import sparse
from scipy.stats import norm
from sklearn.metrics import brier_score_loss

from .confidence import BOOTSTRAP_UNION, WILSON, union_interval, wilson
from .context import CheckContext
from .intervals import (
    bootstrap,
    clean,
    finding_text,
    merge_privileged,
    metric_entry,
    onehot,
    ratio,
    verdict,
    worst_entry,
)
from .power import rows_for_calibration_gap
from .registry import register
from .verdicts import group_status, insufficient_text, mark_insufficient, outside_policy

CHECK_ID = "automation_bias"
CONFIDENTLY_WRONG_AT = 0.9


def top_label(prob: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(predicted favourable, confidence of the predicted class) for favourable-vs-rest."""
    prob = np.asarray(prob, dtype=np.float64)
    predicted = prob >= 0.5
    return predicted, np.where(predicted, prob, 1.0 - prob)


def bin_edges(bins: int) -> np.ndarray:
    return np.linspace(0.5, 1.0, bins + 1)


def bin_index(confidence: np.ndarray, bins: int) -> np.ndarray:
    # searchsorted with side="left" puts a confidence equal to an edge in the bin below it.
    return np.searchsorted(bin_edges(bins)[1:-1], confidence, side="left")


def review_threshold(confidence, correct, weights, target: float) -> tuple[np.ndarray, np.ndarray]:
    """Per weight row: the lowest confidence t such that rows with confidence >= t reach
    `target` accuracy (the largest set that can be left automated), and the share of
    weight below t (sent to review). NaN where even the most confident rows miss it."""
    weights = np.atleast_2d(weights)
    order = np.argsort(-np.asarray(confidence), kind="stable")
    conf_sorted = np.asarray(confidence)[order]
    ends = np.r_[np.flatnonzero(conf_sorted[1:] != conf_sorted[:-1]), conf_sorted.size - 1]
    w = weights[:, order]
    kept = np.cumsum(w, axis=1)[:, ends]
    right = np.cumsum(w * np.asarray(correct, dtype=np.float64)[order], axis=1)[:, ends]
    with np.errstate(invalid="ignore"):
        ok = ratio(right, kept) >= target
    last = ends.size - 1 - np.argmax(ok[:, ::-1], axis=1)
    found = ok.any(axis=1)
    total = weights.sum(axis=1)
    threshold = np.where(found, conf_sorted[ends][last], np.nan)
    share = np.where(found, 1.0 - ratio(kept[np.arange(kept.shape[0]), last], total), np.nan)
    return threshold, share


# The folded normal's mean E|X| / sd for X ~ N(mu * sd, sd), on a grid of mu, to invert.
_MU = np.linspace(0.0, 40.0, 4001)
_FOLDED = _MU * (1 - 2 * norm.cdf(-_MU)) + 2 * norm.pdf(_MU)


def debiased_ece(count: np.ndarray, right: np.ndarray, conf: np.ndarray) -> np.ndarray:
    """ECE with each bin's |correct - summed confidence| replaced by the gap whose expected
    absolute value under the bin's binomial noise is the one observed (0 when it is within
    the noise floor). The plug-in ECE adds that noise floor to every bin, so it lies above
    the true ECE, by most in small bins; this estimate does not, and gives the lower end of
    the ECE's interval. Arrays (..., bins), over the last axis."""
    with np.errstate(divide="ignore", invalid="ignore"):
        smoothed = (right + 1) / (count + 2)  # keeps the noise estimate off zero in tiny bins
        noise = np.sqrt(smoothed * (1 - smoothed) * count)
        scaled = np.where(noise > 0, np.abs(right - conf) / noise, 0.0)
    gaps = np.where(count > 0, np.interp(scaled, _FOLDED, _MU, left=0.0) * noise, 0.0)
    return ratio(gaps.sum(axis=-1), count.sum(axis=-1))


class Calibration:
    """Weighted calibration figures for every group at once (unit weights: the data as is)."""

    def __init__(self, ctx: CheckContext, codes: np.ndarray, n_groups: int):
        y = np.asarray(ctx.y_true, dtype=bool)
        self.prob = np.asarray(ctx.prob, dtype=np.float64)
        predicted, self.confidence = top_label(self.prob)
        self.correct = predicted == y
        self.codes = codes
        self.bins = int(ctx.calibration_bins)
        self.n_groups = n_groups
        self.target = float(ctx.review_target_accuracy)
        cells = codes * self.bins + bin_index(self.confidence, self.bins)
        size = n_groups * self.bins
        wrong = (self.confidence >= CONFIDENTLY_WRONG_AT) & ~self.correct
        # Every per-cell and per-group sum the figures need, as the columns of one
        # matrix: a chunk of resamples then costs a single matrix product.
        self.design = sparse.hstack([
            onehot(cells, size), onehot(cells, size, self.correct), onehot(cells, size, self.confidence),
            onehot(codes, n_groups, (self.prob - y) ** 2), onehot(codes, n_groups, wrong),
        ], format="csr")

    def reliability(self, w: np.ndarray) -> tuple[np.ndarray, ...]:
        """(k, groups, bins) weighted counts, correct counts and summed confidences, then
        (k, groups) summed squared errors and confidently-wrong counts."""
        sums = w @ self.design
        size, shape = self.n_groups * self.bins, (w.shape[0], self.n_groups, self.bins)
        count, right, conf = (sums[:, i * size:(i + 1) * size].reshape(shape) for i in range(3))
        squared, wrong = sums[:, 3 * size:3 * size + self.n_groups], sums[:, 3 * size + self.n_groups:]
        return count, right, conf, squared, wrong

    def __call__(self, w: np.ndarray) -> dict[str, np.ndarray]:
        count, right, conf, squared, wrong = self.reliability(w)
        rows = count.sum(axis=2)
        out = {"overall_ece": ratio(np.abs(right.sum(1) - conf.sum(1)).sum(1), rows.sum(1)),
               "ece": ratio(np.abs(right - conf).sum(axis=2), rows),
               "overall_ece_corrected": debiased_ece(count.sum(1), right.sum(1), conf.sum(1)),
               "ece_corrected": debiased_ece(count, right, conf),
               "brier": ratio(squared, rows), "confidently_wrong": ratio(wrong, rows)}
        out["review_threshold"], out["review_share"] = review_threshold(self.confidence, self.correct, w, self.target)
        return out


def _reliability_lists(count, right, conf) -> dict[str, list]:
    return {
        "reliability_confidence": [clean(v) for v in ratio(conf, count)],
        "reliability_accuracy": [clean(v) for v in ratio(right, count)],
        "reliability_count": [int(round(v)) for v in count],
    }


def _group(ctx: CheckContext, calib: Calibration, point: dict, boot: dict, i: int, priv: int | None,
           rows: int) -> tuple[dict, dict]:
    """One group's metric entries (ECE, its difference to the privileged group, Brier,
    confidently wrong) and its plain figures for the table."""
    thresholds = ctx.policy["thresholds"]
    mask = calib.codes == i
    entries = {"expected_calibration_error": ece_entry(point, boot, (i,), thresholds.get("expected_calibration_error")),
               "brier_score": metric_entry(brier_score_loss(ctx.y_true[mask], calib.prob[mask], labels=[False, True]),
                                           boot["brier"][:, i], None)}
    # A rate of rows: Wilson's interval (not [0, 0] when no row is confidently wrong).
    n_wrong = int(np.sum(mask & (calib.confidence >= CONFIDENTLY_WRONG_AT) & ~calib.correct))
    entries["confidently_wrong_rate"] = metric_entry(point["confidently_wrong"][i], None, None,
                                                     interval=wilson(n_wrong, rows), method=WILSON)
    if priv is not None and i != priv:
        entries["expected_calibration_error_difference"] = ece_entry(
            point, boot, (i, priv), thresholds.get("expected_calibration_error_difference"))
    figures = {"count": rows, "accuracy": float(calib.correct[mask].mean()),
               # Positive: more confident than right (overconfident); negative: underconfident.
               "confidence_minus_accuracy": float(calib.confidence[mask].mean() - calib.correct[mask].mean())}
    for key, entry in entries.items():
        figures.update({key: entry["value"], f"{key}_ci_low": entry["ci_low"], f"{key}_ci_high": entry["ci_high"]})
    threshold = point["review_threshold"]
    if threshold is not None and np.isfinite(threshold):
        automated = mask & (calib.confidence >= threshold)
        figures["review_share"] = float(1 - automated.sum() / mask.sum())
        figures["automated_accuracy"] = clean(calib.correct[automated].mean()) if automated.any() else None
    return entries, figures


def ece_entry(point: dict, boot: dict, groups: tuple[int, ...], threshold) -> dict:
    """The ECE of one group (groups = (i,)), of all rows (()), or the difference of two
    groups' ((i, j)), with the interval of confidence.union_interval over the plug-in and
    the noise-corrected estimate."""
    def pick(key: str, source: dict):
        if not groups:
            return source[f"overall_{key}"]
        values = source[key]
        first = values[..., groups[0]]
        return first - values[..., groups[1]] if len(groups) == 2 else first

    value = pick("ece", point)
    interval = union_interval(value, (pick("ece", boot), value),
                              (pick("ece_corrected", boot), pick("ece_corrected", point)))
    return metric_entry(value, None, threshold, interval=interval, method=BOOTSTRAP_UNION)


def _attribute_result(ctx: CheckContext, attribute: str, rng: np.random.Generator) -> dict:
    values, priv_name = merge_privileged(ctx.groups[attribute].astype(str).to_numpy(),
                                         ctx.privileged.get(attribute, []))
    names, codes = np.unique(values, return_inverse=True)
    calib = Calibration(ctx, codes, names.size)
    point = {k: v[0] for k, v in calib(np.ones((1, values.size))).items()}
    boot = bootstrap(calib, codes, rng, resamples=ctx.resamples)
    count, right, conf = (a[0] for a in calib.reliability(np.ones((1, values.size)))[:3])
    thresholds = ctx.policy["thresholds"]
    sizes = np.bincount(codes, minlength=names.size)
    big = {i for i in range(names.size) if sizes[i] >= ctx.min_group_rows}
    priv = next((i for i in big if names[i] == priv_name), None)
    groups = {"all rows": {
        "count": int(values.size), "accuracy": float(calib.correct.mean()),
        "expected_calibration_error": clean(point["overall_ece"]),
        "brier_score": float(brier_score_loss(ctx.y_true, calib.prob)),
        **_reliability_lists(count.sum(0), right.sum(0), conf.sum(0)),
        "reliability_bin_edges": [float(e) for e in bin_edges(calib.bins)],
    }}
    rule = _rule(ctx, float(calib.correct.mean()))
    per_group, small = {}, {}
    for i in sorted(big, key=lambda j: names[j]):
        g = str(names[i])
        per_group[g], figures = _group(ctx, calib, point, boot, i, priv, int(sizes[i]))
        if rule and sizes[i] < rule[0]:
            small[g] = (int(sizes[i]), rule[0])
            mark_insufficient(per_group[g])
            figures["rows_needed"] = rule[0]
        figures.update(_reliability_lists(count[i], right[i], conf[i]))
        groups[(f"privileged: {g}" if i == priv else g)] = {"status": group_status(per_group[g].values()), **figures}
    too_small = [f"{names[i]} ({int(sizes[i])})" for i in range(names.size) if i not in big]
    if not per_group:
        return {"id": CHECK_ID, "attribute": attribute, "status": "skipped", "metrics": {}, "groups": groups,
                "message": f"No group of '{attribute}' has {ctx.min_group_rows} rows or more:"
                           f" {', '.join(too_small)}."}

    def worst(name: str) -> dict:
        entries = {g: e[name] for g, e in per_group.items() if name in e}
        return worst_entry(entries, worse="high") or metric_entry(None, None, thresholds.get(name))

    metrics = {name: worst(name) for name in ("expected_calibration_error", "expected_calibration_error_difference")}
    metrics["overall_expected_calibration_error"] = ece_entry(point, boot, (), None)
    metrics.update({name: worst(name) for name in ("brier_score", "confidently_wrong_rate")})
    metrics["review_threshold"] = metric_entry(point["review_threshold"], boot["review_threshold"], None)
    metrics["review_share"] = metric_entry(point["review_share"], boot["review_share"], None)
    status = verdict(metrics)
    message = _finding(ctx, attribute, metrics, groups, per_group, status, too_small,
                       names[priv] if priv is not None else None, insufficient_text(small, rule[1]) if rule else "")
    return {"id": CHECK_ID, "attribute": attribute, "status": status, "metrics": metrics, "groups": groups,
            "message": message}


def _rule(ctx: CheckContext, accuracy: float) -> tuple[int, str] | None:
    """(rows a group needs, the rule in words), or None without an ECE threshold."""
    threshold = ctx.policy["thresholds"].get("expected_calibration_error")
    if not threshold or not threshold.get("high"):
        return None
    gap = threshold["high"]
    return rows_for_calibration_gap(accuracy, gap), (
        f"a group needs the rows a two-sided one-sample test of a proportion (alpha 0.05) needs to tell, with 80%"
        f" power, an accuracy of {accuracy:.2f} (all rows) from a stated confidence {gap:g} away")


def _named(group: str, name: str, entry: dict, figures: dict, priv) -> str:
    ci = f"95% CI {entry['ci_low']:.3f} to {entry['ci_high']:.3f}; " if entry["ci_low"] is not None else ""
    lean = "overconfident" if figures["confidence_minus_accuracy"] > 0 else "underconfident"
    if name == "expected_calibration_error_difference":
        return (f"{group} is disfavoured: its calibration error is {entry['value']:+.3f} above the privileged"
                f" group's ({priv}; {ci}{entry['status']}), its scores {lean}")
    who = f"{group} (privileged)" if group == priv else group
    return f"{who}'s scores are {lean}: calibration error {entry['value']:.3f} ({ci}{entry['status']})"


def _finding(ctx, attribute, metrics, groups, per_group, status, too_small, priv, small) -> str:
    overall = metrics["overall_expected_calibration_error"]["value"]
    parts = [f"Across all rows, the model's stated confidence and its observed accuracy differ by"
             f" {overall:.3f} on average (expected calibration error)."]
    label = {g: (f"privileged: {g}" if g == priv else g) for g in per_group}
    bad = outside_policy(per_group)
    if bad:
        parts.append(f"For '{attribute}', {len(bad)} of {len(per_group)} groups {'is' if len(bad) == 1 else 'are'}"
                     " outside the policy: "
                     + "; ".join(_named(g, n, e, groups[label[g]], priv) for g, n, e in bad) + ".")
    else:
        ece = metrics["expected_calibration_error"]
        parts.append(f"For '{attribute}', " + ("no group has enough rows to decide;" if status == "inconclusive"
                                               else "no group is outside the policy;")
                     + f" the least calibrated is {ece['group']}, with an error of {ece['value']:.3f}.")
    wrong = metrics["confidently_wrong_rate"]
    if wrong["value"] is not None:
        parts.append(f"{wrong['value']:.1%} of {wrong['group']}'s predictions are confidently wrong (confidence"
                     f" {CONFIDENTLY_WRONG_AT:g} or more, yet wrong), the most of any group.")
    review = metrics["review_threshold"]
    target = f"{ctx.review_target_accuracy:.0%}"
    if review["value"] is not None:
        parts.append(f"To reach {target} accuracy on the decisions left automated, a person should review"
                     f" predictions with confidence below {review['value']:.3f}"
                     f" ({metrics['review_share']['value']:.1%} of rows).")
    else:
        parts.append(f"Even the most confident predictions fall short of {target} accuracy, so every"
                     " prediction needs a person's review.")
    return finding_text(parts, status, too_small, small)


@register(CHECK_ID)
def run(ctx: CheckContext) -> list[dict]:
    rng = np.random.default_rng(ctx.seed)
    return [_attribute_result(ctx, attribute, rng) for attribute in ctx.groups.columns]
