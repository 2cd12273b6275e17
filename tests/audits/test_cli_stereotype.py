"""`manage.py audit --checks stereotype_pairs`: a language model on sentence pairs from the CLI."""
from __future__ import annotations

import json

import pandas as pd
import pytest
from django.core.management import call_command

from audits.models import Audit, Dataset, ModelArtifact
from tests.lm_factories import PAIRS_CSV, make_masked_lm

PAIR_ARGS = ("--checks", "stereotype_pairs", "--more-column", "sent_more", "--less-column", "sent_less",
             "--bias-type-column", "bias_type", "--direction-column", "direction")


@pytest.fixture(scope="module")
def masked_dir(tmp_path_factory):
    return make_masked_lm(tmp_path_factory.mktemp("mlm") / "model")


def _audit(model, dataset, out, *extra):
    with pytest.raises(SystemExit) as exit_info:
        call_command("audit", "--model", str(model), "--dataset", str(dataset), "--out", str(out), *extra)
    return exit_info.value.code


@pytest.mark.django_db
def test_cli_probes_a_masked_lm_on_sentence_pairs(masked_dir, tmp_path):
    out = tmp_path / "out"
    code = _audit(masked_dir, PAIRS_CSV, out, *PAIR_ARGS)
    report = json.loads((out / "report.json").read_text())
    assert code == (1 if report["summary"]["status"] in ("fail", "inconclusive") else 0)
    overall = report["checks"][0]
    assert overall["id"] == "stereotype_pairs" and overall["attribute"] is None
    entry = overall["metrics"]["stereotype_score"]
    assert entry["ci_low"] <= entry["value"] <= entry["ci_high"]
    assert {c["attribute"] for c in report["checks"][1:]} == {"gender", "age", "nationality", "socioeconomic"}
    assert report["dataset"]["label_column"] is None and report["model"]["architecture"] == "BertForMaskedLM"
    predictions = pd.read_csv(out / "predictions.csv")
    assert list(predictions.columns[:4]) == ["row", "label", "prediction", "probability"]
    assert len(predictions) == 48
    share = ((predictions.more_score > predictions.less_score) + 0.5 * (predictions.more_score == predictions.less_score))
    assert share.mean() == pytest.approx(entry["value"])
    assert (out / "report.pdf").read_bytes().startswith(b"%PDF")


@pytest.mark.django_db
@pytest.mark.parametrize(("args", "fragment"), [
    (("--checks", "stereotype_pairs", "--more-column", "sent_more"), "needs --more-column and --less-column"),
    (PAIR_ARGS[:4] + ("--less-column", "nope"), "no column 'nope'"),
    (PAIR_ARGS + ("--label-column", "bias_type"), "--label-column do not apply to sentence pairs"),
    (("--checks", "group_fairness", "--text-column", "sent_more", "--label-column", "bias_type",
      "--protected", "direction", "--privileged", "direction=stereo", "--favorable-label", "age"),
     "without a classification head: it can run stereotype_pairs only"),
])
def test_cli_bad_pairs_input_exit_2_one_line_nothing_stored(masked_dir, tmp_path, capsys, args, fragment):
    assert _audit(masked_dir, PAIRS_CSV, tmp_path / "out", *args) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and fragment in err, err
    assert not ModelArtifact.objects.exists() and not Dataset.objects.exists() and not Audit.objects.exists()


@pytest.mark.django_db
def test_cli_refuses_the_probe_on_a_classifier(tiny_model_dir, tmp_path, capsys):
    assert _audit(tiny_model_dir, PAIRS_CSV, tmp_path / "out", *PAIR_ARGS) == 2
    assert "is a classifier (BertForSequenceClassification): stereotype_pairs" in capsys.readouterr().err
