"""Debiasing runs: the result as a new model, the report section and files, and every
way a run can end without leaving anything behind."""
from __future__ import annotations

import io
import json

import numpy as np
import pandas as pd
import pytest
from django.core.files.storage import default_storage
from pypdf import PdfReader

import audits.mitigation as mitigation_core
from audits.errors import BadInput
from audits.models import Audit, MitigationRun, ModelArtifact, SignedReport
from audits.services import mitigation_report, mitigations
from audits.services.audits import audit_file, audit_run
from audits.services.mitigations import mitigation_cancel, mitigation_create, mitigation_run
from tests.factories import people_audit, people_dataset

# Small enough for the tiny model to train in seconds; a sweep of two weights.
OPTIONS = {"epochs": 3, "sweep": [0.0, 1.0], "adversary_weight": 1.0, "batch_size": 32}
RESAMPLES = 100


@pytest.fixture
def work_tmp(settings, tmp_path):
    folder = tmp_path / "work-tmp"
    folder.mkdir()
    settings.FILE_UPLOAD_TEMP_DIR = str(folder)
    return folder


@pytest.fixture
def audit(org, user, model, work_tmp):
    dataset = people_dataset(org, user, rows=160)
    return audit_run(audit_id=people_audit(org, user, model, dataset).pk)


def _files(audit) -> dict[str, bytes]:
    """The audit's own report files in storage (a signed audit serves frozen copies instead)."""
    out = {}
    for name in ("report.json", "report.html", "report.pdf", "predictions.csv"):
        with default_storage.open(f"{audit.artifacts_prefix}/{name}", "rb") as fh:
            out[name] = fh.read()
    return out


def _stored_models() -> list[str]:
    return sorted(default_storage.listdir("models")[0]) if default_storage.exists("models") else []


def _start(audit, user, method="adversarial", **options):
    run = mitigation_create(audit=audit, user=user, method=method, attribute="gender",
                            options={**OPTIONS, **options}, enqueue=False)
    return mitigation_run(run_id=run.pk, resamples=RESAMPLES)


def test_run_registers_a_child_model_and_fills_the_report(audit, user, work_tmp):
    before_files = _files(audit)
    run = _start(audit, user)
    assert run.status == MitigationRun.Status.DONE, run.error
    child = run.result_model
    assert child.parent_id == audit.model_id and child.organisation_id == audit.organisation_id
    assert child.sha256 != audit.model.sha256
    assert child.provenance["method"] == "adversarial" and child.provenance["attribute"] == "gender"
    assert child.provenance["source_audit"] == audit.pk and child.provenance["mitigation_run"] == run.pk
    assert child.provenance["options"]["epochs"] == 3 and child.provenance["seed"] == audit.config["seed"]
    assert any(f["name"] == "model.safetensors" for f in child.files)
    section = run.result
    assert section["model_sha256"] == child.sha256
    assert {"before", "after", "sweep", "recommendation", "adversary_accuracy"} <= set(section)
    assert [p["adversary_weight"] for p in section["sweep"]] == [0.0, 1.0]
    # The audit's report and its files carry the same section; predictions are untouched.
    audit.refresh_from_db()
    assert audit.report["mitigation"] == section
    files = _files(audit)
    assert json.loads(files["report.json"]) == audit.report
    assert files["predictions.csv"] == before_files["predictions.csv"]
    assert b'id="mitigation"' in files["report.html"] and b'id="mitigation"' not in before_files["report.html"]
    pdf_text = "\n".join(p.extract_text() for p in PdfReader(io.BytesIO(files["report.pdf"])).pages)
    after_acc = section["after"]["accuracy"]["value"]
    assert "Mitigation" in pdf_text and f"{after_acc:.3f}" in pdf_text
    assert list(work_tmp.iterdir()) == []


def test_the_new_models_audit_agrees_with_the_after_figures(audit, org, user, monkeypatch):
    captured = {}
    real = mitigation_core.mitigation_compute

    def keep_outcome(**kwargs):
        captured["outcome"] = real(**kwargs)
        return captured["outcome"]

    monkeypatch.setattr(mitigation_core, "mitigation_compute", keep_outcome)
    run = _start(audit, user)
    assert run.status == "done", run.error
    child_audit = audit_run(audit_id=people_audit(org, user, run.result_model, audit.dataset).pk)
    assert child_audit.status == "done", child_audit.error
    with audit_file(audit=child_audit, name="predictions.csv") as fh:
        predictions = pd.read_csv(fh, dtype={"label": str, "prediction": str})
    held = predictions.iloc[captured["outcome"].held_out_rows]
    assert len(held) == run.result["held_out_rows"]
    after = run.result["after"]
    fav_pred = held["prediction"] == "False"  # the favourable label of the people data
    assert np.mean(held["label"] == held["prediction"]) == pytest.approx(after["accuracy"]["value"], abs=1e-12)
    privileged = held["gender"] == "male"
    spd = fav_pred[~privileged].mean() - fav_pred[privileged].mean()
    assert spd == pytest.approx(after["statistical_parity_difference"]["value"], abs=1e-12)
    di = fav_pred[~privileged].mean() / fav_pred[privileged].mean()
    assert di == pytest.approx(after["disparate_impact"]["value"], abs=1e-9)


