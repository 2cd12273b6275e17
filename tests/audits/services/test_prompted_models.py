"""Prompted classifiers as models: uploaded with a template and verbalizers through the
service, the web form, the API and the CLI; the prompt is stored with the model and in
its hash; the three refusals of issue 19 come back as one clear message everywhere and
leave nothing stored; audits, explanations and thresholds run on them."""
from __future__ import annotations

import json
import shutil

import numpy as np
import pandas as pd
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.urls import reverse

from audits.errors import BadInput
from audits.models import ModelArtifact
from audits.services.model_prompts import model_prompt, prompt_spec_build, verbalizers_parse
from audits.services.model_uploads import model_local_folder, model_upload
from tests.audits.api.conftest import token_client
from tests.factories import people_audit, people_dataset, zip_folder

pytestmark = pytest.mark.django_db

TEMPLATE = "Comment: {text}\nIs this comment toxic? Answer:"
VERBALIZERS = {"False": ["no", "clean"], "True": ["yes"]}
# The three refusals of the issue: (template, verbalizers, what the message must say).
REFUSALS = {
    "missing word": (TEMPLATE, {"False": ["no"], "True": ["日本"]},
                     "verbalizer '日本' of label 'True' is not in the model's vocabulary"),
    "no slot": ("Is this comment toxic? Answer:", VERBALIZERS, "no {text} slot"),
    "too long": ("Comment: {text}\n" + "Is this comment really toxic? " * 60 + "Answer:", VERBALIZERS,
                 "exceeds the model's context of 256 positions by"),
}


def archive(folder) -> SimpleUploadedFile:
    return SimpleUploadedFile("causal.zip", zip_folder(folder))


def spec(template=TEMPLATE, verbalizers=None, **extra):
    return prompt_spec_build(template=template, verbalizers=verbalizers or VERBALIZERS, **extra)


def assert_nothing_stored():
    assert not ModelArtifact.objects.exists()


def test_a_causal_lm_with_a_prompt_is_stored_with_its_prompt(org, user, tiny_causal_lm_dir):
    model = model_upload(organisation=org, user=user, name="llm", files=[archive(tiny_causal_lm_dir)],
                         prompt=spec(calibrate=True))
    assert model.architecture == "LlamaForCausalLM"
    assert model.labels == {"0": "False", "1": "True"}
    assert "prompt.json" in {f["name"] for f in model.files}
    stored = model_prompt(model=model)
    assert stored["template"] == TEMPLATE and stored["verbalizers"] == VERBALIZERS and stored["calibrate"]
    assert json.loads((model_local_folder(model=model) / "prompt.json").read_text()) == stored
    # The prompt is part of the model: another word is another model.
    other = model_upload(organisation=org, user=user, name="llm2", files=[archive(tiny_causal_lm_dir)],
                         prompt=spec(verbalizers={"False": ["no"], "True": ["yes"]}))
    assert other.sha256 != model.sha256


def test_prompt_json_in_the_archive_is_the_prompt(org, user, tiny_causal_lm_dir, tmp_path):
    folder = shutil.copytree(tiny_causal_lm_dir, tmp_path / "with-prompt")
    (folder / "prompt.json").write_text(json.dumps({"template": TEMPLATE, "verbalizers": VERBALIZERS}))
    model = model_upload(organisation=org, user=user, name="llm", files=[archive(folder)])
    assert model_prompt(model=model)["verbalizers"] == VERBALIZERS
    with pytest.raises(BadInput, match="already holds prompt.json; give the prompt once"):
        model_upload(organisation=org, user=user, name="again", files=[archive(folder)], prompt=spec())


def test_a_causal_lm_without_a_prompt_cannot_run_classifier_checks_and_is_told_what_to_add(
        org, user, tiny_causal_lm_dir):
    # Kept as a language model for the stereotype probes (issue 15), refused as a classifier.
    model = model_upload(organisation=org, user=user, name="llm", files=[archive(tiny_causal_lm_dir)])
    assert model.labels == {}
    with pytest.raises(BadInput, match="is a causal language model .LlamaForCausalLM. without a classification "
                                       "head: it can run stereotype_pairs only, not group_fairness. To audit it as "
                                       "a classifier, upload it with a prompt template and a verbalizer per label"):
        people_audit(org, user, model, people_dataset(org, user))


