"""Control characters in uploaded text: removed, each removal reported as a warning.

NUL ends strings in C code (a PDF writer, a terminal) and hides what follows it;
bidirectional overrides and isolates (U+202A-U+202E, U+2066-U+2069) make text display
in an order other than the one the model reads ("Trojan Source"). Neither carries
meaning a classifier should see, so both are removed from cells and column names, and
the upload says which column lost them in how many rows.
"""
from __future__ import annotations

import re

import pandas as pd

from audits.errors import row_list

NUL = "\x00"
BIDI = "\u202a-\u202e\u2066-\u2069"
_ANY_RE = re.compile(f"[{NUL}{BIDI}]")
_KINDS = (
    (NUL, "NUL characters"),
    (f"[{BIDI}]", "bidirectional override characters (U+202A-U+202E, U+2066-U+2069)"),
)
_SHOWN = 5


def clean_names(names: list, warnings: list[str]) -> list[str]:
    """Column names without NUL and bidi controls (they may then coincide: check them)."""
    cleaned = [_ANY_RE.sub("", str(name)) for name in names]
    changed = [(str(old), new) for old, new in zip(names, cleaned, strict=True) if str(old) != new]
    if changed:
        shown = ", ".join(f"{old!r} -> {new!r}" for old, new in changed[:_SHOWN])
        warnings.append(f"NUL or bidirectional override characters removed from {len(changed)} column "
                        f"name{'s' if len(changed) != 1 else ''}: {shown}.")
    return cleaned


def clean_cells(frame: pd.DataFrame, warnings: list[str]) -> pd.DataFrame:
    """The frame with NUL and bidi controls removed from its text cells."""
    for column in frame.columns:
        values = frame[column]
        if not (pd.api.types.is_string_dtype(values) or values.dtype == object):
            continue
        found = False
        for pattern, what in _KINDS:
            hit = values.str.contains(pattern, regex=pattern != NUL, na=False).to_numpy(dtype=bool)
            if hit.any():
                found = True
                warnings.append(f"column {str(column)!r}: {what} removed from {row_list(hit)}.")
        if found:
            frame[column] = values.map(lambda v: _ANY_RE.sub("", v) if isinstance(v, str) else v)
    return frame
