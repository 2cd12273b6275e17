"""One audit driven through the API alone: token, uploads, mapping, audit, poll, report, gate.

The tiny model says "True" for texts with "gay", which mostly the female rows have, so
with "False" favourable the default policy fails on gender; a lax policy passes it.
"""
from __future__ import annotations

import io
import json

import numpy as np
import pandas as pd
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.urls import reverse
from rest_framework.test import APIClient

from audits.checks.policy import DEFAULT_POLICY
from audits.models import Audit, Dataset, ModelArtifact
from audits.services.policies import policy_new_version
from tests.factories import zip_folder

MAPPING = {"text_column": "text", "label_column": "label", "favorable_label": "False",
           "protected": {"gender": ["male"]}}


def _people_csv() -> bytes:
    rng = np.random.default_rng(5)
    n = 200
    gender = rng.choice(["male", "female"], size=n)
    text = [f"a {'gay' if (g == 'female') == (rng.random() < 0.85) else 'kind'} {g} person" for g in gender]
    frame = pd.DataFrame({"text": text, "label": rng.random(n) < 0.4, "gender": gender})
    return frame.to_csv(index=False).encode()


def _start_and_finish(api, model_id, dataset_id, capture) -> dict:
    """POST an audit; the commit hook runs it on the eager Celery queue, as a worker would."""
    with capture(execute=True):
        response = api.post(reverse("api:audit-list"),
                            {"model": model_id, "dataset": dataset_id, "checks": ["group_fairness"], "seed": 3},
                            format="json")
    assert response.status_code == 201, response.content
    assert response["Location"] == reverse("api:audit-detail", args=[response.json()["id"]])
    polled = api.get(response.json()["links"]["self"]).json()
    assert polled["status"] == "done" and polled["stage"] == "done", polled
    assert polled["progress"]["done"] == polled["progress"]["total"] == 1
    return polled


