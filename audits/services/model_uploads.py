"""Model services: upload or register a Hugging Face folder, and fetch it for the runtime.

An upload is unpacked (or copied) into a private temporary folder, validated without
building anything, built exactly once through the runtime to read what it is, and only
then stored under `models/<uid>/` through Django's default storage, with its row
created last. Any failure removes everything this call wrote: no storage files, no row,
no temporary folder. A causal LM comes with a prompt spec (in the archive as prompt.json,
or given beside it and written there), which makes it a prompted classifier.
"""
from __future__ import annotations

import hashlib
import json
import logging
import re
import shutil
import tempfile
import uuid
from pathlib import Path

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.core.files import File
from django.core.files.storage import default_storage
from django.db import transaction

import runtime
from audits.errors import BadInput, first_line
from audits.models import ModelArtifact, Organisation
from audits.services.trail import event_record
from audits.uploads.archive import is_archive_name, unpack_archive
from audits.uploads.model_folder import (
    check_built,
    classify_names,
    folder_sha256,
    list_files,
    validate_model_folder,
)
from audits.uploads.model_sanity import check_sane
from runtime.prompt_spec import PROMPT_FILE, PromptError, PromptSpec, spec_write
from runtime.weights import ModelTooLarge

log = logging.getLogger(__name__)
CHUNK = 1024 * 1024


class StoredModelCorrupt(RuntimeError):
    """A stored model's files no longer match the hashes recorded at upload."""


def model_upload(
    *, organisation: Organisation, user: AbstractBaseUser | None, name: str, files: list[File],
    prompt: PromptSpec | None = None,
) -> ModelArtifact:
    """Store one archive, or the files of a folder selected together, as a new model;
    with `prompt`, a causal LM prompted as a classifier (its spec stored as prompt.json)."""
    name = _clean_name(name)
    if not files:
        raise BadInput("No files uploaded: choose a .zip / .tar.gz of the model folder, or its files.")
    total = sum(f.size or 0 for f in files)
    if total > settings.MAX_MODEL_UPLOAD_BYTES:
        raise BadInput(f"The upload is {total} bytes, over the limit of {settings.MAX_MODEL_UPLOAD_BYTES}.")
    archives = [f for f in files if is_archive_name(f.name or "")]
    work = Path(tempfile.mkdtemp(prefix="model-upload-", dir=settings.FILE_UPLOAD_TEMP_DIR))
    try:
        folder = work / "model"
        if archives:
            if len(files) != 1:
                raise BadInput(f"{_base_name(archives[0].name)}: upload one archive on its own, "
                               "or the files of a model folder without archives.")
            label = _base_name(files[0].name)
            notes = unpack_archive(files[0], name=label, dest=folder).notes
        else:
            label = name
            notes = _copy_uploads(files, folder, label)
        if prompt is not None:
            _add_prompt(folder, prompt, label)
        model = _validate_and_store(organisation=organisation, user=user, name=name, folder=folder,
                                    label=label, parent=None, notes=notes)
        event_record(organisation=organisation, actor=user, verb="model.upload",
                     detail={"model": model.pk, "name": model.name, "sha256": model.sha256})
        return model
    finally:
        shutil.rmtree(work, ignore_errors=True)


