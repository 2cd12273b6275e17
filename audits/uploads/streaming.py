"""Uploaded files spooled to disk, never more of one than the largest upload accepted.

Django keeps a request's files in memory only up to FILE_UPLOAD_MAX_MEMORY_SIZE and
streams larger ones to a temporary file in chunks; nothing in the upload path reads a
whole file back into memory (archives are unpacked, hashed and stored chunk by chunk).
The size limits (MAX_MODEL_UPLOAD_BYTES, MAX_DATASET_BYTES, VERIFY_MAX_UPLOAD_BYTES)
are judged by the services from the file's size, after the request is read: Django
reads the whole body (the CSRF check parses it before any view runs), so without a cap
a 50 GB request would fill the disk first. This handler writes a file only up to the
largest of those limits and counts the rest, so the file's `size` is what was sent and
the service refuses it by that size with its usual message.
"""
from __future__ import annotations

from django.conf import settings
from django.core.files.uploadhandler import TemporaryFileUploadHandler


def upload_cap() -> int:
    """The most bytes of one uploaded file worth keeping: the largest upload any form accepts."""
    return max(settings.MAX_MODEL_UPLOAD_BYTES, settings.MAX_DATASET_BYTES, settings.VERIFY_MAX_UPLOAD_BYTES)


class CappedTemporaryFileUploadHandler(TemporaryFileUploadHandler):
    """Django's temporary-file handler, writing at most `upload_cap()` bytes of each file; the
    file's `size` still counts every byte received (Django passes the total to file_complete)."""

    def new_file(self, *args, **kwargs) -> None:
        super().new_file(*args, **kwargs)
        self.cap = upload_cap()

    def receive_data_chunk(self, raw_data: bytes, start: int) -> None:
        room = self.cap - start
        if room > 0:
            self.file.write(raw_data[:room])
