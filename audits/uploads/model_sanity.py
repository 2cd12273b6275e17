"""Refuse a built model that cannot give a meaningful figure, one clear message each.

Judges the facts `runtime.inspect_model` reads (runtime.sanity): weights holding NaN or
infinity, a tokenizer that produces token ids the embedding matrix has no row for, and
a forward pass on fixed sentences that fails or comes back non-finite. Without this a
model with NaN weights predicts one class for every row, and the audit reports a pass.
"""
from __future__ import annotations

from audits.errors import BadInput


def check_sane(info: dict, *, label: str) -> None:
    """BadInput naming `label` (the upload) and the first problem found, or nothing."""
    if info.get("nonfinite_weights"):
        raise BadInput(f"{label}: the weights hold NaN or infinite values (in {', '.join(info['nonfinite_weights'])}); "
                       "such a model cannot give meaningful predictions.")
    overflow = info.get("tokenizer_overflow")
    if overflow:
        raise BadInput(
            f"{label}: the tokenizer ({overflow['vocabulary']:,} tokens) produces token id {overflow['token_id']:,} "
            f"({overflow['token']!r}) but the model's embedding matrix has only {overflow['embedding_rows']:,} rows; "
            "the tokenizer does not belong to these weights."
        )
    if info.get("probe_error"):
        raise BadInput(f"{label}: the model fails on a plain sentence ({info['probe_error']}).")
    if info.get("probe_nonfinite"):
        raise BadInput(f"{label}: the model's outputs on plain sentences are NaN or infinite; "
                       "its weights cannot give meaningful predictions.")
