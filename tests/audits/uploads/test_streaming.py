"""Uploads are spooled to disk and no more of a file is kept than the largest upload accepted;
the file's size is still what was sent, so the service refuses it by its size."""
from __future__ import annotations

import os

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile, TemporaryUploadedFile
from django.urls import reverse

from audits.models import ModelArtifact
from audits.uploads.streaming import CappedTemporaryFileUploadHandler, upload_cap


def test_the_handler_keeps_the_cap_and_counts_every_byte(settings):
    settings.MAX_MODEL_UPLOAD_BYTES = 3000
    settings.MAX_DATASET_BYTES = 100
    settings.VERIFY_MAX_UPLOAD_BYTES = 10
    assert upload_cap() == 3000
    handler = CappedTemporaryFileUploadHandler()
    handler.new_file("files", "big.zip", "application/zip", None)
    sent = 0
    for chunk in (b"a" * 1024, b"b" * 1024, b"c" * 1024, b"d" * 1024):
        handler.receive_data_chunk(chunk, sent)
        sent += len(chunk)
    upload = handler.file_complete(sent)
    try:
        assert isinstance(upload, TemporaryUploadedFile)
        assert upload.size == 4096
        assert os.path.getsize(upload.temporary_file_path()) == 3000
        assert upload.read() == b"a" * 1024 + b"b" * 1024 + b"c" * 952
    finally:
        upload.close()


@pytest.mark.django_db
def test_an_upload_over_the_limit_is_refused_by_the_size_sent(client_in, settings, tmp_path):
    settings.MAX_MODEL_UPLOAD_BYTES = 200_000
    settings.FILE_UPLOAD_MAX_MEMORY_SIZE = 1000  # spooled to disk, through the capped handler
    settings.FILE_UPLOAD_TEMP_DIR = str(tmp_path)
    sent = 300_000
    response = client_in.post(reverse("audits:model_upload"),
                              {"name": "big", "files": SimpleUploadedFile("big.zip", b"PK" + b"\0" * (sent - 2))})
    assert response.status_code == 200
    [error] = response.context["form"].non_field_errors()
    assert error == f"The upload is {sent} bytes, over the limit of 200000."
    assert not ModelArtifact.objects.exists()