@pytest.mark.django_db
def test_upload_to_report_and_gate(user, org, tiny_model_dir, django_capture_on_commit_callbacks):
    out = io.StringIO()
    call_command("api_token", user.username, stdout=out)
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {out.getvalue().strip()}")

    response = api.post(reverse("api:model-list"), {
        "name": "tiny", "archive": SimpleUploadedFile("tiny.zip", zip_folder(tiny_model_dir))}, format="multipart")
    assert response.status_code == 201, response.content
    model = response.json()
    assert model["sha256"] == ModelArtifact.objects.get(organisation=org).sha256
    assert model["labels"] == {"0": "False", "1": "True"}

    response = api.post(reverse("api:dataset-list"), {
        "name": "people", "file": SimpleUploadedFile("people.csv", _people_csv())}, format="multipart")
    assert response.status_code == 201, response.content
    dataset = response.json()
    assert dataset["rows"] == 200 and dataset["mapping"] is None

    # An audit of an unmapped dataset is refused before anything is queued.
    refused = api.post(reverse("api:audit-list"), {"model": model["id"], "dataset": dataset["id"]}, format="json")
    assert refused.status_code == 400 and "mapping" in json.dumps(refused.json())

    response = api.post(reverse("api:dataset-mapping", args=[dataset["id"]]), MAPPING, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["mapping"]["protected"] == {"gender": ["male"]}

    failing = _start_and_finish(api, model["id"], dataset["id"], django_capture_on_commit_callbacks)
    stored = Audit.objects.get(pk=failing["id"])
    assert failing["verdict"] == stored.verdict == "fail"

    report = api.get(failing["links"]["report_json"])
    assert report.status_code == 200 and report["Content-Type"] == "application/json"
    document = json.loads(b"".join(report.streaming_content))
    assert document == stored.report
    assert document["summary"]["status"] == "fail" and document["dataset"]["rows"] == 200

    pdf = api.get(failing["links"]["report_pdf"])
    assert pdf.status_code == 200 and b"".join(pdf.streaming_content).startswith(b"%PDF")

    gate = api.get(failing["links"]["gate"])
    assert gate.status_code == 409
    body = gate.json()
    assert body["verdict"] == "fail" and body["status"] == "done"
    assert {(c["id"], c["attribute"]) for c in body["failed_checks"]} == {("group_fairness", "gender")}

    # The same data judged by a lax policy (a new version): the gate lets the release through.
    lax = {metric: {"low": -1e9, "high": 1e9} for metric in DEFAULT_POLICY["thresholds"]}
    policy_new_version(organisation=org, user=user, thresholds=lax)
    passing = _start_and_finish(api, model["id"], dataset["id"], django_capture_on_commit_callbacks)
    assert passing["verdict"] == "pass"
    gate = api.get(passing["links"]["gate"])
    assert gate.status_code == 200 and gate.json()["verdict"] == "pass" and gate.json()["failed_checks"] == []

    listed = api.get(reverse("api:audit-list")).json()
    assert {a["id"] for a in listed["results"]} == {failing["id"], passing["id"]}


@pytest.mark.django_db
def test_gate_is_not_2xx_while_the_audit_waits(api, org, user, model):
    from tests.factories import people_audit, people_dataset

    audit = people_audit(org, user, model, people_dataset(org, user))  # created, never run
    gate = api.get(reverse("api:audit-gate", args=[audit.pk]))
    assert gate.status_code == 425 and gate["Retry-After"]
    assert gate.json()["status"] == "queued" and gate.json()["verdict"] == ""
    missing = api.get(reverse("api:audit-report-json", args=[audit.pk]))
    assert missing.status_code == 404 and "report.json" in missing.json()["detail"]


@pytest.mark.django_db
def test_gate_refuses_a_failed_audit(api, org, user, model):
    from tests.factories import people_audit, people_dataset

    audit = people_audit(org, user, model, people_dataset(org, user))
    Audit.objects.filter(pk=audit.pk).update(status=Audit.Status.FAILED, error="RuntimeError: worker lost")
    gate = api.get(reverse("api:audit-gate", args=[audit.pk]))
    assert gate.status_code == 409
    assert gate.json()["verdict"] == "error" and gate.json()["error"] == "RuntimeError: worker lost"


@pytest.mark.django_db
def test_gate_refuses_an_inconclusive_audit_with_a_reason(api, org, user, model):
    from tests.factories import people_audit, people_dataset

    audit = people_audit(org, user, model, people_dataset(org, user))
    report = {"summary": {"status": "inconclusive", "counts": {"skipped": 1},
                          "checks": {"group_fairness": "inconclusive"}},
              "checks": [{"id": "group_fairness", "attribute": "gender", "status": "skipped", "message": "m"}]}
    Audit.objects.filter(pk=audit.pk).update(status=Audit.Status.DONE, verdict="inconclusive", report=report)
    gate = api.get(reverse("api:audit-gate", args=[audit.pk]))
    assert gate.status_code == 409
    body = gate.json()
    assert body["verdict"] == "inconclusive" and body["failed_checks"] == []
    assert "group_fairness" in body["reason"] and "not a pass" in body["reason"]


@pytest.mark.django_db
def test_bad_input_is_400_naming_file_and_row_and_nothing_is_stored(api):
    response = api.post(reverse("api:dataset-list"), {
        "name": "d", "file": SimpleUploadedFile("d.csv", b"text,label\nfine,1\nbroken,0,extra,cells\n")},
        format="multipart")
    assert response.status_code == 400
    detail = response.json()["detail"]
    assert "d.csv" in detail and "row 1" in detail
    assert not Dataset.objects.exists()


@pytest.mark.django_db
def test_mapping_error_names_the_column(api, org, user):
    from tests.factories import people_dataset

    dataset = people_dataset(org, user)
    response = api.post(reverse("api:dataset-mapping", args=[dataset.pk]),
                        {**MAPPING, "protected": {"sex": ["male"]}}, format="json")
    assert response.status_code == 400
    assert "people.csv" in response.json()["detail"] and "'sex'" in response.json()["detail"]
    dataset.refresh_from_db()
    assert dataset.mapping["protected"] == {"gender": ["male"]}


@pytest.mark.django_db
def test_model_upload_refusal_is_400_and_nothing_stored(api):
    import zipfile

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("config.json", b'{"model_type": "bert"}')
        zf.writestr("pytorch_model.bin", b"\x80\x04K\x01.")
    response = api.post(reverse("api:model-list"), {"name": "bad", "archive": SimpleUploadedFile("bad.zip", buf.getvalue())},
                        format="multipart")
    assert response.status_code == 400 and "pytorch_model.bin" in response.json()["detail"]
    assert not ModelArtifact.objects.exists()


@pytest.mark.django_db
def test_model_upload_of_folder_files(api, tiny_model_dir):
    files = [SimpleUploadedFile(p.name, p.read_bytes()) for p in sorted(tiny_model_dir.iterdir())]
    response = api.post(reverse("api:model-list"), {"name": "tiny", "files": files}, format="multipart")
    assert response.status_code == 201, response.content
    assert response.json()["architecture"] == "BertForSequenceClassification"
    both = api.post(reverse("api:model-list"), {"name": "x", "files": files[:1],
                                                 "archive": SimpleUploadedFile("m.zip", b"")}, format="multipart")
    assert both.status_code == 400
