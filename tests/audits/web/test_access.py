"""Every endpoint: another organisation's object is a 404, and anonymous users log in."""
from __future__ import annotations

import pytest
from django.urls import reverse

from audits.models import Audit, Dataset, ModelArtifact

ENDPOINTS = [
    ("audits:model_detail", "model", {}),
    ("audits:dataset_map", "dataset", {}),
    ("audits:audit_detail", "audit", {}),
    ("audits:audit_progress", "audit", {}),
    ("audits:audit_report", "audit", {}),
    ("audits:audit_download", "audit", {"kind": "pdf"}),
    ("audits:audit_download", "audit", {"kind": "json"}),
    ("audits:audit_download", "audit", {"kind": "csv"}),
]


@pytest.fixture
def foreign(other_org):
    model = ModelArtifact.objects.create(
        organisation=other_org, name="theirs", storage_prefix="models/x", sha256="a" * 64,
        architecture="BertForSequenceClassification", num_parameters=1, labels={"0": "a", "1": "b"},
    )
    dataset = Dataset.objects.create(
        organisation=other_org, name="theirs", original_filename="t.csv", file_format="csv",
        parquet_path="datasets/x.parquet", sha256="b" * 64, rows=1, columns=[],
        mapping={"text_column": "t", "label_column": "l", "favorable_label": "a", "protected": {},
                 "identity_terms": True},
    )
    audit = Audit.objects.create(
        organisation=other_org, model=model, dataset=dataset, config={"checks": [], "seed": 0},
        status=Audit.Status.DONE, report={"summary": {"status": "pass", "counts": {}}, "checks": []},
        artifacts_prefix="audits/x",
    )
    return {"model": model, "dataset": dataset, "audit": audit}


@pytest.mark.parametrize(("name", "kind", "extra"), ENDPOINTS)
def test_other_organisations_objects_are_404(client_in, foreign, name, kind, extra):
    url = reverse(name, kwargs={"pk": foreign[kind].pk, **extra})
    assert client_in.get(url).status_code == 404
    assert client_in.post(url).status_code in {404, 405}


@pytest.mark.parametrize(("name", "kind", "extra"), ENDPOINTS)
def test_anonymous_is_sent_to_login(client, foreign, name, kind, extra):
    url = reverse(name, kwargs={"pk": foreign[kind].pk, **extra})
    response = client.get(url)
    assert response.status_code == 302 and response["Location"].startswith(reverse("login"))


def test_lists_show_only_own_organisation(client_in, foreign):
    page = client_in.get(reverse("audits:home")).content.decode()
    assert "theirs" not in page


def test_audit_form_does_not_offer_foreign_objects(client_in, foreign):
    page = client_in.get(reverse("audits:audit_new")).content.decode()
    assert "theirs" not in page
    response = client_in.post(reverse("audits:audit_new"), {
        "model": foreign["model"].pk, "dataset": foreign["dataset"].pk,
        "checks": ["group_fairness"], "seed": 0,
    })
    assert response.status_code == 200
    assert not Audit.objects.filter(organisation__name="Acme").exists()


def test_user_without_organisation_gets_404(client, django_user_model):
    user = django_user_model.objects.create_user("loner", password="x-12345678")
    client.force_login(user)
    assert client.get(reverse("audits:home")).status_code == 404


def test_logout_requires_post_with_csrf(client_in):
    assert client_in.get(reverse("logout")).status_code == 405


def test_audit_form_preselects_only_own_model(client_in, foreign):
    page = client_in.get(reverse("audits:audit_new") + f"?model={foreign['model'].pk}").content.decode()
    assert "theirs" not in page
