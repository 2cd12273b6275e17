"""Explanations in an audit: the stage, report.json, the report section, failures, the CLI."""
from __future__ import annotations

import json
import time

import numpy as np
import pandas as pd
import pytest
from django.core.management import call_command

from audits.errors import BadInput
from audits.models import Audit
from audits.reports import render_html
from audits.services.audits import audit_file, audit_run
from tests.factories import PEOPLE_MAPPING, people_audit, people_dataset, zip_folder

MAPPING = PEOPLE_MAPPING
SCRIPT = "<script>alert(1)</script>"
METHODS = {"shap", "lime", "ig", "attention"}


@pytest.fixture(autouse=True)
def cheap_explanations(settings):
    settings.EXPLAIN_LIME_SAMPLES = 200
    settings.EXPLAIN_SHAP_EVALS = 100
    settings.EXPLAIN_IG_STEPS = 16
    settings.EXPLAIN_CHUNK_ROWS = 2  # 3 rows: two chunks, merged


@pytest.fixture
def dataset(org, user):
    return people_dataset(org, user, rows=60, suffix=" " + SCRIPT)


def _create(org, user, model, dataset, **config):
    return people_audit(org, user, model, dataset, **config)


def test_config_validates_explain(org, user, model, dataset):
    assert _create(org, user, model, dataset).config["explain"] == 0
    assert _create(org, user, model, dataset, explain="4").config["explain"] == 4
    assert _create(org, user, model, dataset, explain=10_000).config["explain"] == 200
    for bad in (-1, "three", 2.5, [3]):
        with pytest.raises(BadInput, match="explain"):
            _create(org, user, model, dataset, explain=bad)


def test_audit_explains_rows_with_every_method_and_shows_them_escaped(org, user, model, dataset):
    audit = _create(org, user, model, dataset, explain=3)
    started = time.perf_counter()
    audit = audit_run(audit_id=audit.pk)
    print(f"audit with explain=3 took {time.perf_counter() - started:.1f}s")
    assert audit.status == Audit.Status.DONE and audit.stage == "done"
    section = audit.report["explanations"]
    print("explain timings:", section["timings"])
    assert len(section["examples"]) == 3
    assert len({e["row"] for e in section["examples"]}) == 3
    for example in section["examples"]:
        assert set(example["methods"]) == METHODS and example["reason"]
    with audit_file(audit=audit, name="report.json") as fh:
        assert json.loads(fh.read()) == audit.report  # strict JSON, stored as built
    html = render_html(audit.report)
    assert 'id="explanations"' in html and 'href="#explanations"' in html
    assert html.count('class="xai-highlight"') == 3 * len(METHODS)
    assert 'class="xai-heatmap"' in html and "Comprehensiveness" in html
    assert SCRIPT not in html and "<script" not in html.lower()
    assert "&lt;" in html
    with audit_file(audit=audit, name="report.html") as fh:
        assert "<script" not in fh.read().decode().lower()


def test_the_report_says_which_model_ran_the_perturbed_inputs(org, user, model, dataset, settings):
    from audits.models import ExplainChunk

    # 60 rows cannot show 99.5 % agreement: the audited model runs them, and the report says why.
    audit = audit_run(audit_id=_create(org, user, model, dataset, explain=3).pk)
    plan = audit.report["explanations"]["perturbation"]
    assert plan["model"] == "audited" and plan["rows"] == 60 and "ranges" not in plan
    assert "below 99.5%" in render_html(audit.report)
    # With the bar lowered, the int8 copy runs them: every chunk holds the same plan, ranges included.
    settings.EXPLAIN_STANDIN_AGREEMENT = 0.5
    audit = audit_run(audit_id=_create(org, user, model, dataset, explain=3).pk)
    plans = [c.plan for c in ExplainChunk.objects.filter(audit=audit)]
    assert len(plans) == 2 and plans[0] == plans[1] and plans[0]["model"] == "int8" and plans[0]["ranges"]
    section = audit.report["explanations"]
    assert section["perturbation"]["model"] == "int8" and "ranges" not in section["perturbation"]
    assert "so it ran SHAP&#x27;s and LIME&#x27;s perturbed inputs" in render_html(audit.report)
    assert all(set(e["methods"]) == METHODS for e in section["examples"])


def test_no_explain_keeps_an_empty_list(org, user, model, dataset):
    audit = audit_run(audit_id=_create(org, user, model, dataset).pk)
    assert audit.report["explanations"] == []
    assert 'id="explanations"' not in render_html(audit.report)


def test_a_failure_in_explanations_leaves_the_audit_done(org, user, model, dataset, monkeypatch):
    import explain.run

    def boom(*args, **kwargs):
        raise RuntimeError("explainer broke")

    monkeypatch.setattr(explain.run, "explain_chunk", boom)
    audit = audit_run(audit_id=_create(org, user, model, dataset, explain=3).pk)
    assert audit.status == Audit.Status.DONE and audit.stage == "done"
    error = audit.report["explanations"]["error"]
    assert error.startswith("Every explanation chunk failed.") and "RuntimeError: explainer broke" in error
    assert audit.report["checks"]
    assert "explainer broke" in render_html(audit.report)


@pytest.mark.django_db
def test_cli_explain_writes_explanations(tiny_model_dir, tmp_path):
    model_zip = tmp_path / "tiny.zip"
    model_zip.write_bytes(zip_folder(tiny_model_dir))
    rng = np.random.default_rng(5)
    gender = rng.choice(["male", "female"], size=40)
    csv = tmp_path / "people.csv"
    pd.DataFrame({"text": [f"a kind {g} person" for g in gender], "label": rng.random(40) < 0.4,
                  "gender": gender}).to_csv(csv, index=False)
    out = tmp_path / "out"
    with pytest.raises(SystemExit) as exit_info:
        call_command("audit", "--model", str(model_zip), "--dataset", str(csv), "--text-column", "text",
                     "--label-column", "label", "--protected", "gender", "--privileged", "gender=male",
                     "--favorable-label", "False", "--explain", "2", "--out", str(out))
    assert exit_info.value.code in (0, 1)
    report = json.loads((out / "report.json").read_text())
    assert len(report["explanations"]["examples"]) == 2
    assert set(report["explanations"]["examples"][0]["methods"]) == METHODS


def test_audit_form_passes_explain_into_the_config(client_in, model, dataset):
    from django.urls import reverse

    data = {"model": model.pk, "dataset": dataset.pk, "checks": ["group_fairness"], "seed": 0}
    page = client_in.get(reverse("audits:audit_new")).content.decode()
    assert "Explain N rows" in page
    assert client_in.post(reverse("audits:audit_new"), {**data, "explain": 201}).status_code == 200
    assert not Audit.objects.exists()
    response = client_in.post(reverse("audits:audit_new"), {**data, "explain": 2})
    assert response.status_code == 302
    assert Audit.objects.get().config["explain"] == 2
