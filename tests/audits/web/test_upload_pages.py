"""Upload pages: a form sent twice stores once, one message per problem, the guessed
encoding and separator in the preview, and deleting a model, dataset or audit where the
record allows it (never what a signed report references), each only your organisation's."""
from __future__ import annotations

import re

import pytest
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse

from audits.models import Audit, AuditEvent, Dataset, FormToken, ModelArtifact, Organisation
from audits.services.audits import audit_run
from tests.factories import make_user, people_audit, people_dataset


def _token(page: str) -> str:
    return re.search(r'name="once" value="([0-9a-f-]{36})"', page).group(1)


def _model_files(folder):
    return [SimpleUploadedFile(p.name, p.read_bytes()) for p in sorted(folder.iterdir())]


def test_a_model_form_sent_twice_stores_one_model(client_in, tiny_model_dir):
    token = _token(client_in.get(reverse("audits:model_upload")).content.decode())
    first = client_in.post(reverse("audits:model_upload"),
                           {"once": token, "name": "tiny", "files": _model_files(tiny_model_dir)})
    model = ModelArtifact.objects.get()
    assert first.status_code == 302 and first["Location"] == reverse("audits:model_detail", args=[model.pk])
    # Back, then send the same form again: led to the model stored the first time.
    again = client_in.post(reverse("audits:model_upload"),
                           {"once": token, "name": "tiny", "files": _model_files(tiny_model_dir)}, follow=True)
    assert ModelArtifact.objects.count() == 1
    assert again.redirect_chain[-1][0] == first["Location"] and "Nothing was stored twice" in again.content.decode()
    # A new form has a new token and stores a second copy on purpose.
    other = _token(client_in.get(reverse("audits:model_upload")).content.decode())
    assert other != token
    client_in.post(reverse("audits:model_upload"), {"once": other, "name": "tiny 2", "files": _model_files(tiny_model_dir)})
    assert ModelArtifact.objects.count() == 2


def test_a_refused_upload_frees_its_token_and_shows_its_message_once(client_in):
    token = _token(client_in.get(reverse("audits:dataset_upload")).content.decode())
    bad = "text,label\nfine café,1\n".encode() + b"\xff broken,0\n"
    response = client_in.post(reverse("audits:dataset_upload"),
                              {"once": token, "name": "d", "file": SimpleUploadedFile("d.csv", bad)})
    page = response.content.decode()
    assert response.status_code == 200 and page.count("is not UTF-8") == 1
    assert not FormToken.objects.exists() and not Dataset.objects.exists()
    fixed = client_in.post(reverse("audits:dataset_upload"), {
        "once": token, "name": "d", "file": SimpleUploadedFile("d.csv", "text;label\ncafé;1\nthé;0\n".encode("cp1252"))})
    dataset = Dataset.objects.get()
    assert fixed.status_code == 302 and dataset.reading == {"encoding": "cp1252", "delimiter": ";"}
    preview = client_in.get(fixed["Location"]).content.decode()
    assert "Windows-1252, separated by semicolons (;)" in preview and "café" in preview


def test_a_form_still_being_stored_is_not_stored_again(client_in, user):
    token = "7d0c9c4e-3f1b-4a55-8f43-0b8d7c6f2a11"
    FormToken.objects.create(token=token, user=user)  # the first request is still checking its upload
    response = client_in.post(reverse("audits:dataset_upload"), {
        "once": token, "name": "d", "file": SimpleUploadedFile("d.csv", b"text,label\nx,1\n")}, follow=True)
    assert "still being checked" in response.content.decode() and not Dataset.objects.exists()


def test_someone_elses_token_is_refused_as_stale(client_in, other_user):
    token = "0d6f3a2e-5b7c-4d8e-9f01-23456789abcd"
    FormToken.objects.create(token=token, user=other_user, result_url="/models/1/")
    response = client_in.post(reverse("audits:dataset_upload"), {
        "once": token, "name": "d", "file": SimpleUploadedFile("d.csv", b"text,label\nx,1\n")})
    assert response.status_code == 200 and "This form has expired" in response.content.decode()
    assert not Dataset.objects.exists()


@pytest.fixture
def used(org, user, model):
    audit = audit_run(audit_id=people_audit(org, user, model, people_dataset(org, user)).pk, resamples=50)
    assert audit.status == "done", audit.error
    return audit


def test_delete_refuses_what_an_audit_uses_then_deletes_in_order(client_in, used, org, user,
                                                                 django_capture_on_commit_callbacks):
    model, dataset = used.model, used.dataset
    page = client_in.get(reverse("audits:model_delete", args=[model.pk])).content.decode()
    assert f"Audit {used.pk} uses this model: delete it first." in page and 'id="delete-submit"' not in page
    response = client_in.post(reverse("audits:dataset_delete", args=[dataset.pk]), follow=True)
    assert f"Audit {used.pk} uses this dataset" in response.content.decode() and Dataset.objects.filter(pk=dataset.pk)
    files = [f"{used.artifacts_prefix}/report.json", dataset.parquet_path,
             *[f"{model.storage_prefix}/{f['name']}" for f in model.files]]
    assert all(default_storage.exists(f) for f in files)
    events_before = AuditEvent.objects.filter(audit=used).count()
    with django_capture_on_commit_callbacks(execute=True):
        assert 'id="delete-submit"' in client_in.get(reverse("audits:audit_delete", args=[used.pk])).content.decode()
        client_in.post(reverse("audits:audit_delete", args=[used.pk]))
        client_in.post(reverse("audits:dataset_delete", args=[dataset.pk]))
        client_in.post(reverse("audits:model_delete", args=[model.pk]))
    assert not Audit.objects.exists() and not Dataset.objects.exists() and not ModelArtifact.objects.exists()
    assert not any(default_storage.exists(f) for f in files)
    # The trail keeps every event, the deletes included.
    verbs = list(AuditEvent.objects.filter(organisation=org).values_list("verb", flat=True))
    assert {"audit.delete", "dataset.delete", "model.delete"} <= set(verbs)
    assert AuditEvent.objects.filter(audit__isnull=True).count() >= events_before + 3
    assert AuditEvent.objects.get(verb="audit.delete").detail["audit"] == used.pk


def test_a_signed_report_keeps_its_audit_model_and_dataset(client_in, frozen, finished):
    for name, pk in (("audits:audit_delete", finished.pk), ("audits:model_delete", finished.model_id),
                     ("audits:dataset_delete", finished.dataset_id)):
        page = client_in.post(reverse(name, args=[pk]), follow=True).content.decode()
        assert "signed" in page and "kept for good" in page, name
    assert Audit.objects.filter(pk=finished.pk).exists() and ModelArtifact.objects.filter(pk=finished.model_id)


def test_a_running_audit_is_not_deleted(client_in, org, user, model):
    audit = people_audit(org, user, model, people_dataset(org, user))
    client_in.post(reverse("audits:audit_delete", args=[audit.pk]))
    assert Audit.objects.filter(pk=audit.pk).exists()


def test_deletes_are_not_another_organisations(used, db):
    outsider = Client()
    outsider.force_login(make_user("mallory", Organisation.objects.create(name="Other Corp")))
    for name, pk in (("audits:model_delete", used.model_id), ("audits:dataset_delete", used.dataset_id),
                     ("audits:audit_delete", used.pk)):
        assert outsider.get(reverse(name, args=[pk])).status_code == 404
        assert outsider.post(reverse(name, args=[pk])).status_code == 404
    assert Audit.objects.filter(pk=used.pk).exists()
