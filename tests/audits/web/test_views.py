"""Pages: uploads with their error messages, the mapping step, the lexicon, the admin."""
from __future__ import annotations

import io
import zipfile

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from audits.models import Dataset, ModelArtifact


def _zip(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data in files.items():
            zf.writestr(name, data)
    return buf.getvalue()


def test_model_upload_refusal_is_shown_and_nothing_stored(client_in):
    archive = _zip({"config.json": b'{"model_type": "bert"}', "pytorch_model.bin": b"\x80\x04K\x01."})
    response = client_in.post(reverse("audits:model_upload"), {
        "name": "bad", "files": SimpleUploadedFile("bad.zip", archive)})
    assert response.status_code == 200
    assert "pytorch_model.bin" in response.content.decode()
    assert not ModelArtifact.objects.exists()


def test_model_upload_then_detail(client_in, tiny_model_dir):
    files = [SimpleUploadedFile(p.name, p.read_bytes()) for p in sorted(tiny_model_dir.iterdir())]
    response = client_in.post(reverse("audits:model_upload"), {"name": "tiny", "files": files})
    model = ModelArtifact.objects.get()
    assert response.status_code == 302
    page = client_in.get(response["Location"]).content.decode()
    assert model.sha256 in page and "BertForSequenceClassification" in page


def test_dataset_upload_error_names_row(client_in):
    data = "text,label\nfine café,1\n".encode() + b"\xff\xfe broken,0\n"  # UTF-8, then two bytes that are not
    response = client_in.post(reverse("audits:dataset_upload"), {
        "name": "d", "file": SimpleUploadedFile("d.csv", data)})
    body = response.content.decode()
    assert response.status_code == 200 and "d.csv" in body and "row 1" in body
    assert not Dataset.objects.exists()


def test_dataset_mapping_step_escapes_preview_and_saves(client_in):
    rows = "\n".join(f"<script>alert({i})</script>,{i % 2},{'m' if i % 3 else 'f'}" for i in range(60))
    response = client_in.post(reverse("audits:dataset_upload"), {
        "name": "d", "file": SimpleUploadedFile("d.csv", ("text,label,sex\n" + rows).encode())})
    dataset = Dataset.objects.get()
    page = client_in.get(response["Location"]).content.decode()
    assert "<script>alert(" not in page and "&lt;script&gt;alert(" in page
    response = client_in.post(response["Location"], {
        "text_column": "text", "label_column": "label", "favorable_label": "1",
        "protected__sex": "on", "privileged__sex": "m"})
    assert response.status_code == 302
    dataset.refresh_from_db()
    assert dataset.mapping["protected"] == {"sex": ["m"]}
    bad = client_in.post(reverse("audits:dataset_map", args=[dataset.pk]), {
        "text_column": "text", "label_column": "label", "favorable_label": "7"})
    assert bad.status_code == 200 and "7" in bad.content.decode()


def test_lexicon_edit_and_reset(client_in, org):
    url = reverse("audits:lexicon")
    assert "gay,sexuality" in client_in.get(url).content.decode()
    assert client_in.post(url, {"identity_terms": "nurse,occupation\nwizard"}).status_code == 302
    org.refresh_from_db()
    assert org.identity_terms == "nurse,occupation\nwizard,identity"
    client_in.post(url, {"identity_terms": ""})
    org.refresh_from_db()
    assert org.identity_terms == ""


@pytest.mark.parametrize("model", ["organisation", "membership", "modelartifact", "dataset", "audit", "policy"])
def test_admin_changelists_load(admin_client, model):
    assert admin_client.get(reverse(f"admin:audits_{model}_changelist")).status_code == 200
