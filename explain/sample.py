"""Which rows to explain: a small sample chosen for what an auditor needs to see.

Explaining every row is too slow (SHAP and LIME cost hundreds of forward passes a
text), so the audit explains a sample of `size` rows drawn, in turn, from: the worst
counterfactual rows (where swapping an identity term moved the output most), the
misclassified rows (most confidently wrong first), the rows nearest the decision
threshold, and every group (stratified: one row per group in turn). Budget a category
cannot use passes to the next; what is left is filled at random. The same inputs and
seed give the same rows, and no row is chosen twice.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

CATEGORIES = ("counterfactual", "misclassified", "near_threshold", "group")


def select_rows(
    *,
    probabilities: Sequence[float],
    labels: Sequence[bool | None] | None = None,
    groups: Mapping[str, Sequence] | pd.DataFrame | None = None,
    counterfactual_rows: Sequence[int] = (),
    size: int = 20,
    seed: int = 0,
    threshold: float = 0.5,
) -> list[dict]:
    """Rows to explain, in order: [{"row": int, "reason": str}].

    probabilities: each row's probability of the favourable label; labels: whether its
    true label is the favourable one (None where unknown); groups: per attribute, each
    row's group; counterfactual_rows: rows worst first (from the counterfactual check).
    """
    p = np.asarray(probabilities, dtype=np.float64)
    n = len(p)
    size = max(0, min(size, n))
    rng = np.random.default_rng(seed)
    chosen: dict[int, str] = {}

    def take(candidates, reason: str, limit: int) -> int:
        taken = 0
        for row in candidates:
            if taken >= limit or len(chosen) >= size:
                break
            row = int(row)
            if 0 <= row < n and row not in chosen:
                chosen[row] = reason
                taken += 1
        return taken

    base, extra = divmod(size, len(CATEGORIES))
    quotas = [base + (1 if i < extra else 0) for i in range(len(CATEGORIES))]
    carry = 0
    for category, quota in zip(CATEGORIES, quotas, strict=True):
        limit = quota + carry
        if category == "counterfactual":
            taken = take(counterfactual_rows, "counterfactual", limit)
        elif category == "misclassified":
            taken = take(_misclassified(p, labels, threshold), "misclassified", limit)
        elif category == "near_threshold":
            taken = take(np.lexsort((np.arange(n), np.abs(p - threshold))), "near_threshold", limit)
        else:
            taken = 0
            for row, reason in _stratified(groups, n, rng):
                if taken >= limit or len(chosen) >= size:
                    break
                taken += take([row], reason, 1)
        carry = limit - taken
    take(rng.permutation(n), "random", size - len(chosen))
    return [{"row": row, "reason": reason} for row, reason in chosen.items()]


def _misclassified(p: np.ndarray, labels, threshold: float) -> list[int]:
    if labels is None:
        return []
    known = [(i, bool(y)) for i, y in enumerate(labels) if y is not None and not _missing(y)]
    wrong = [i for i, y in known if (p[i] >= threshold) != y]
    # Most confidently wrong first: those are the errors a reviewer would trust.
    return sorted(wrong, key=lambda i: (-abs(p[i] - threshold), i))


def _missing(value) -> bool:
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def _stratified(groups, n: int, rng: np.random.Generator):
    """(row, reason) taking one row from each group in turn, each group in seeded order."""
    if groups is None:
        return
    columns = groups if isinstance(groups, pd.DataFrame) else pd.DataFrame(dict(groups))
    queues = []
    for attribute in columns.columns:
        values = columns[attribute].astype("string").fillna("(missing)").to_numpy()[:n]
        for value in sorted(set(values)):
            members = np.flatnonzero(values == value)
            queues.append((f"group:{attribute}={value}", list(rng.permutation(members))))
    while any(rows for _, rows in queues):
        for reason, rows in queues:
            if rows:
                yield int(rows.pop(0)), reason