@pytest.mark.parametrize("case", REFUSALS)
def test_refusals_through_the_service(org, user, tiny_causal_lm_dir, case):
    template, verbalizers, message = REFUSALS[case]
    with pytest.raises(BadInput, match=_literal(message)) as refused:
        model_upload(organisation=org, user=user, name="llm", files=[archive(tiny_causal_lm_dir)],
                     prompt=spec(template, verbalizers))
    assert "\n" not in str(refused.value)
    assert_nothing_stored()


def test_verbalizer_lines_parse_in_label_order():
    assert verbalizers_parse(["0=no, nope", "1=yes"]) == {"0": ["no", "nope"], "1": ["yes"]}
    with pytest.raises(BadInput, match="write LABEL=WORD"):
        verbalizers_parse(["yes"])
    with pytest.raises(BadInput, match="label '1' is given twice"):
        verbalizers_parse(["1=yes", "1=sure"])
    with pytest.raises(BadInput, match="label 'True' has no verbalizer"):
        prompt_spec_build(template=TEMPLATE, verbalizers={"False": ["no"], "True": []})


def form_data(folder, template, verbalizers) -> dict:
    lines = "\n".join(f"{label}={','.join(words)}" for label, words in verbalizers.items())
    return {"name": "llm", "files": archive(folder), "prompt_template": template, "verbalizers": lines,
            "few_shot": "True=you are gay", "calibrate": "on"}


def test_upload_form_stores_a_prompted_model_and_shows_its_prompt(client_in, tiny_causal_lm_dir):
    response = client_in.post(reverse("audits:model_upload"), form_data(tiny_causal_lm_dir, TEMPLATE, VERBALIZERS))
    assert response.status_code == 302, response.content.decode()[:2000]
    model = ModelArtifact.objects.get()
    assert model_prompt(model=model)["few_shot"] == [{"text": "you are gay", "label": "True"}]
    page = client_in.get(response["Location"]).content.decode()
    assert "Is this comment toxic? Answer:" in page and "False: no, clean" in page


@pytest.mark.parametrize("case", REFUSALS)
def test_refusals_through_the_upload_form(client_in, tiny_causal_lm_dir, case):
    template, verbalizers, message = REFUSALS[case]
    response = client_in.post(reverse("audits:model_upload"), form_data(tiny_causal_lm_dir, template, verbalizers))
    assert response.status_code == 200
    errors = [e for e in response.context["form"].non_field_errors()]
    assert len(errors) == 1 and message in errors[0]
    assert_nothing_stored()


def api_upload(user, folder, template, verbalizers):
    return token_client(user).post(reverse("api:model-list"), {
        "name": "llm", "archive": archive(folder), "prompt_template": template,
        "verbalizers": json.dumps(verbalizers), "few_shot": json.dumps([{"text": "hi", "label": "False"}]),
    }, format="multipart")


def test_api_uploads_a_prompted_model(user, tiny_causal_lm_dir):
    response = api_upload(user, tiny_causal_lm_dir, TEMPLATE, VERBALIZERS)
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["kind"] == "prompted" and body["architecture"] == "LlamaForCausalLM"
    assert body["prompt"]["verbalizers"] == VERBALIZERS and body["prompt"]["few_shot"][0]["text"] == "hi"
    assert body["labels"] == {"0": "False", "1": "True"}


@pytest.mark.parametrize("case", REFUSALS)
def test_refusals_through_the_api(user, tiny_causal_lm_dir, case):
    template, verbalizers, message = REFUSALS[case]
    response = api_upload(user, tiny_causal_lm_dir, template, verbalizers)
    assert response.status_code == 400
    assert message in response.json()["detail"]
    assert_nothing_stored()


@pytest.fixture
def people_csv(tmp_path):
    rng = np.random.default_rng(3)
    n = 60
    gender = rng.choice(["male", "female"], size=n)
    text = [f"the {g} editor wrote {'gay' if rng.random() < 0.4 else 'plain'} text" for g in gender]
    path = tmp_path / "people.csv"
    pd.DataFrame({"text": text, "label": rng.random(n) < 0.3, "gender": gender}).to_csv(path, index=False)
    return path


