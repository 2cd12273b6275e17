"""What the mapping step offers: which columns could hold groups, and their values."""
from __future__ import annotations

import pandas as pd

from audits.services.datasets import value_strings

MAX_GROUP_VALUES = 50


def group_candidates(*, frame: pd.DataFrame, max_values: int = MAX_GROUP_VALUES) -> dict[str, list[str]]:
    """Columns with few distinct values (likely categories), each with its values by count."""
    candidates = {}
    for column in frame.columns:
        counts = value_strings(frame[column]).value_counts()
        if 1 < len(counts) <= max_values:
            candidates[str(column)] = [str(v) for v in counts.index]
    return candidates
