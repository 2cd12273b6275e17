"""Removing what a refused request created, so that nothing is half-stored.

`uploads_discard` deletes rows and their files. `StoredDuring` records the models,
datasets and audits a block of work creates, so that work run inside one database
transaction (the command line) can be undone whole: the rollback removes the rows,
`stored_files_discard` the files they had written.
"""
from __future__ import annotations

import shutil
import threading
from pathlib import Path

from django.conf import settings
from django.core.files.storage import default_storage
from django.db.models.signals import post_save

from audits.models import Audit, Dataset, ModelArtifact

KINDS = (ModelArtifact, Dataset, Audit)


def uploads_discard(*, objects: list) -> None:
    """Delete audits, datasets and models (rows and stored files), newest first."""
    stored_files_discard(objects=objects)
    for obj in reversed(objects):
        if isinstance(obj, KINDS):
            obj.delete()


def stored_files_discard(*, objects: list) -> None:
    """Delete the stored files of audits, datasets and models, newest first: an audit's
    folder and cached predictions, a dataset's table, a model's files (and its local
    copy once no model with those files is left)."""
    for obj in reversed(objects):
        if isinstance(obj, Audit):
            _audit_files_discard(obj)
        elif isinstance(obj, Dataset):
            _delete_path(obj.parquet_path)
        elif isinstance(obj, ModelArtifact):
            for entry in obj.files:
                _delete_path(f"{obj.storage_prefix}/{entry['name']}")
            _delete_tree(obj.storage_prefix)
            if obj.sha256 and not ModelArtifact.objects.filter(sha256=obj.sha256).exclude(pk=obj.pk).exists():
                shutil.rmtree(Path(settings.MODEL_CACHE_DIR) / obj.sha256, ignore_errors=True)


class StoredDuring:
    """The models, datasets and audits created on this thread inside the `with` block."""

    def __init__(self) -> None:
        self.objects: list = []
        self._thread = threading.get_ident()
        self._uid = f"stored-during-{id(self)}"

    def __enter__(self) -> StoredDuring:
        for kind in KINDS:
            post_save.connect(self._saved, sender=kind, weak=False, dispatch_uid=(self._uid, kind))
        return self

    def __exit__(self, *exc) -> None:
        for kind in KINDS:
            post_save.disconnect(sender=kind, dispatch_uid=(self._uid, kind))

    def _saved(self, sender, instance, created: bool, **kwargs) -> None:
        if created and threading.get_ident() == self._thread:
            self.objects.append(instance)


def _audit_files_discard(audit: Audit) -> None:
    from audits.services.datasets import dataset_frame
    from audits.services.predictions import predictions_path

    if audit.artifacts_prefix:
        _delete_tree(audit.artifacts_prefix)
    text_column = (audit.config or {}).get("text_column")
    shared = (ModelArtifact.objects.filter(sha256=audit.model.sha256).exclude(pk=audit.model_id).exists()
              and Dataset.objects.filter(sha256=audit.dataset.sha256).exclude(pk=audit.dataset_id).exists())
    if text_column and not shared and default_storage.exists(audit.dataset.parquet_path):
        # The cache is keyed by content: keep it while another model and dataset share it.
        texts = dataset_frame(dataset=audit.dataset)[text_column].astype(str).tolist()
        _delete_path(predictions_path(model=audit.model, dataset=audit.dataset, texts=texts))


def _delete_tree(prefix: str) -> None:
    """Every file under a storage folder, then the emptied local folders."""
    if not prefix or not default_storage.exists(prefix):
        return
    folders, files = default_storage.listdir(prefix)
    for name in files:
        default_storage.delete(f"{prefix}/{name}")
    for name in folders:
        _delete_tree(f"{prefix}/{name}")
    try:
        local = Path(default_storage.path(prefix))
    except NotImplementedError:  # object stores have no folders to remove
        return
    if local.is_dir() and not any(local.iterdir()):
        local.rmdir()


def _delete_path(path: str) -> None:
    if path and default_storage.exists(path):
        default_storage.delete(path)
