"""A debiasing run's training dataset (issue 16): mapped like the audit's rows, refused
with the column named when it is not, another organisation's refused, and a run that
trains on it measures every figure on all of the audit's rows."""
from __future__ import annotations

import io
import json

import numpy as np
import pandas as pd
import pytest
from django.core.files.base import ContentFile

from audits.errors import BadInput
from audits.models import MitigationRun
from audits.services.audits import audit_run
from audits.services.datasets import dataset_upload
from audits.services.mitigations import mitigation_create, mitigation_run
from tests.factories import people_audit, people_dataset

OPTIONS = {"epochs": 2, "sweep": [0.0, 1.0], "batch_size": 32}


@pytest.fixture
def audit(org, user, model, settings, tmp_path):
    settings.FILE_UPLOAD_TEMP_DIR = str(tmp_path)
    return audit_run(audit_id=people_audit(org, user, model, people_dataset(org, user, rows=120)).pk)


def _upload(org, user, frame: pd.DataFrame, name="train.csv"):
    return dataset_upload(organisation=org, user=user, name=name,
                          uploaded_file=ContentFile(frame.to_csv(index=False).encode(), name=name))


def _frame(rows=90, seed=4, **renames):
    rng = np.random.default_rng(seed)
    gender = rng.choice(["male", "female"], size=rows)
    frame = pd.DataFrame({"text": [f"{g} writes {'gay' if rng.random() < .3 else 'hi'}" for g in gender],
                          "label": rng.random(rows) < 0.3, "gender": gender})
    return frame.rename(columns=renames)


@pytest.mark.django_db
@pytest.mark.parametrize(("renames", "fragment"), [
    ({"label": "outcome"}, "there is no column 'label' (for the label column)"),
    ({"gender": "sex"}, "there is no column 'gender' (for the protected column)"),
    ({"text": "comment"}, "there is no column 'text' (for the text column)"),
])
def test_a_training_dataset_without_the_audits_columns_is_refused(audit, org, user, renames, fragment):
    train = _upload(org, user, _frame(**renames))
    with pytest.raises(BadInput, match="train.csv") as refused:
        mitigation_create(audit=audit, user=user, method="adversarial", attribute="gender", options=OPTIONS,
                          enqueue=False, train_dataset=train)
    assert fragment in str(refused.value)
    assert not MitigationRun.objects.exists()


@pytest.mark.django_db
def test_labels_the_model_does_not_know_are_refused(audit, org, user):
    frame = _frame()
    frame["label"] = np.where(frame["label"], "spam", "ham")
    with pytest.raises(BadInput, match="column 'label'"):
        mitigation_create(audit=audit, user=user, method="adversarial", attribute="gender", options=OPTIONS,
                          enqueue=False, train_dataset=_upload(org, user, frame))


@pytest.mark.django_db
def test_not_your_organisations_training_dataset(audit, user, other_org, other_user):
    theirs = _upload(other_org, other_user, _frame())
    with pytest.raises(BadInput, match="not your organisation's data"):
        mitigation_create(audit=audit, user=user, method="adversarial", attribute="gender", options=OPTIONS,
                          enqueue=False, train_dataset=theirs)


@pytest.mark.django_db
def test_a_run_trains_on_the_dataset_and_measures_all_audit_rows(audit, org, user):
    train = _upload(org, user, _frame())
    run = mitigation_create(audit=audit, user=user, method="adversarial", attribute="gender", options=OPTIONS,
                            enqueue=False, train_dataset=train)
    assert run.options["train_dataset"] == train.pk
    run = mitigation_run(run_id=run.pk, resamples=50, verify=False)
    assert run.status == MitigationRun.Status.DONE, run.error
    section = run.result
    assert section["held_out_rows"] == 120 and section["train_rows"] == 90
    assert section["training_dataset"] == {"dataset": train.pk, "filename": "train.csv", "rows": 90}
    assert "all of the audit's rows" in section["evaluated_on"]
    audit.refresh_from_db()
    assert audit.report["mitigation"]["after"] == section["after"]


@pytest.mark.django_db
def test_cli_train_dataset_refused_with_the_column_named(tiny_model_dir, tmp_path):
    from django.core.management import call_command

    _frame(rows=160, seed=2).to_csv(tmp_path / "audit.csv", index=False)
    _frame(label="outcome").to_csv(tmp_path / "train.csv", index=False)
    err = io.StringIO()
    with pytest.raises(SystemExit) as exit_info:
        call_command("audit", "--model", str(tiny_model_dir), "--dataset", str(tmp_path / "audit.csv"),
                     "--text-column", "text", "--label-column", "label", "--protected", "gender",
                     "--privileged", "gender=male", "--favorable-label", "False", "--mitigate", "adversarial",
                     "--train-dataset", str(tmp_path / "train.csv"), "--out", str(tmp_path / "out"),
                     stderr=err, stdout=io.StringIO())
    assert exit_info.value.code == 2
    assert "train.csv" in err.getvalue() and "no column 'label'" in err.getvalue()
    assert json.dumps(err.getvalue()).count("\\n") <= 1


@pytest.mark.django_db
def test_cli_train_dataset_puts_all_audit_rows_into_before_and_after(tiny_model_dir, tmp_path):
    from django.core.management import call_command

    _frame(rows=160, seed=2).to_csv(tmp_path / "audit.csv", index=False)
    _frame(rows=120, seed=6).to_csv(tmp_path / "train.csv", index=False)
    out = tmp_path / "out"
    with pytest.raises(SystemExit):
        call_command("audit", "--model", str(tiny_model_dir), "--dataset", str(tmp_path / "audit.csv"),
                     "--text-column", "text", "--label-column", "label", "--protected", "gender",
                     "--privileged", "gender=male", "--favorable-label", "False", "--mitigate", "reweighing",
                     "--train-dataset", str(tmp_path / "train.csv"), "--out", str(out),
                     stderr=io.StringIO(), stdout=io.StringIO())
    section = json.loads((out / "report.json").read_text())["mitigation"]
    assert section["held_out_rows"] == 160 and section["train_rows"] == 120
    assert section["training_dataset"]["filename"] == "train.csv"
    assert {"before", "after"} <= set(section) and "all of the audit's rows" in section["evaluated_on"]
