"""The column mapping of a dataset of sentence pairs, for the stereotype probes.

A pairs dataset has a more-stereotypical sentence and a less-stereotypical one per row,
optionally a bias type (gender, age, ...) and a direction (stereo / antistereo, as in
CrowS-Pairs). It has no label and no protected columns: the groups are in the sentences.
Every problem names the file, the column and the (0-based) rows, as for other mappings.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from audits.errors import BadInput, row_list
from audits.services.columns import value_strings

PAIRS = "pairs"
ALL_TYPES = "all"  # the bias type of every pair when no column gives one
# Spellings of the two directions, folded to CrowS-Pairs' names.
DIRECTIONS = {"stereo": "stereo", "stereotype": "stereo", "stereotypical": "stereo",
              "antistereo": "antistereo", "anti-stereo": "antistereo", "anti_stereo": "antistereo",
              "anti-stereotype": "antistereo", "anti_stereotype": "antistereo", "antistereotype": "antistereo",
              "anti-stereotypical": "antistereo"}


def is_pairs_mapping(mapping: dict | None) -> bool:
    """Whether a mapping (as given, or as stored) maps sentence pairs."""
    mapping = mapping or {}
    return mapping.get("kind") == PAIRS or bool(str(mapping.get("more_column") or "").strip())


def pairs_mapping_validate(*, frame: pd.DataFrame, mapping: dict, filename: str) -> dict:
    """The normalised pairs mapping, or BadInput naming the file, column and rows at fault."""
    more = _column(frame, mapping.get("more_column"), "more-stereotypical sentence", filename, required=True)
    less = _column(frame, mapping.get("less_column"), "less-stereotypical sentence", filename, required=True)
    bias = _column(frame, mapping.get("bias_type_column"), "bias type", filename)
    direction = _column(frame, mapping.get("direction_column"), "direction", filename)
    chosen = [c for c in (more, less, bias, direction) if c]
    if len(set(chosen)) != len(chosen):
        raise BadInput(f"{filename}: a column is mapped to two roles ({', '.join(repr(c) for c in chosen)}); "
                       "map each role to its own column.")
    for column in (more, less):
        _sentences(frame[column], column, filename)
    same = frame[more].astype(str).str.strip() == frame[less].astype(str).str.strip()
    if same.any():
        raise BadInput(f"{filename}: columns {more!r} and {less!r} hold the same sentence in {row_list(same)}; "
                       "a pair must differ.")
    if bias and frame[bias].isna().any():
        raise BadInput(f"{filename}: column {bias!r} has no bias type in {row_list(frame[bias].isna())}.")
    if direction:
        folded = value_strings(frame[direction], missing="").str.strip().str.lower()
        unknown = ~folded.isin(list(DIRECTIONS))
        if unknown.any():
            seen = ", ".join(repr(v) for v in dict.fromkeys(frame[direction][unknown].astype(str)).keys())
            raise BadInput(f"{filename}: column {direction!r} must say stereo or antistereo; it holds {seen} "
                           f"in {row_list(unknown)}.")
    return {"kind": PAIRS, "more_column": more, "less_column": less, "bias_type_column": bias,
            "direction_column": direction}


def pairs_frame(*, frame: pd.DataFrame, mapping: dict) -> pd.DataFrame:
    """The pairs of a mapped dataset: more, less, bias_type, direction ("" when not given)."""
    bias, direction = mapping.get("bias_type_column"), mapping.get("direction_column")
    return pd.DataFrame({
        "more": frame[mapping["more_column"]].astype(str).to_numpy(),
        "less": frame[mapping["less_column"]].astype(str).to_numpy(),
        "bias_type": value_strings(frame[bias]).to_numpy() if bias else np.full(len(frame), ALL_TYPES),
        "direction": (value_strings(frame[direction]).str.strip().str.lower().map(DIRECTIONS).to_numpy()
                      if direction else np.full(len(frame), "")),
    })


def _column(frame: pd.DataFrame, name, role: str, filename: str, *, required: bool = False) -> str:
    if name is None or str(name).strip() == "":
        if required:
            raise BadInput(f"{filename}: choose the {role} column.")
        return ""
    if str(name) not in frame.columns:
        shown = ", ".join(repr(str(c)) for c in list(frame.columns)[:20])
        raise BadInput(f"{filename}: there is no column {str(name)!r} (for the {role} column); the columns are {shown}.")
    return str(name)


def _sentences(series: pd.Series, column: str, filename: str) -> None:
    not_text = series.notna() & ~series.map(lambda v: isinstance(v, str)).astype(bool)
    if not_text.any():
        raise BadInput(f"{filename}: column {column!r} is not text in {row_list(not_text)}.")
    blank = series.isna() | series.fillna("").astype(str).str.strip().eq("")
    if blank.any():
        raise BadInput(f"{filename}: column {column!r} has no sentence in {row_list(blank)}.")
