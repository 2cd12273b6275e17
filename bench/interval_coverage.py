"""Coverage of the checks' 95 % intervals: how often they contain a known true value.

Run from the repository root: `python bench/interval_coverage.py [--reps R] [--sizes 20,50,200,1000]`.

Each replicate draws a fresh sample from a population whose figures are known, runs the
checks' own interval code on it and records whether the interval holds the truth:

- SPD, DI, EOD, AOD: an unprivileged and a privileged group of n rows each, base rate
  0.5, TPR 0.70 against 0.80 and FPR 0.15 against 0.20; so SPD = -0.075, DI = 0.85,
  EOD = -0.10 and AOD = -0.075 (group_fairness.pair_intervals, as the check calls it);
- subgroup-AUC gap: a subgroup of n rows inside 1,000 background rows; binormal scores,
  separation 1.0 in the subgroup and 1.5 in the background; the truth (about -0.08)
  from 2 million rows of the same population (the subgroup_auc check, 1,000 resamples);
- ECE: n rows whose favourable label has probability sigmoid(0.6 logit p) for a stated
  p uniform on [0.05, 0.95] (overconfident); the true ECE of the check's 10 bins from
  the bin-wise expectations over 2 million p (the automation_bias check).

Goal: 93-97 % for every statistic and size. Printed, not asserted: a simulation is a
measurement; its own standard error (about 1 point at 500 replicates) is shown.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "auditplatform.settings")
os.environ.setdefault("DEBUG", "1")

import django  # noqa: E402

django.setup()

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from scipy.special import expit, logit  # noqa: E402
from sklearn.metrics import roc_auc_score  # noqa: E402

from audits.checks import CheckContext, get_check  # noqa: E402
from audits.checks.automation_bias import bin_index, top_label  # noqa: E402
from audits.checks.bootstrap import confusion_cells  # noqa: E402
from audits.checks.group_fairness import POLICY_METRICS, pair_intervals  # noqa: E402
from audits.checks.policy import DEFAULT_POLICY  # noqa: E402

BASE, TPR, FPR = 0.5, {"u": 0.70, "p": 0.80}, {"u": 0.15, "p": 0.20}
BACKGROUND, SEPARATION = 1000, {"subgroup": 1.0, "background": 1.5}
SHARPNESS, BINS = 0.6, 10
GOAL = (0.93, 0.97)


def _selection(g: str) -> float:
    return BASE * TPR[g] + (1 - BASE) * FPR[g]


TRUTH = {
    "statistical_parity_difference": _selection("u") - _selection("p"),
    "disparate_impact": _selection("u") / _selection("p"),
    "equal_opportunity_difference": TPR["u"] - TPR["p"],
    "average_odds_difference": 0.5 * ((FPR["u"] - FPR["p"]) + (TPR["u"] - TPR["p"])),
}


def _group(rng, n: int, g: str) -> np.ndarray:
    y = rng.random(n) < BASE
    pred = rng.random(n) < np.where(y, TPR[g], FPR[g])
    return confusion_cells(y, pred)


def rate_metrics(rng, n: int) -> dict[str, bool | None]:
    """Covered or not, per metric (None where the sample leaves it undefined)."""
    intervals = pair_intervals(_group(rng, n, "u"), _group(rng, n, "p"))
    out = {}
    for name in POLICY_METRICS:
        low, high, _ = intervals[name]
        out[name] = None if low is None else bool(low <= TRUTH[name] <= high)
    return out


def _auc_sample(rng, n_sub: int, n_bg: int):
    y = np.r_[rng.random(n_sub) < 0.5, rng.random(n_bg) < 0.5]
    shift = np.r_[np.full(n_sub, SEPARATION["subgroup"]), np.full(n_bg, SEPARATION["background"])]
    score = rng.normal(size=y.size) + y * shift
    group = np.r_[np.full(n_sub, "subgroup"), np.full(n_bg, "none")]
    return y, expit(score), group


def auc_gap_truth(n_sub: int) -> float:
    """Subgroup AUC minus overall AUC of the population with this subgroup share."""
    rng = np.random.default_rng(12345)
    scale = 2_000_000 // (n_sub + BACKGROUND)
    y, prob, group = _auc_sample(rng, n_sub * scale, BACKGROUND * scale)
    sub = group == "subgroup"
    return float(roc_auc_score(y[sub], prob[sub]) - roc_auc_score(y, prob))


def auc_gap(rng, n: int, truth: float, seed: int) -> bool | None:
    y, prob, group = _auc_sample(rng, n, BACKGROUND)
    ctx = CheckContext(y_true=y, y_pred=prob >= 0.5, prob=prob, groups=pd.DataFrame({"g": group}),
                       privileged={"g": ["none"]}, policy=DEFAULT_POLICY, seed=seed, min_group_rows=10)
    [result] = get_check("subgroup_auc")(ctx)
    figures = result["groups"].get("subgroup", {})
    low, high = figures.get("subgroup_auc_gap_ci_low"), figures.get("subgroup_auc_gap_ci_high")
    return None if low is None else bool(low <= truth <= high)


def _calibration_sample(rng, n: int):
    stated = rng.uniform(0.05, 0.95, n)
    return rng.random(n) < expit(SHARPNESS * logit(stated)), stated


def ece_truth() -> float:
    """The population ECE of the check's bins, from expectations rather than draws."""
    stated = np.random.default_rng(54321).uniform(0.05, 0.95, 2_000_000)
    predicted, confidence = top_label(stated)
    true_p = expit(SHARPNESS * logit(stated))
    right = np.where(predicted, true_p, 1 - true_p)  # P(the top label is correct)
    bins = bin_index(confidence, BINS)
    gap = np.bincount(bins, weights=right - confidence, minlength=BINS)
    return float(np.abs(gap).sum() / stated.size)


