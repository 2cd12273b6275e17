"""`manage.py audit`: the contract of DESIGN.md, its exit codes, and AIF360 on its output."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from django.core.management import call_command

from audits.checks.group_fairness import aif360_metrics
from audits.models import Audit, Dataset, ModelArtifact
from tests.factories import zip_folder

TOP_KEYS = {"schema_version", "audit", "model", "dataset", "manifest_sha256", "summary", "checks",
            "explanations", "mitigation"}


@pytest.fixture
def inputs(tiny_model_dir, tmp_path):
    model_zip = tmp_path / "tiny.zip"
    model_zip.write_bytes(zip_folder(tiny_model_dir))
    rng = np.random.default_rng(5)
    n = 200
    gender = rng.choice(["male", "female", "nonbinary"], size=n, p=[0.45, 0.45, 0.1])
    text = [f"a {'gay' if (g == 'female') == (rng.random() < 0.8) else 'kind'} {g} person" for g in gender]
    csv = tmp_path / "people.csv"
    pd.DataFrame({"text": text, "label": rng.random(n) < 0.4, "gender": gender}).to_csv(csv, index=False)
    return model_zip, csv


def _audit(model, dataset, out, *extra):
    with pytest.raises(SystemExit) as exit_info:
        call_command("audit", "--model", str(model), "--dataset", str(dataset), "--text-column", "text",
                     "--label-column", "label", "--out", str(out), *extra)
    return exit_info.value.code


@pytest.mark.django_db
def test_cli_writes_the_contract_and_matches_aif360(inputs, tmp_path):
    model_zip, csv = inputs
    out = tmp_path / "out"
    code = _audit(model_zip, csv, out, "--protected", "gender", "--privileged", "gender=male",
                  "--favorable-label", "False")
    report = json.loads((out / "report.json").read_text())
    assert code == (1 if report["summary"]["status"] == "fail" else 0)
    assert {p.name for p in out.iterdir()} == {"report.json", "report.html", "report.pdf", "predictions.csv"}
    assert TOP_KEYS <= set(report) and report["schema_version"] == 1
    assert report["dataset"]["rows"] == 200 and report["model"]["labels"] == {"0": "False", "1": "True"}
    preds = pd.read_csv(out / "predictions.csv", dtype={"label": str, "prediction": str})
    assert list(preds.columns[:4]) == ["row", "label", "prediction", "probability"]
    assert preds["row"].tolist() == list(range(200))
    [check] = [c for c in report["checks"] if c["id"] == "group_fairness"]
    for group in ("female", "nonbinary"):
        rows = preds["gender"].isin([group, "male"]).to_numpy()
        expected = aif360_metrics(preds["label"][rows] == "False", preds["prediction"][rows] == "False",
                                  preds["gender"][rows] == "male")
        for name, value in expected.items():
            assert check["groups"][group][name] == pytest.approx(value, abs=1e-12), name
    for metric in check["metrics"].values():
        assert {"value", "ci_low", "ci_high", "threshold", "status"} <= set(metric)


@pytest.mark.django_db
def test_cli_exit_1_when_policy_fails(inputs, tmp_path):
    # The tiny model says "True" for texts with "gay", which mostly the female rows have.
    model_zip, csv = inputs
    code = _audit(model_zip, csv, tmp_path / "out", "--protected", "gender", "--privileged",
                  "gender=male", "--favorable-label", "False")
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert report["summary"]["status"] == "fail"
    assert code == 1


@pytest.mark.django_db
def test_cli_exit_1_when_a_check_could_not_run(inputs, tmp_path, monkeypatch):
    from audits import checks

    def broken(ctx):
        raise RuntimeError("check broke")

    monkeypatch.setitem(checks.REGISTRY, "group_fairness", broken)
    model_zip, csv = inputs
    code = _audit(model_zip, csv, tmp_path / "out", "--protected", "gender", "--privileged",
                  "gender=male", "--favorable-label", "False", "--checks", "group_fairness")
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert report["summary"] == {"status": "fail", "counts": {**dict.fromkeys(report["summary"]["counts"], 0),
                                                              "error": 1}, "checks": {"group_fairness": "error"}}
    assert code == 1


@pytest.mark.django_db
def test_cli_exit_1_when_nothing_could_be_assessed(inputs, tmp_path, monkeypatch):
    from audits import checks

    def nothing(ctx):
        return [{"id": "group_fairness", "attribute": a, "status": "skipped", "message": "Too few rows.",
                 "metrics": {}, "groups": {}} for a in ctx.groups.columns]

    monkeypatch.setitem(checks.REGISTRY, "group_fairness", nothing)
    model_zip, csv = inputs
    code = _audit(model_zip, csv, tmp_path / "out", "--protected", "gender", "--privileged",
                  "gender=male", "--favorable-label", "False", "--checks", "group_fairness")
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert report["summary"]["status"] == "inconclusive"
    assert report["summary"]["checks"] == {"group_fairness": "inconclusive"}
    assert code == 1
    html = (tmp_path / "out" / "report.html").read_text()
    assert "Inconclusive" in html and "compliance was not shown" in html


@pytest.mark.django_db
@pytest.mark.parametrize(("args", "fragment"), [
    (["--protected", "gender", "--privileged", "gender=king", "--favorable-label", "False"], "king"),
    (["--protected", "sex", "--privileged", "sex=male", "--favorable-label", "False"], "sex"),
    (["--protected", "gender", "--favorable-label", "False"], "privileged"),
    (["--protected", "gender", "--privileged", "gender=male", "--favorable-label", "Maybe"], "Maybe"),
])
def test_cli_bad_input_exit_2_one_line_nothing_stored(inputs, tmp_path, capsys, args, fragment):
    model_zip, csv = inputs
    assert _audit(model_zip, csv, tmp_path / "out", *args) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and fragment in err, err
    assert not ModelArtifact.objects.exists() and not Dataset.objects.exists() and not Audit.objects.exists()
    assert not (tmp_path / "out").exists()


@pytest.mark.django_db
def test_cli_refuses_a_missing_model_file(inputs, tmp_path, capsys):
    _, csv = inputs
    assert _audit(tmp_path / "nope.zip", csv, tmp_path / "out", "--identity-terms",
                  "--favorable-label", "False") == 2
    assert "nope.zip" in capsys.readouterr().err


@pytest.fixture
def twin_inputs(inputs, tmp_path):
    """The people table with an id column, and its twin: every "gay" swapped for "kind"."""
    model_zip, csv = inputs
    people = pd.read_csv(csv)
    people.insert(0, "id", range(100, 100 + len(people)))
    people.to_csv(csv, index=False)
    twin = tmp_path / "twin.csv"
    people.assign(text=people["text"].str.replace("gay", "kind")).sample(frac=1, random_state=0).to_csv(twin, index=False)
    return model_zip, csv, twin, int(people["text"].str.contains("gay").sum())


TWIN_ARGS = ("--protected", "gender", "--privileged", "gender=male", "--favorable-label", "False",
             "--checks", "counterfactual")


@pytest.mark.django_db
def test_cli_twin_dataset_feeds_the_counterfactual_check(twin_inputs, tmp_path):
    model_zip, csv, twin, changed = twin_inputs
    _audit(model_zip, csv, tmp_path / "out", *TWIN_ARGS, "--twin-dataset", str(twin), "--twin-id-column", "id")
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    [supplied] = [c for c in report["checks"] if c["id"] == "counterfactual" and c["attribute"] == "supplied pairs"]
    assert supplied["status"] != "skipped" and supplied["examples"], supplied["message"]
    # Rows meet by id, not by position (the twin is shuffled): each example's variant is its row's text swapped.
    texts = pd.read_csv(csv)["text"]
    for example in supplied["examples"]:
        assert example["variant"] == texts[example["row"]].replace("gay", "kind")
    assert 0 < changed < len(texts)
    assert Audit.objects.get().config["counterfactual"]["id_column"] == "id"


@pytest.mark.django_db
@pytest.mark.parametrize(("args", "fragment"), [
    (["--twin-dataset", "missing.csv", "--twin-id-column", "id"], "missing.csv: no such file"),
    (["--twin-dataset", "TWIN", "--twin-id-column", "rev_id"], "'rev_id' is not in the file"),
    (["--twin-dataset", "TWIN"], "--twin-id-column COL"),
    (["--twin-id-column", "id"], "--twin-dataset PATH"),
    (["--twin-dataset", "TWIN", "--twin-id-column", "id", "--checks", "group_fairness"], "add it to --checks"),
])
def test_cli_twin_dataset_bad_input_exit_2(twin_inputs, tmp_path, capsys, args, fragment):
    model_zip, csv, twin, _ = twin_inputs
    args = [str(twin) if a == "TWIN" else str(tmp_path / a) if a == "missing.csv" else a for a in args]
    assert _audit(model_zip, csv, tmp_path / "out", *TWIN_ARGS, *args) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and fragment in err, err
    assert not Dataset.objects.exists() and not Audit.objects.exists()