def test_cancel_while_running_saves_nothing(audit, user, work_tmp, monkeypatch):
    models_before, report_before = _stored_models(), audit.report
    real_progress = mitigations.job_progress

    def cancel_at_sweep(*, job, job_id, stage, done=0, total=0):
        real_progress(job=job, job_id=job_id, stage=stage, done=done, total=total)
        if stage.startswith("sweep"):
            MitigationRun.objects.filter(pk=job_id).update(cancel_requested=True)

    monkeypatch.setattr(mitigations, "job_progress", cancel_at_sweep)
    monkeypatch.setattr(mitigations, "CANCEL_POLL_SECONDS", 0)
    run = _start(audit, user)
    assert run.status == MitigationRun.Status.CANCELLED and run.result_model is None and run.result is None
    assert ModelArtifact.objects.count() == 1 and _stored_models() == models_before
    audit.refresh_from_db()
    assert audit.report == report_before
    assert list(work_tmp.iterdir()) == []


def test_cancel_while_queued_is_immediate_and_the_task_then_does_nothing(audit, user):
    run = mitigation_create(audit=audit, user=user, method="reweighing", attribute="gender",
                            options=OPTIONS, enqueue=False)
    run = mitigation_cancel(run=run, user=user)
    assert run.status == "cancelled" and run.finished_at is not None
    assert mitigation_run(run_id=run.pk).status == "cancelled"
    with pytest.raises(BadInput, match="already cancelled"):
        mitigation_cancel(run=run, user=user)
    # Both actions are on the audit's trail, with who did them.
    events = list(audit.events.filter(verb__startswith="mitigation.").values_list("verb", "actor_name", "detail"))
    assert events == [("mitigation.start", user.username, {"run": run.pk, "method": "reweighing",
                                                            "attribute": "gender"}),
                      ("mitigation.cancel", user.username, {"run": run.pk})]


def _assert_untouched(audit, files_before, models_before, work_tmp):
    parent = ModelArtifact.objects.get(pk=audit.model_id)
    assert (parent.sha256, parent.files, parent.provenance) == (audit.model.sha256, audit.model.files, {})
    assert ModelArtifact.objects.count() == 1 and _stored_models() == models_before
    fresh = Audit.objects.get(pk=audit.pk)
    assert fresh.report == audit.report and fresh.report["mitigation"] is None
    assert _files(fresh) == files_before
    assert list(work_tmp.iterdir()) == []


def test_a_failing_compute_leaves_parent_and_audit_untouched(audit, user, work_tmp, monkeypatch):
    files_before, models_before = _files(audit), _stored_models()

    def broken(*, out_dir, **kwargs):
        (out_dir / "model").mkdir(parents=True)
        (out_dir / "model" / "half.safetensors").write_bytes(b"half")
        raise RuntimeError("CUDA out of memory")

    monkeypatch.setattr(mitigation_core, "mitigation_compute", broken)
    run = _start(audit, user)
    assert run.status == "failed" and "CUDA out of memory" in run.error and run.finished_at
    _assert_untouched(audit, files_before, models_before, work_tmp)


def test_a_failure_after_registering_removes_the_new_model(audit, user, work_tmp, monkeypatch):
    files_before, models_before = _files(audit), _stored_models()
    real_save = mitigation_report._save

    def save_then_fail(audit_id, document, then):
        real_save(audit_id, document, then)  # report and files written, run marked done ...
        raise OSError("disk full")  # ... and then the commit fails

    monkeypatch.setattr(mitigation_report, "_save", save_then_fail)
    run = _start(audit, user)
    assert run.status == "failed" and "disk full" in run.error and run.result_model is None
    _assert_untouched(audit, files_before, models_before, work_tmp)


def test_the_time_limit_stops_a_run(audit, user, settings, work_tmp):
    settings.MITIGATION_TIME_LIMIT = 0
    run = _start(audit, user)
    assert run.status == "failed" and "time limit" in run.error
    assert ModelArtifact.objects.count() == 1 and list(work_tmp.iterdir()) == []


def test_a_signed_report_never_changes(audit, user):
    files_before = _files(audit)
    SignedReport.objects.create(audit=audit, manifest={}, json_path="x", pdf_path="y", json_sha256="0" * 64,
                                pdf_sha256="0" * 64, signature="s", key_id="k")
    run = _start(audit, user, method="reweighing")
    assert run.status == "done", run.error
    assert run.result["model_sha256"] == run.result_model.sha256
    fresh = Audit.objects.get(pk=audit.pk)
    assert fresh.report["mitigation"] is None and _files(fresh) == files_before


