"""Removing what a refused request created, so that nothing is half-stored."""
from __future__ import annotations

from django.core.files.storage import default_storage

from audits.models import Audit, Dataset, ModelArtifact


def uploads_discard(*, objects: list) -> None:
    """Delete audits, datasets and models (rows and stored files), newest first."""
    for obj in reversed(objects):
        if isinstance(obj, Audit):
            obj.delete()
        elif isinstance(obj, Dataset):
            _delete_path(obj.parquet_path)
            obj.delete()
        elif isinstance(obj, ModelArtifact):
            for entry in obj.files:
                _delete_path(f"{obj.storage_prefix}/{entry['name']}")
            obj.delete()


def _delete_path(path: str) -> None:
    if path and default_storage.exists(path):
        default_storage.delete(path)
