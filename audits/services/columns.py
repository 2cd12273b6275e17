"""Columns as text, and what the mapping step offers: columns that could hold groups.

Values that name a label or a group are handled as text everywhere (see
audits.services.datasets); `value_strings` is the one conversion.
"""
from __future__ import annotations

import pandas as pd

MISSING = "(missing)"  # the group of rows whose protected value is empty
MAX_GROUP_VALUES = 50


def value_strings(series: pd.Series, *, missing: str = MISSING) -> pd.Series:
    """The column's values as text: booleans "True"/"False", whole floats without ".0"."""
    empty = series.isna().to_numpy()
    present = series[~empty]
    if pd.api.types.is_float_dtype(series) and bool(((present % 1 == 0) & (present.abs() < 2**53)).all()):
        # An integer column with a gap is read as floats; its labels are still "0" and "1".
        text = present.astype("int64").astype(str)
    else:
        text = present.map(str)
    result = pd.Series(missing, index=series.index, dtype=object)
    result[~empty] = text.to_numpy(dtype=object)
    return result.astype("str")


def group_candidates(*, frame: pd.DataFrame, max_values: int = MAX_GROUP_VALUES) -> dict[str, list[str]]:
    """Columns with few distinct values (likely categories), each with its values by count."""
    candidates = {}
    for column in frame.columns:
        counts = value_strings(frame[column]).value_counts()
        if 1 < len(counts) <= max_values:
            candidates[str(column)] = [str(v) for v in counts.index]
    return candidates
