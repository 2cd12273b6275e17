"""Running audits: stages and progress, cached predictions, failures with their reason."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.urls import reverse

import runtime
from audits.errors import BadInput
from audits.models import Audit
from audits.services.audits import audit_create, audit_file, audit_run
from audits.services.datasets import dataset_map, dataset_upload
from audits.services.model_uploads import model_register_folder
from tests.factories import PEOPLE_MAPPING, make_tiny_model, people_audit, people_dataset

MAPPING = PEOPLE_MAPPING


@pytest.fixture
def dataset(org, user):
    return people_dataset(org, user)


def _create(org, user, model, dataset, **config):
    return people_audit(org, user, model, dataset, **config)


def test_run_records_stages_and_report(org, user, model, dataset):
    audit = audit_run(audit_id=_create(org, user, model, dataset).pk)
    assert audit.status == Audit.Status.DONE and audit.stage == "done"
    assert audit.verdict == audit.report["summary"]["status"]
    with audit_file(audit=audit, name="report.json") as fh:
        assert json.loads(fh.read()) == audit.report


def test_predictions_are_computed_once_and_reused(org, user, model, dataset, monkeypatch):
    calls = []
    real = runtime.predict_token_ids
    monkeypatch.setattr(runtime, "predict_token_ids", lambda *a, **k: calls.append(1) or real(*a, **k))
    first = audit_run(audit_id=_create(org, user, model, dataset).pk)
    second = audit_run(audit_id=_create(org, user, model, dataset).pk)
    assert len(calls) == 1
    # Same inputs and seed: the same figures, to the last digit.
    assert first.report["checks"] == second.report["checks"]


def test_a_failing_stage_marks_the_audit_failed_with_reason(org, user, model, dataset, client_in):
    audit = _create(org, user, model, dataset)
    default_storage.delete(dataset.parquet_path)
    audit = audit_run(audit_id=audit.pk)
    assert audit.status == Audit.Status.FAILED and audit.error
    page = client_in.get(reverse("audits:audit_detail", args=[audit.pk])).content.decode()
    assert audit.error.split(":")[0] in page
    progress = client_in.get(reverse("audits:audit_progress", args=[audit.pk])).json()
    assert progress["status"] == "failed" and progress["error"] == audit.error


def test_a_broken_check_is_an_error_and_the_others_complete(org, user, model, dataset, monkeypatch):
    from audits import checks

    checks._load_all()
    monkeypatch.setitem(checks.REGISTRY, "boom", lambda ctx: 1 / 0)
    audit = audit_run(audit_id=_create(org, user, model, dataset, checks=["boom", "group_fairness"]).pk)
    assert audit.status == Audit.Status.DONE
    statuses = {c["id"]: c["status"] for c in audit.report["checks"]}
    assert statuses["boom"] == "error" and statuses["group_fairness"] != "error"
    assert audit.report["summary"]["status"] == "fail"


def test_labels_the_model_cannot_produce_are_refused(org, user, model):
    frame = pd.DataFrame({"text": ["a b"] * 40, "label": ["spam", "ham"] * 20, "gender": ["m", "f"] * 20})
    ds = dataset_upload(organisation=org, user=user, name="spam",
                        uploaded_file=ContentFile(frame.to_csv(index=False).encode(), name="spam.csv"))
    mapping = {**MAPPING, "favorable_label": "ham", "protected": {"gender": ["m"]}}
    ds = dataset_map(dataset=ds, mapping=mapping)
    with pytest.raises(BadInput, match="spam"):
        audit_create(organisation=org, user=user, model=model, dataset=ds,
                     config={**mapping, "checks": ["group_fairness"], "seed": 0})
    assert not Audit.objects.exists()


def test_unknown_check_is_refused(org, user, model, dataset):
    with pytest.raises(BadInput, match="nonsense"):
        _create(org, user, model, dataset, checks=["nonsense"])


def test_web_audit_is_enqueued_on_commit(org, user, model, dataset, client_in, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = client_in.post(reverse("audits:audit_new"), {
            "model": model.pk, "dataset": dataset.pk, "checks": ["group_fairness"], "seed": 0})
    audit = Audit.objects.get()
    assert response.status_code == 302 and response["Location"].endswith(f"/audits/{audit.pk}/")
    # Tests run Celery eagerly: the committed audit ran to the end.
    assert Audit.objects.get().status == Audit.Status.DONE


def test_audit_records_and_reports_the_policy_version_it_used(org, user, model, dataset):
    from audits.services.policies import policy_current, policy_new_version

    strict = {**policy_current(organisation=org).thresholds, "disparate_impact": {"low": 0.99, "high": 1.01}}
    policy_new_version(organisation=org, user=user, thresholds=strict)
    audit = audit_run(audit_id=_create(org, user, model, dataset).pk)
    assert audit.policy.version == 2
    assert audit.report["policy"]["version"] == 2
    [fairness] = [c for c in audit.report["checks"] if c["id"] == "group_fairness"]
    assert fairness["metrics"]["disparate_impact"]["threshold"] == {"low": 0.99, "high": 1.01}


def test_multiclass_is_favourable_label_against_the_rest(org, user, tmp_path):
    folder = make_tiny_model(tmp_path / "three", labels=("neg", "neu", "pos"))
    model = model_register_folder(organisation=org, user=user, name="three", folder=folder)
    rng = np.random.default_rng(2)
    n = 90
    frame = pd.DataFrame({"text": [f"w{i} {'gay' if i % 3 else 'ok'}" for i in range(n)],
                          "label": rng.choice(["neg", "neu", "pos"], size=n),
                          "gender": np.where(np.arange(n) % 2, "m", "f")})
    ds = dataset_upload(organisation=org, user=user, name="three",
                        uploaded_file=ContentFile(frame.to_csv(index=False).encode(), name="three.csv"))
    mapping = {**MAPPING, "favorable_label": "pos", "protected": {"gender": ["m"]}}
    ds = dataset_map(dataset=ds, mapping=mapping)
    audit = audit_run(audit_id=audit_create(organisation=org, user=user, model=model, dataset=ds, enqueue=False,
                                            config={**mapping, "checks": ["group_fairness"], "seed": 0}).pk)
    with audit_file(audit=audit, name="predictions.csv") as fh:
        preds = pd.read_csv(fh)
    fav = preds["prediction"] == "pos"
    expected = fav[preds.gender == "f"].mean() / fav[preds.gender == "m"].mean()
    [check] = audit.report["checks"]
    assert check["groups"]["f"]["disparate_impact"] == pytest.approx(expected, abs=1e-12)