def test_threshold_runs_make_no_model(audit, user):
    run = _start(audit, user, method="threshold")
    assert run.status == "done", run.error
    assert run.result_model is None and run.result["model_sha256"] is None and run.result["thresholds"]
    assert ModelArtifact.objects.count() == 1


def test_create_refuses_bad_requests(audit, org, user, other_user, model):
    with pytest.raises(BadInput, match="protected attributes"):
        mitigation_create(audit=audit, user=user, method="adversarial", attribute="age", options={}, enqueue=False)
    with pytest.raises(BadInput, match="epochs"):
        mitigation_create(audit=audit, user=user, method="adversarial", attribute="gender",
                          options={"epochs": 0}, enqueue=False)
    with pytest.raises(BadInput, match="Unknown method"):
        mitigation_create(audit=audit, user=user, method="magic", attribute="gender", options={}, enqueue=False)
    with pytest.raises(BadInput, match="another organisation"):
        mitigation_create(audit=audit, user=other_user, method="adversarial", attribute="gender",
                          options={}, enqueue=False)
    queued = people_audit(org, user, model, audit.dataset)
    with pytest.raises(BadInput, match="finished audit"):
        mitigation_create(audit=queued, user=user, method="adversarial", attribute="gender", options={},
                          enqueue=False)
    run = mitigation_create(audit=audit, user=user, method="reweighing", attribute="gender", options={},
                            enqueue=False)
    assert run.options["seed"] == audit.config["seed"] and run.options["epochs"] == 30
    with pytest.raises(BadInput, match="another organisation"):
        mitigation_cancel(run=run, user=other_user)
    assert MitigationRun.objects.count() == 1


def _people_csv(path, rows=160):
    rng = np.random.default_rng(2)
    gender = rng.choice(["male", "female"], size=rows)
    text = [f"{g} says {'gay' if rng.random() < .3 else 'hi'}" for g in gender]
    pd.DataFrame({"text": text, "label": rng.random(rows) < 0.3, "gender": gender}).to_csv(path, index=False)
    return path


def _cli(*args) -> tuple[int, str]:
    from django.core.management import call_command

    err = io.StringIO()
    with pytest.raises(SystemExit) as exit_info:
        call_command("audit", *args, stderr=err, stdout=io.StringIO())
    return exit_info.value.code, err.getvalue()


@pytest.mark.django_db
def test_cli_mitigate_writes_the_section_and_the_debiased_model(tiny_model_dir, tmp_path):
    import runtime

    out = tmp_path / "out"
    code, err = _cli("--model", str(tiny_model_dir), "--dataset", str(_people_csv(tmp_path / "p.csv")),
                     "--text-column", "text", "--label-column", "label", "--protected", "gender",
                     "--privileged", "gender=male", "--favorable-label", "False", "--mitigate", "reweighing",
                     "--out", str(out))
    report = json.loads((out / "report.json").read_text())
    assert code == (1 if report["summary"]["status"] in {"fail", "error", "inconclusive"} else 0), err
    section = report["mitigation"]
    assert section["method"] == "reweighing" and section["attribute"] == "gender"
    child = ModelArtifact.objects.get(sha256=section["model_sha256"])
    assert child.parent is not None and child.provenance["method"] == "reweighing"
    assert MitigationRun.objects.get().result == section
    assert 'id="mitigation"' in (out / "report.html").read_text()
    folder = out / "debiased_model"
    assert (folder / "model.safetensors").is_file() and (folder / "config.json").is_file()
    assert runtime.load_model(folder).num_labels == 2


@pytest.mark.django_db
@pytest.mark.parametrize(("extra", "fragment"), [
    (["--protected", "gender", "--privileged", "gender=male", "--mitigate", "adversarial",
      "--mitigate-attribute", "age"], "'age', which is not given with --protected"),
    (["--identity-terms", "--mitigate", "threshold"], "--mitigate-attribute"),
])
def test_cli_mitigate_bad_input_exits_2(tiny_model_dir, tmp_path, extra, fragment):
    code, err = _cli("--model", str(tiny_model_dir), "--dataset", str(_people_csv(tmp_path / "p.csv")),
                     "--text-column", "text", "--label-column", "label", "--favorable-label", "False",
                     *extra, "--out", str(tmp_path / "out"))
    assert code == 2 and fragment in err and err.count("\n") <= 1
    # Refused before anything ran: nothing stored, nothing written.
    assert not Audit.objects.exists() and not ModelArtifact.objects.exists() and not (tmp_path / "out").exists()
