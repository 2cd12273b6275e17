"""Files kept in Django's storage under names the platform chooses (an audit's report files,
its pending stage results): written over when written again, read back if they are there.

Storage renames a file rather than overwrite one, so the old file is deleted first; a name
it still changed (another writer got there in between) is an error, since the file would
never be found under the name asked for.
"""
from __future__ import annotations

from django.core.files.base import ContentFile
from django.core.files.storage import default_storage


def stored_write(path: str, content: bytes) -> None:
    if default_storage.exists(path):
        default_storage.delete(path)
    saved = default_storage.save(path, ContentFile(content))
    if saved != path:
        raise RuntimeError(f"storage saved {path} as {saved}")


def stored_read(path: str) -> bytes | None:
    if not default_storage.exists(path):
        return None
    with default_storage.open(path, "rb") as handle:
        return handle.read()
