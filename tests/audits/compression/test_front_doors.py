"""The compression audit through its front doors: the model page, the web form, the
comparison page and the report section, the API and the CLI; each refuses another
organisation's data."""
from __future__ import annotations

import io
import json

import pytest
from django.urls import reverse
from pypdf import PdfReader

from audits.models import Audit
from audits.services.audits import audit_file, audit_run
from tests.audits.api.conftest import token_client
from tests.audits.test_cli import _audit, inputs  # noqa: F401 - the CLI's fixture
from tests.factories import people_audit, people_dataset


@pytest.fixture
def compressed(org, user, model):
    dataset = people_dataset(org, user, rows=120)
    return audit_run(audit_id=people_audit(org, user, model, dataset, compress="int8,prune:0.5").pk, inline=True)


def test_model_page_offers_a_compression_audit_and_the_form_starts_it(client_in, model, org, user):
    dataset = people_dataset(org, user, rows=80)
    page = client_in.get(reverse("audits:model_detail", args=[model.pk])).content.decode()
    assert "compress=int8,prune:0.5,distil:3" in page
    form = client_in.get(reverse("audits:audit_new") + f"?model={model.pk}&compress=int8").content.decode()
    assert 'name="compress"' in form and 'value="int8"' in form
    response = client_in.post(reverse("audits:audit_new"), {
        "model": model.pk, "dataset": dataset.pk, "checks": ["group_fairness"], "seed": 0, "explain": 0,
        "compress": "int8,prune:0.5"})
    assert response.status_code == 302
    assert Audit.objects.get().config["compress"] == ["int8", "prune:0.5"]


def test_the_form_shows_a_bad_recipe(client_in, model, org, user):
    dataset = people_dataset(org, user, rows=80)
    response = client_in.post(reverse("audits:audit_new"), {
        "model": model.pk, "dataset": dataset.pk, "checks": ["group_fairness"], "seed": 0, "explain": 0,
        "compress": "int4"})
    assert response.status_code == 200 and "Unknown compression recipe" in response.content.decode()
    assert not Audit.objects.exists()


def test_comparison_page_and_report_section(client_in, compressed):
    page = client_in.get(reverse("audits:audit_compression", args=[compressed.pk])).content.decode()
    assert "prune:0.5" in page and "Agreement with parent" in page and "Statistical parity difference" in page
    detail = client_in.get(reverse("audits:audit_detail", args=[compressed.pk])).content.decode()
    assert reverse("audits:audit_compression", args=[compressed.pk]) in detail
    report = client_in.get(reverse("audits:audit_report", args=[compressed.pk])).content.decode()
    assert 'id="compression"' in report and "compression-overview" in report
    with audit_file(audit=compressed, name="report.pdf") as fh:
        pdf = PdfReader(io.BytesIO(fh.read()))
    text = " ".join(page.extract_text() for page in pdf.pages)
    assert "Compression" in text and "prune:0.5" in text and "Fast path for explanations" in text


def test_comparison_page_of_another_organisation_is_not_found(client, other_user, compressed):
    client.force_login(other_user)
    assert client.get(reverse("audits:audit_compression", args=[compressed.pk])).status_code == 404


def test_comparison_page_of_an_audit_without_compression_is_not_found(client_in, org, user, model):
    audit = audit_run(audit_id=people_audit(org, user, model, people_dataset(org, user, rows=60)).pk, inline=True)
    assert client_in.get(reverse("audits:audit_compression", args=[audit.pk])).status_code == 404


def test_api_starts_a_compression_audit_and_refuses_another_organisations_training_data(
        user, org, model, other_org, other_user):
    api = token_client(user)
    dataset = people_dataset(org, user, rows=60)
    theirs = people_dataset(other_org, other_user, rows=60)
    url = reverse("api:audit-list")
    refused = api.post(url, {"model": model.pk, "dataset": dataset.pk, "compress": "distil:1",
                             "train_dataset": theirs.pk}, format="json")
    assert refused.status_code == 400 and "train_dataset" in refused.json()
    bad = api.post(url, {"model": model.pk, "dataset": dataset.pk, "compress": "prune:7"}, format="json")
    assert bad.status_code == 400 and "strictly between 0 and 1" in json.dumps(bad.json())
    assert not Audit.objects.exists()
    made = api.post(url, {"model": model.pk, "dataset": dataset.pk, "compress": "int8"}, format="json")
    assert made.status_code in (201, 202), made.content
    assert Audit.objects.get().config["compress"] == ["int8"]


@pytest.mark.django_db
def test_cli_compress_writes_the_section_and_refuses_distil_without_training_rows(inputs, tmp_path, capsys):  # noqa: F811
    model_zip, csv = inputs
    out = tmp_path / "out"
    code = _audit(model_zip, csv, out, "--protected", "gender", "--privileged", "gender=male",
                  "--favorable-label", "False", "--compress", "int8,distil:1", "--train-dataset", str(csv))
    assert code in (0, 1)
    section = json.loads((out / "report.json").read_text())["compression"]
    assert [v["recipe"] for v in section["variants"]] == ["int8", "distil:1"]
    assert all(v["status"] == "done" for v in section["variants"])
    capsys.readouterr()
    code = _audit(model_zip, csv, tmp_path / "out2", "--protected", "gender", "--privileged", "gender=male",
                  "--favorable-label", "False", "--compress", "distil:1")
    assert code == 2 and "distil needs a training dataset" in capsys.readouterr().err
