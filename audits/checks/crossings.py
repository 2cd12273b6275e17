"""Which pairs of attributes are worth crossing into intersectional groups.

Two columns that describe the same partition of the rows ("sex" and "gender" coded
alike), or where one determines the other ("city" and "country"), add no group that
the single attributes do not already show: crossing them repeats a result under a
longer name and, against independence, reports a dependence that is true by
construction. Such pairs are not crossed; the checks say which, and why.
"""
from __future__ import annotations

from itertools import combinations

import pandas as pd


def _distinct(frame: pd.DataFrame, *columns: str) -> int:
    return len(frame[list(columns)].drop_duplicates())


def crossing_reason(frame: pd.DataFrame, first: str, second: str) -> str | None:
    """Why `first` and `second` should not be crossed, or None when they should."""
    pair = frame[[first, second]].astype(str)
    both, a, b = _distinct(pair, first, second), _distinct(pair, first), _distinct(pair, second)
    if both == a == b:
        return f"'{first}' and '{second}' describe the same partition of the rows (each value of one goes with" \
               " exactly one value of the other)"
    if both == a:
        return f"'{first}' determines '{second}' (each value of '{first}' goes with one value of '{second}')"
    if both == b:
        return f"'{second}' determines '{first}' (each value of '{second}' goes with one value of '{first}')"
    return None


def crossable_pairs(frame: pd.DataFrame, columns: list[str]) -> tuple[list[tuple[str, str]], dict]:
    """(pairs to cross, {(first, second): reason} for the pairs left out), in column order."""
    crossed, skipped = [], {}
    for first, second in combinations(columns, 2):
        reason = crossing_reason(frame, first, second)
        if reason:
            skipped[(first, second)] = reason
        else:
            crossed.append((first, second))
    return crossed, skipped


def skipped_crossing(check_id: str, first: str, second: str, reason: str) -> dict:
    """The result a check reports for a pair it did not cross."""
    return {"id": check_id, "attribute": f"{first} & {second}", "status": "skipped", "metrics": {}, "groups": {},
            "message": f"Not crossed: {reason}, so their intersections would repeat the single attributes'"
                       " results."}
