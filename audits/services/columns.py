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


# Column names that usually hold the label, in order of preference.
LABEL_NAMES = ("label", "labels", "target", "class", "y", "outcome", "toxic", "is_toxic", "sentiment")
MAX_LABEL_VALUES = 20  # more distinct values than this is not a label column


def column_guesses(*, frame: pd.DataFrame) -> dict[str, str]:
    """The mapping form's first guess: the text column is the one with the longest texts;
    the label is a column with few distinct values (2 to 20), never the text column,
    preferring a conventional name, then a true/false column, then the fewest values.
    Either is left out when nothing fits."""
    guesses: dict[str, str] = {}
    lengths = {str(c): frame[c].map(lambda v: len(v) if isinstance(v, str) else 0).mean()
               for c in frame.columns if frame[c].dtype == object or pd.api.types.is_string_dtype(frame[c])}
    lengths = {c: n for c, n in lengths.items() if n > 0}
    if lengths:
        guesses["text_column"] = max(lengths, key=lengths.get)
    counts = {str(c): value_strings(frame[c]).nunique() for c in frame.columns
              if str(c) != guesses.get("text_column")}
    labels = [c for c, n in counts.items() if 2 <= n <= MAX_LABEL_VALUES]
    named = [c for name in LABEL_NAMES for c in labels if c.strip().lower() == name]
    if named or labels:
        flags = [c for c in labels if pd.api.types.is_bool_dtype(frame[c])]
        guesses["label_column"] = (named or flags or [min(labels, key=lambda c: (counts[c], labels.index(c)))])[0]
    return guesses
