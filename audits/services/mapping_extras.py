"""Optional parts of a column mapping: annotator columns and a reference population.

Annotator columns hold each annotator's label for the row (missing where one did not
label it); `labelling_bias` measures their agreement per group. Reference shares say
what share of each group the population has, for `sampling_bias` to compare against.
"""
from __future__ import annotations

import math

import pandas as pd

from audits.errors import BadInput
from audits.services.columns import value_strings


def extras_validate(*, frame: pd.DataFrame, mapping: dict, used: set[str], protected: dict,
                    filename: str) -> dict:
    annotators = [str(c) for c in mapping.get("annotator_columns") or []]
    for column in annotators:
        if column not in frame.columns:
            raise BadInput(f"{filename}: annotator column {column!r} is not in the file.")
        if column in used:
            raise BadInput(f"{filename}: column {column!r} is already mapped; it cannot also be an annotator.")
    if len(annotators) == 1:
        raise BadInput(f"{filename}: agreement needs at least two annotator columns, not only {annotators[0]!r}.")
    return {"annotator_columns": annotators,
            "reference_shares": _shares(mapping.get("reference_shares") or {}, protected, filename)}


def _shares(given: dict, protected: dict, filename: str) -> dict:
    shares = {}
    for attribute, groups in given.items():
        if attribute not in protected:
            raise BadInput(f"{filename}: reference shares for {attribute!r}, which is not a protected column.")
        try:
            values = {str(g): float(s) for g, s in groups.items()}
        except (TypeError, ValueError, AttributeError) as exc:
            raise BadInput(f"{filename}: reference shares for {attribute!r} must be numbers.") from exc
        if not values or any(not math.isfinite(v) or v <= 0 for v in values.values()):
            raise BadInput(f"{filename}: reference shares for {attribute!r} must be positive numbers.")
        total = sum(values.values())
        # Percentages and fractions both work; what matters is the proportions.
        shares[attribute] = {g: v / total for g, v in values.items()}
    return shares


def parse_reference_lines(text: str) -> dict:
    """Lines "attribute,group,share" (as typed in the mapping form) into a mapping."""
    shares: dict[str, dict[str, str]] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        parts = [p.strip() for p in line.split(",")]
        if len(parts) != 3 or not all(parts):
            raise BadInput(f"Reference shares, line {number}: expected attribute,group,share, got {line!r}.")
        shares.setdefault(parts[0], {})[parts[1]] = parts[2]
    return shares


def annotator_frame(*, frame: pd.DataFrame, mapping: dict) -> pd.DataFrame | None:
    columns = mapping.get("annotator_columns") or []
    if not columns:
        return None
    return pd.DataFrame({c: value_strings(frame[c]).astype(object).where(frame[c].notna(), None) for c in columns},
                        dtype=object)