def cli(model, csv, out, *extra):
    with pytest.raises(SystemExit) as exit_info:
        call_command("audit", "--model", str(model), "--dataset", str(csv), "--text-column", "text",
                     "--label-column", "label", "--protected", "gender", "--privileged", "gender=male",
                     "--favorable-label", "False", "--out", str(out), *extra)
    return exit_info.value.code


@pytest.mark.parametrize("case", REFUSALS)
def test_refusals_through_the_cli(tiny_causal_lm_dir, people_csv, tmp_path, capsys, case):
    template, verbalizers, message = REFUSALS[case]
    template_file = tmp_path / "prompt.txt"
    template_file.write_text(template, encoding="utf-8")
    args = ["--prompt-template", str(template_file), "--verbalizer",
            *[f"{label}={','.join(words)}" for label, words in verbalizers.items()]]
    code = cli(tiny_causal_lm_dir, people_csv, tmp_path / "out", *args)
    err = capsys.readouterr().err
    assert code == 2 and message in err and err.count("\n") == 1
    assert_nothing_stored()
    assert not (tmp_path / "out").exists()


def test_cli_audits_a_prompted_model_with_every_check_and_explanation(tiny_causal_lm_dir, people_csv, tmp_path):
    template_file = tmp_path / "prompt.txt"
    template_file.write_text(TEMPLATE, encoding="utf-8")
    out = tmp_path / "out"
    code = cli(tiny_causal_lm_dir, people_csv, out, "--prompt-template", str(template_file),
               "--verbalizer", "False=no,clean", "True=yes", "--calibrate", "--checks", "all", "--explain", "2")
    report = json.loads((out / "report.json").read_text())
    assert code == (1 if report["summary"]["status"] in ("fail", "error", "inconclusive") else 0)
    assert report["model"]["architecture"] == "LlamaForCausalLM"
    assert report["manifest"]["model_prompt"]["verbalizers"] == VERBALIZERS
    assert report["manifest"]["model_prompt"]["calibrate"] is True
    assert "Is this comment toxic? Answer:" in (out / "report.html").read_text()
    assert {c["id"] for c in report["checks"]} >= {"group_fairness", "automation_bias"}
    assert not [c for c in report["checks"] if c["status"] == "error"], report["checks"]
    examples = report["explanations"]["examples"]
    assert len(examples) == 2 and set(examples[0]["methods"]) == {"shap", "lime", "ig", "attention"}
    preds = pd.read_csv(out / "predictions.csv")
    assert len(preds) == 60 and preds["probability"].between(0, 1).all()


def test_thresholds_apply_to_a_prompted_model_and_retraining_is_refused(org, user, tiny_causal_lm_dir):
    from audits.services.audits import audit_run
    from audits.services.mitigations import mitigation_create, mitigation_run

    model = model_upload(organisation=org, user=user, name="llm", files=[archive(tiny_causal_lm_dir)],
                         prompt=spec())
    dataset = people_dataset(org, user, rows=80)
    audit = audit_run(audit_id=people_audit(org, user, model, dataset).pk, inline=True)
    assert audit.status == "done", audit.error
    with pytest.raises(BadInput, match="prompted classifier: it has no classification head to retrain"):
        mitigation_create(audit=audit, user=user, method="adversarial", attribute="gender", options={},
                          enqueue=False)
    run = mitigation_create(audit=audit, user=user, method="threshold", attribute="gender", options={},
                            enqueue=False)
    run = mitigation_run(run_id=run.pk, verify=False)
    assert run.status == "done", run.error
    assert run.result_model is None and run.result["thresholds"]


def _literal(message: str) -> str:
    import re

    return re.escape(message)


def test_dataset_labels_without_a_verbalizer_are_refused_at_audit_creation(org, user, tiny_causal_lm_dir):
    model = model_upload(organisation=org, user=user, name="llm", files=[archive(tiny_causal_lm_dir)],
                         prompt=spec(verbalizers={"clean": ["no"], "toxic": ["yes"]}))
    dataset = people_dataset(org, user, rows=40)  # labels "False" / "True"
    with pytest.raises(BadInput, match="The model cannot produce the dataset labels 'False', 'True'; "
                                       "its labels are .*clean.*toxic"):
        people_audit(org, user, model, dataset)