def model_register_folder(
    *,
    organisation: Organisation,
    user: AbstractBaseUser | None,
    name: str,
    folder: Path,
    parent: ModelArtifact | None = None,
    provenance: dict | None = None,
    prompt: PromptSpec | None = None,
) -> ModelArtifact:
    """Store a Hugging Face folder already on disk (demo, debiasing, the CLI) as a new model;
    `prompt` as in `model_upload`.

    The folder is copied to a private staging folder first, so what is validated,
    built and stored is one snapshot, and the caller's folder is never modified.
    """
    name = _clean_name(name)
    folder = Path(folder)
    if not folder.is_dir():
        raise BadInput(f"{folder}: not a folder.")
    if parent is not None and parent.organisation_id != organisation.pk:
        raise BadInput("The parent model belongs to another organisation.")
    label = folder.name
    work = Path(tempfile.mkdtemp(prefix="model-register-", dir=settings.FILE_UPLOAD_TEMP_DIR))
    try:
        staged = work / "model"
        notes: list[str] = []
        _copy_tree(folder, staged, label, notes)
        if prompt is not None:
            _add_prompt(staged, prompt, label)
        return _validate_and_store(organisation=organisation, user=user, name=name, folder=staged,
                                   label=label, parent=parent, notes=notes, provenance=provenance)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def model_local_folder(*, model: ModelArtifact) -> Path:
    """A local folder holding the model's files, for `runtime.load_model`.

    Filesystem storage is used in place; any other storage is copied once into
    MODEL_CACHE_DIR/<sha256>/, checking every file's hash on the way.
    """
    try:
        in_place = Path(default_storage.path(model.storage_prefix))
    except NotImplementedError:
        in_place = None
    if in_place is not None and _complete(in_place, model.files):
        return in_place
    cache_root = Path(settings.MODEL_CACHE_DIR)
    target = cache_root / model.sha256
    if _complete(target, model.files):
        return target
    cache_root.mkdir(parents=True, exist_ok=True)
    incoming = Path(tempfile.mkdtemp(prefix=".incoming-", dir=cache_root))
    try:
        for entry in model.files:
            _fetch(model, entry, incoming / entry["name"])
        if folder_sha256(model.files) != model.sha256:
            raise StoredModelCorrupt(f"model {model.uid}: the recorded file list does not match its sha256")
        if target.exists():
            # Leftovers of an interrupted copy (a complete one returned above).
            shutil.rmtree(target, ignore_errors=True)
        try:
            incoming.rename(target)
        except OSError:
            # Another worker finished the same copy first; theirs is as good as ours.
            if not _complete(target, model.files):
                raise
    finally:
        shutil.rmtree(incoming, ignore_errors=True)
    return target


def _validate_and_store(
    *, organisation: Organisation, user: AbstractBaseUser | None, name: str, folder: Path,
    label: str, parent: ModelArtifact | None, notes: list[str], provenance: dict | None = None,
) -> ModelArtifact:
    check = validate_model_folder(folder, label=label)
    try:
        info = runtime.inspect_model(folder)
    except BadInput:
        raise
    except PromptError as exc:  # the words or the context, checked against the tokenizer
        raise BadInput(f"{label}: {exc}") from exc
    except ModelTooLarge as exc:  # from the headers, before anything was loaded
        raise BadInput(f"{label}: {exc}") from exc
    except Exception as exc:  # whatever transformers raises, the cause is the uploaded files
        log.info("model build failed for %s", label, exc_info=True)
        if "mismatch" in str(exc).lower():
            raise BadInput(f"{label}: the weights' shapes do not match config.json (for example the "
                           "number of labels in id2label against the classifier)") from exc
        raise BadInput(f"{label}: the model could not be built from these files: "
                       f"{_without_folder(exc, folder, label)}") from exc
    check_built(info, label=label)
    check_sane(info, label=label)
    uid = uuid.uuid4()
    prefix = f"models/{uid}"
    saved: list[str] = []
    try:
        for entry in check.files:
            target = f"{prefix}/{entry['name']}"
            with (folder / entry["name"]).open("rb") as fh:
                stored = default_storage.save(target, File(fh, name=entry["name"]))
            saved.append(stored)
            if stored != target:
                raise RuntimeError(f"storage saved {target} as {stored}")
        with transaction.atomic():
            model = ModelArtifact.objects.create(
                uid=uid, organisation=organisation, name=name, storage_prefix=prefix,
                files=check.files, sha256=check.sha256, architecture=info["architecture"],
                num_parameters=info["num_parameters"], labels=info["labels"], parent=parent,
                provenance=provenance or {}, created_by=user,
            )
    except BaseException:
        _delete_stored(prefix, saved)
        raise
    for note in check.notes + notes:
        log.info("%s", note)
    # Not a field: lets the caller show what was dropped along the way.
    model.upload_notes = notes + check.notes
    return model


def _without_folder(exc: Exception, folder: Path, label: str) -> str:
    """The library's message, first line, naming the upload instead of our private folder."""
    text = first_line(exc)
    for path in sorted({str(folder.resolve()), str(folder)}, key=len, reverse=True):
        text = text.replace(path, label)
    return text