def ece(rng, n: int, truth: float, seed: int) -> bool | None:
    y, stated = _calibration_sample(rng, n)
    ctx = CheckContext(y_true=y, y_pred=stated >= 0.5, prob=stated, groups=pd.DataFrame({"g": np.full(n, "all")}),
                       privileged={"g": ["all"]}, policy=DEFAULT_POLICY, seed=seed, min_group_rows=10,
                       calibration_bins=BINS)
    [result] = get_check("automation_bias")(ctx)
    metric = result["metrics"].get("overall_expected_calibration_error", {})
    low, high = metric.get("ci_low"), metric.get("ci_high")
    return None if low is None else bool(low <= truth <= high)


def _cell(hits: list) -> str:
    defined = [h for h in hits if h is not None]
    if not defined:
        return "undefined"
    rate = float(np.mean(defined))
    se = np.sqrt(rate * (1 - rate) / len(defined))
    flag = "" if GOAL[0] <= rate <= GOAL[1] else " *"
    undefined = len(hits) - len(defined)
    return f"{rate:.1%} ±{se:.1%}{flag}" + (f" ({undefined} undef.)" if undefined else "")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=500)
    parser.add_argument("--sizes", default="20,50,200,1000")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    ece_true = ece_truth()
    print(f"truths: {', '.join(f'{k} {v:+.4f}' for k, v in TRUTH.items())}, ECE {ece_true:.4f}")
    names = [*POLICY_METRICS, "subgroup_auc_gap", "expected_calibration_error"]
    table = {name: {} for name in names}
    for n in sizes:
        start = time.perf_counter()
        gap_true = auc_gap_truth(n)
        rng = np.random.default_rng(n)
        hits = {name: [] for name in names}
        for rep in range(args.reps):
            for name, hit in rate_metrics(rng, n).items():
                hits[name].append(hit)
            hits["subgroup_auc_gap"].append(auc_gap(rng, n, gap_true, seed=rep))
            hits["expected_calibration_error"].append(ece(rng, n, ece_true, seed=rep))
        for name in names:
            table[name][n] = _cell(hits[name])
        print(f"n = {n}: subgroup-AUC gap truth {gap_true:+.4f}; {time.perf_counter() - start:.0f} s", flush=True)
    width = max(len(n) for n in names)
    print(f"\nEmpirical coverage of the 95 % intervals, {args.reps} replicates per size"
          f" (* outside the {GOAL[0]:.0%}-{GOAL[1]:.0%} goal):")
    print(f"{'statistic':<{width}}  " + "  ".join(f"{'n = ' + str(n):>22}" for n in sizes))
    for name in names:
        print(f"{name:<{width}}  " + "  ".join(f"{table[name][n]:>22}" for n in sizes))


if __name__ == "__main__":
    main()
