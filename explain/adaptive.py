"""Adaptive budgets: stop adding model evaluations once an explanation has converged.

SHAP (Partition) and LIME run at growing budgets, 1/8, 2/8, ... 8/8 of the full budget
(the audit's `shap_max_evals` / `lime_num_samples`, the most they ever spend), and stop
at the first budget whose explanation is *stable*:

    the k units with the largest |score| are the same units, each with the same sign, as
    at the budget before; and no two of them, nor the k-th and the next, have the same
    |score|. LIME: k = STABLE_TOP_K (or every unit of a shorter text). SHAP: k = the
    larger of STABLE_TOP_K and SHAP_TOP_SHARE of the text's tokens (`shap_top_k`).

Why SHAP's k grows with the text: the faithfulness suite scores the top 1 to 50 % of
the words, and below the budget that resolves them SHAP's lower ranks are coalition
shares. With k = 5 (measured on the demo model, bench/explain_budgets.py, 10 texts
each) SHAP stopped at 0.61-0.64 of the full budget but lost 0.018 (madlib comments,
26-52 tokens) and 0.034 (demo comments, 14-187 tokens) of comprehensiveness; with the
top 20 % it stops at 0.65 and 0.75 and loses 0.001 and 0.016. (LIME's fit resolves
every word at each budget; k = 5 kept its comprehensiveness within 0.004.)

The last clause is for SHAP: below the budget that splits a coalition of the partition
tree, its tokens share the coalition's value equally, so a tie means "not yet resolved",
and two coarse budgets that leave the same coalition unsplit must not count as agreeing.
Steps of 1/8 (not doubling) because stability is only seen one budget late: a text
whose top tokens settle at half the budget stops at 5/8, not at the full budget.

A SHAP run whose partition tree is exhausted below its budget is exact, and stops there
too. The budgets nest, so growing costs little more than the last budget alone: the
partition explainer, seeded alike, walks the same tree in the same order and a smaller
budget's masks are the first ones a larger budget asks for (the model function's cache
answers them again); LIME's neighbourhood at a budget is the first rows of the full
neighbourhood, drawn once.

Integrated Gradients tries `steps / 3` steps first, and the full `ig_steps` for the texts
whose convergence delta is still large against what the path must explain:

    |delta| <= IG_RELATIVE_TOLERANCE * |f(input) - f(baseline)|, or |delta| <= IG_ABSOLUTE_TOLERANCE

Two tries, not a doubling series: on the demo model a text whose output moves little
along the path converges at 8-16 steps, while one whose output moves most (a confident
prediction) seldom does before the full 50, so every try between costs such a text
steps without stopping it (6+12+24+50 points instead of 50). Each attribution records, in `extra`, the
budget it stopped at, why, and the evaluations it made.
"""
from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

STABLE_TOP_K = 5
# LIME may stop only from half its neighbourhood on. Its top words can agree at two small
# budgets and still move later (bench/audit_10k.py: top-5 agreement with the full budget
# 0.84 on 10 madlib rows without this floor; replayed with it on the budgets of
# bench/explain_budgets.py, 0.94 at 0.54 of the samples).
LIME_MIN_SHARE = 0.5
SHAP_TOP_SHARE = 0.2
FRACTIONS = tuple(i / 8 for i in range(1, 9))
TIE = 1e-6  # relative: closer |scores| count as tied
IG_RELATIVE_TOLERANCE = 0.05
# A path whose ends differ by almost nothing still needs a delta it can be judged by.
IG_ABSOLUTE_TOLERANCE = 1e-3


def budgets(full: int, *, minimum: int = 8, adaptive: bool = True) -> list[int]:
    """The budgets to try, ascending, ending at `full` (only `full` when not adaptive)."""
    full = int(full)
    if not adaptive:
        return [full]
    steps = sorted({max(min(minimum, full), int(round(full * f))) for f in FRACTIONS})
    return [b for b in steps if b < full] + [full]


def shap_top_k(units: int) -> int:
    """The top tokens SHAP's stopping rule compares: STABLE_TOP_K, or SHAP_TOP_SHARE of
    the text's `units` tokens when that is more."""
    return max(STABLE_TOP_K, math.ceil(SHAP_TOP_SHARE * units - 1e-9))


def top_signature(scores: Sequence[float], k: int = STABLE_TOP_K) -> frozenset[tuple[int, int]]:
    """The k strongest units (by |score|, ties by position) with their signs."""
    values = np.asarray(scores, dtype=np.float64)
    order = sorted(range(len(values)), key=lambda i: (-abs(values[i]), i))[:k]
    return frozenset((i, int(np.sign(values[i]))) for i in order)


def resolved(scores: Sequence[float], k: int = STABLE_TOP_K) -> bool:
    """No tie in |score| among the top k, nor between the k-th and the next unit."""
    ranked = np.sort(np.abs(np.asarray(scores, dtype=np.float64)))[::-1][: k + 1]
    gaps = -np.diff(ranked)
    # Float32 probabilities round differently in differently composed batches (~1e-7):
    # values closer than that are a tie.
    return bool(np.all(gaps > TIE * max(float(ranked[0]) if len(ranked) else 0.0, 1e-12)))


def stable(previous: Sequence[float] | None, current: Sequence[float], k: int = STABLE_TOP_K) -> bool:
    """The stopping rule: same top-k units with the same signs at two successive budgets,
    both free of ties."""
    if previous is None or len(previous) != len(current):
        return False
    return (resolved(previous, k) and resolved(current, k)
            and top_signature(previous, k) == top_signature(current, k))


def ig_step_plan(full: int, *, adaptive: bool = True) -> list[int]:
    """IG's step counts to try: a third of the full count, then the full count (only it
    when not adaptive, or when a third would be under 2 steps)."""
    full = int(full)
    first = full // 3
    if not adaptive or first < 2:
        return [full]
    return [first, full]


def ig_converged(delta: float, output_difference: float) -> bool:
    return abs(delta) <= max(IG_RELATIVE_TOLERANCE * abs(output_difference), IG_ABSOLUTE_TOLERANCE)
