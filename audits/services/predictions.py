"""Predictions computed once per model and dataset, cached in storage.

Every check of an audit, and every later audit of the same model on the same data,
reads the same probabilities instead of running the model again.
"""
from __future__ import annotations

import hashlib
import io

import numpy as np
from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage

import runtime
from audits.errors import BadInput
from audits.models import Dataset, ModelArtifact

# Probabilities closer than this across all rows are "the same for every row".
IDENTICAL = 1e-12


def predictions_key(*, model: ModelArtifact, dataset: Dataset, texts: list[str]) -> str:
    digest = hashlib.sha256()
    parts = (model.sha256, dataset.sha256, str(settings.PREDICT_MAX_LENGTH), str(runtime.PREDICTIONS_REVISION),
             str(settings.MODEL_DTYPE))
    for part in parts:
        digest.update(part.encode() + b"\0")
    # The text column is part of the audit settings; hash the texts themselves.
    for text in texts:
        digest.update(text.encode("utf-8", "surrogatepass") + b"\0")
    return digest.hexdigest()


def predictions_path(*, model: ModelArtifact, dataset: Dataset, texts: list[str]) -> str:
    """Where the probabilities of `model` on these texts of `dataset` are cached in storage."""
    return f"predictions/{predictions_key(model=model, dataset=dataset, texts=texts)}.npy"


def predictions_cached(
    *, model: ModelArtifact, dataset: Dataset, loaded: runtime.LoadedModel, texts: list[str], progress=None
) -> np.ndarray:
    """Class probabilities (rows, labels) for the texts, from the cache when present."""
    path = predictions_path(model=model, dataset=dataset, texts=texts)
    if default_storage.exists(path):
        with default_storage.open(path, "rb") as fh:
            probs = np.load(io.BytesIO(fh.read()), allow_pickle=False)
        if probs.shape == (len(texts), loaded.num_labels):
            return probs
    probs = runtime.predict_proba(loaded, texts, progress=progress)
    buffer = io.BytesIO()
    np.save(buffer, probs, allow_pickle=False)
    if default_storage.exists(path):
        default_storage.delete(path)
    default_storage.save(path, ContentFile(buffer.getvalue()))
    return probs


def predictions_check(*, probs: np.ndarray, distinct_texts: int) -> None:
    """Refuse the predictions of a broken model before any check reads them.

    The rule: a model is broken when a probability is NaN or infinite, or when every
    row gets the same probabilities (to 1e-12) although the texts differ: its output
    ignores its input (NaN weights turned into a default, a zeroed head). A model that
    predicts one class for every row with probabilities that vary is a legitimate, if
    poor, model: the checks judge it. Without this, such a model's constant predictions
    show no gap between groups and the audit reports a pass.
    """
    if probs.size == 0:
        raise BadInput("The model gave no probabilities; it cannot be audited.")
    bad = ~np.isfinite(probs).all(axis=1)
    if bad.any():
        rows = np.flatnonzero(bad)
        shown = ", ".join(str(r) for r in rows[:5]) + (f" and {len(rows) - 5} more" if len(rows) > 5 else "")
        raise BadInput(f"The model's probabilities are NaN or infinite for {len(rows)} of {len(probs)} rows "
                       f"(0-based rows {shown}): the model is broken, so nothing it predicts can be audited.")
    if distinct_texts > 1 and len(probs) > 1 and float(np.ptp(probs, axis=0).max()) <= IDENTICAL:
        same = ", ".join(f"{p:.4g}" for p in probs[0])
        raise BadInput(f"The model gives every row the same probabilities ({same}) although the {distinct_texts} "
                       "texts differ: its output ignores its input (broken or untrained weights), so it "
                       "cannot be audited.")