def _copy_uploads(files: list[File], folder: Path, label: str) -> list[str]:
    """Write a folder selection to `folder` under base names; returns notes."""
    named: dict[str, File] = {}
    for f in files:
        parts = [p for p in re.split(r"[\\/]", f.name or "") if p]
        base = parts[-1] if parts else ""
        _check_base_name(base, label)
        rel = "1_Pooling/config.json" if parts[-2:] == ["1_Pooling", "config.json"] else base
        if rel in named:
            # Browsers and Django strip folders, so 1_Pooling/config.json can arrive
            # as a second config.json; tell them apart by content.
            if rel == "config.json" and "1_Pooling/config.json" not in named:
                if _is_pooling_config(f):
                    rel = "1_Pooling/config.json"
                elif _is_pooling_config(named[rel]):
                    named["1_Pooling/config.json"] = named.pop(rel)
            if rel in named:
                raise BadInput(f"{label}: two files named {base}; select the model folder's files once.")
        named[rel] = f
    if len(named) > settings.MAX_MODEL_FILES:
        raise BadInput(f"{label}: more than {settings.MAX_MODEL_FILES} files")
    notes: list[str] = []
    # Refuse by name before writing a byte: a pickle never even reaches the disk.
    keep = classify_names(list(named), label=label, notes=notes)
    written = 0
    for rel in keep:
        f, path = named[rel], folder / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        f.seek(0)
        with path.open("xb") as out:
            for chunk in f.chunks(CHUNK):
                written += len(chunk)
                if written > settings.MAX_MODEL_UNPACKED_BYTES:
                    raise BadInput(f"{label}: the files total over {settings.MAX_MODEL_UNPACKED_BYTES} bytes")
                out.write(chunk)
    return notes


def _add_prompt(folder: Path, prompt: PromptSpec, label: str) -> None:
    if (folder / PROMPT_FILE).exists():
        raise BadInput(f"{label}: the upload already holds {PROMPT_FILE}; give the prompt once, "
                       "in the file or in the form")
    spec_write(folder, prompt)


def _copy_tree(src: Path, dest: Path, label: str, notes: list[str]) -> None:
    """Copy the allowed regular files, checking names and caps before copying anything."""
    for rel in classify_names(list_files(src, label=label), label=label, notes=notes):
        (dest / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src / rel, dest / rel, follow_symlinks=False)


def _fetch(model: ModelArtifact, entry: dict, path: Path) -> None:
    digest = hashlib.sha256()
    path.parent.mkdir(parents=True, exist_ok=True)
    with default_storage.open(f"{model.storage_prefix}/{entry['name']}", "rb") as src, path.open("xb") as out:
        while chunk := src.read(CHUNK):
            digest.update(chunk)
            out.write(chunk)
    if digest.hexdigest() != entry["sha256"]:
        raise StoredModelCorrupt(f"model {model.uid}: {entry['name']} does not match the sha256 recorded at upload")


def _complete(folder: Path, files: list[dict]) -> bool:
    return folder.is_dir() and all(
        (folder / f["name"]).is_file() and (folder / f["name"]).stat().st_size == f["size"] for f in files
    )


def _delete_stored(prefix: str, saved: list[str]) -> None:
    for stored in saved:
        try:
            default_storage.delete(stored)
        except Exception:  # cleanup must go on; the original error is what matters
            log.exception("could not delete %s after a failed upload", stored)
    try:
        # Filesystem storage leaves the emptied folder behind; object stores have none.
        local = Path(default_storage.path(prefix))
        if local.is_dir() and not any(local.iterdir()):
            local.rmdir()
    except (NotImplementedError, OSError):
        pass


def _is_pooling_config(f: File) -> bool:
    if (f.size or 0) > 64 * 1024:
        return False
    f.seek(0)
    try:
        data = json.loads(f.read())
    except (ValueError, UnicodeDecodeError):
        return False
    finally:
        f.seek(0)
    return isinstance(data, dict) and "word_embedding_dimension" in data


def _check_base_name(base: str, label: str) -> None:
    if base in ("", ".", "..") or len(base) > 255 or any(ord(c) < 32 for c in base):
        raise BadInput(f"{label}: {base!r} is not a usable file name.")


def _base_name(raw: str | None) -> str:
    parts = [p for p in re.split(r"[\\/]", raw or "") if p]
    return parts[-1] if parts else "upload"


def _clean_name(name: str) -> str:
    name = (name or "").strip()
    if not name:
        raise BadInput("Give the model a name.")
    if len(name) > 200:
        raise BadInput("The model name is longer than 200 characters.")
    return name
