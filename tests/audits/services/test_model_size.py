"""Models sized for the worker: weights over WORKER_MAX_MODEL_BYTES are refused at upload and
again when a worker loads them, with one message; an upload is streamed, never read whole."""
from __future__ import annotations

import shutil
import tracemalloc
from pathlib import Path

import pytest
import torch
from django.core.files import File
from transformers import AutoTokenizer, BertConfig, BertForSequenceClassification

import runtime
from audits.errors import BadInput
from audits.models import Audit, ModelArtifact
from audits.services.audits import audit_run
from audits.services.model_uploads import model_upload
from runtime.weights import weights_bytes
from tests.factories import MINILM_DIR, people_audit, people_dataset, zip_folder

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fresh_cache():
    runtime.clear_cache()
    yield
    runtime.clear_cache()


def _archive(folder: Path, path: Path) -> File:
    path.write_bytes(zip_folder(folder))
    return File(path.open("rb"), name=path.name)


def test_weights_over_the_workers_limit_are_refused_at_upload_naming_both(org, user, tiny_model_dir, tmp_path,
                                                                          settings):
    need = weights_bytes(tiny_model_dir, torch.float32)
    settings.WORKER_MAX_MODEL_BYTES = need // 4
    with pytest.raises(BadInput) as refused:
        model_upload(organisation=org, user=user, name="big", files=[_archive(tiny_model_dir, tmp_path / "big.zip")])
    message = str(refused.value)
    assert message.startswith("big.zip: the weights take ")
    assert f"{need:,} bytes as float32" in message and f"limit of {need // 4:,} bytes (WORKER_MAX_MODEL_BYTES)" in message
    assert not ModelArtifact.objects.exists()
    # In bfloat16 the same weights fit a limit of just over half their float32 size.
    settings.WORKER_MAX_MODEL_BYTES = need // 2 + 1024
    settings.MODEL_DTYPE = "bfloat16"
    model_upload(organisation=org, user=user, name="half", files=[_archive(tiny_model_dir, tmp_path / "half.zip")])


def test_a_stored_model_over_the_limit_fails_its_audit_on_the_worker_with_the_reason(
        org, user, tiny_model_dir, tmp_path, settings):
    model = model_upload(organisation=org, user=user, name="m", files=[_archive(tiny_model_dir, tmp_path / "m.zip")])
    audit = people_audit(org, user, model, people_dataset(org, user))
    runtime.clear_cache()
    settings.WORKER_MAX_MODEL_BYTES = 1000  # this worker is smaller than the one that took the upload
    audit = audit_run(audit_id=audit.pk)
    assert audit.status == Audit.Status.FAILED
    assert "over this worker's limit of 1,000 bytes (WORKER_MAX_MODEL_BYTES)" in audit.error


def test_an_archive_is_unpacked_hashed_stored_and_loaded_without_reading_it_whole(org, user, tmp_path):
    folder = tmp_path / "wide"
    folder.mkdir()
    torch.manual_seed(0)
    config = BertConfig(vocab_size=30522, hidden_size=256, num_hidden_layers=1, num_attention_heads=2,
                        intermediate_size=64, max_position_embeddings=64)
    BertForSequenceClassification(config).save_pretrained(folder, safe_serialization=True)
    AutoTokenizer.from_pretrained(MINILM_DIR, local_files_only=True).save_pretrained(folder)
    archive = _archive(folder, tmp_path / "wide.zip")
    size = archive.size
    assert size > 25 * 1024**2
    shutil.rmtree(folder)
    tracemalloc.start()
    try:
        model_upload(organisation=org, user=user, name="wide", files=[archive])
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # Python objects only (torch's tensors are not traced): about 10 MB, the tokenizer's and
    # transformers' own, whatever the weights; a read of the archive or its weights would
    # alone be over 25 MB.
    assert peak < size / 2, f"peak {peak:,} bytes of Python objects for a {size:,}-byte archive"
