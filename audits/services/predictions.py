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
from audits.models import Dataset, ModelArtifact


def predictions_key(*, model: ModelArtifact, dataset: Dataset, texts: list[str]) -> str:
    digest = hashlib.sha256()
    parts = (model.sha256, dataset.sha256, str(settings.PREDICT_MAX_LENGTH), str(runtime.PREDICTIONS_REVISION))
    for part in parts:
        digest.update(part.encode() + b"\0")
    # The text column is part of the audit settings; hash the texts themselves.
    for text in texts:
        digest.update(text.encode("utf-8", "surrogatepass") + b"\0")
    return digest.hexdigest()


def predictions_cached(
    *, model: ModelArtifact, dataset: Dataset, loaded: runtime.LoadedModel, texts: list[str], progress=None
) -> np.ndarray:
    """Class probabilities (rows, labels) for the texts, from the cache when present."""
    path = f"predictions/{predictions_key(model=model, dataset=dataset, texts=texts)}.npy"
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
