"""The demo built in the background: queued by `manage.py demo --background` (what `make
run` does before it serves), run step by step by the worker, its progress on the home page.

No test trains the real MiniLM: training is replaced by the tiny test model, and `_fit`'s
progress is checked on the tiny model itself.
"""
from __future__ import annotations

import io
import shutil

import pandas as pd
import pytest
from django.core.management import call_command
from django.urls import reverse
from transformers import AutoModelForSequenceClassification, AutoTokenizer

from audits import demo
from audits.models import Audit, DemoBuild, Organisation
from audits.services import demo_builds
from audits.services.audits import audit_run
from audits.services.mitigations import mitigation_run
from audits.services.model_uploads import model_register_folder
from tests.factories import make_user, people_audit, people_dataset
from tests.torch_threads import one_torch_thread  # noqa: F401 - an autouse fixture: training on one thread


class Recorder:
    def __init__(self):
        self.stages = []

    def stage(self, text, done=0, total=0):
        self.stages.append((text, done, total))

    def made(self, **objects):
        pass


@pytest.fixture
def fake_training(settings, tmp_path, monkeypatch, tiny_model_dir):
    """The tiny model stands in for the fine-tuned MiniLM (same labels, seconds to audit)."""
    settings.VAR_DIR = tmp_path / "var"
    calls = []

    def fake_train(*, out_dir, seed=0, progress=None):
        calls.append(seed)
        for epoch in (1, 2, 3):
            progress.stage(f"training the demo model, epoch {epoch} of 3", 1, 2)
        if not out_dir.exists():
            shutil.copytree(tiny_model_dir, out_dir)
        return {"accuracy": 0.5, "roc_auc": 0.5, "rows_held_out": 448, "seconds": 1.0, "cached": False,
                "recipe": {}}

    monkeypatch.setattr(demo, "demo_train", fake_train)
    # One explained row, cheaply: the build's steps are under test, not the explainers.
    monkeypatch.setattr(demo, "EXPLAIN_ROWS", 1)
    settings.EXPLAIN_LIME_SAMPLES, settings.EXPLAIN_SHAP_EVALS, settings.EXPLAIN_IG_STEPS = 60, 40, 4
    monkeypatch.setattr(demo, "demo_trained", lambda seed=0: bool(calls))
    return calls


def test_fit_reports_each_epoch_and_batch(tiny_model_dir):
    model = AutoModelForSequenceClassification.from_pretrained(tiny_model_dir)
    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    train = pd.DataFrame({demo.TEXT: [f"comment number {i}" for i in range(40)], demo.LABEL: [i % 3 == 0 for i in range(40)]})
    progress = Recorder()
    demo._fit(model, tokenizer, train, 0, progress)
    epochs = sorted({text for text, _, _ in progress.stages})
    assert epochs == [f"training the demo model, epoch {e} of {demo.RECIPE['epochs']}" for e in (1, 2, 3)]
    batches = -(-40 // demo.RECIPE["batch_size"])
    assert all(total == batches for _, _, total in progress.stages)
    assert [done for _, done, _ in progress.stages[:batches]] == list(range(batches))


@pytest.mark.django_db
def test_background_command_makes_logins_and_queues_the_build(fake_training, settings, monkeypatch):
    sent = []
    monkeypatch.setattr(demo_builds, "job_enqueue", lambda **kw: sent.append(kw))
    out = io.StringIO()
    call_command("demo", "--background", stdout=out)
    build = DemoBuild.objects.get()
    assert build.status == "queued" and build.organisation.name == demo.ORG_NAME
    assert sent == [{"task": "demo_build_task", "ids": [build.pk]}]
    assert not fake_training, "the command itself must not train"
    text = out.getvalue()
    assert "being built by the worker" in text and "demo-compliance" in text
    password = (settings.VAR_DIR / "demo-credentials.txt").read_text().split("password: ")[1].strip()
    assert password in text
    # Run again while it waits: the same build is queued again, not a second one.
    call_command("demo", "--background", stdout=io.StringIO())
    assert DemoBuild.objects.count() == 1 and len(sent) == 2


@pytest.mark.django_db
def test_build_runs_step_by_step_to_a_finished_demo(fake_training, monkeypatch):
    sent = []
    monkeypatch.setattr(demo_builds, "job_enqueue", lambda **kw: sent.append(kw["ids"][0]))
    build, _ = demo_builds.demo_build_queue()
    stages = []
    real_progress = demo_builds.job_progress
    monkeypatch.setattr(demo_builds, "job_progress", lambda **kw: (stages.append(kw["stage"]), real_progress(**kw)))
    tasks = 0
    while not (build := DemoBuild.objects.get(pk=build.pk)).is_finished:
        demo_builds.demo_build_run(build_id=build.pk)  # one step per task, each queueing the next
        tasks += 1
        assert tasks <= 6
        # The worker's part: the audit and the debiasing run are ordinary queued jobs.
        if build.audit_id is None and (audit := DemoBuild.objects.get(pk=build.pk).audit) is not None:
            assert audit.status == "queued"
            audit_run(audit_id=audit.pk)
        if build.mitigation_id is None and (run := DemoBuild.objects.get(pk=build.pk).mitigation) is not None:
            assert run.status == "queued"
            mitigation_run(run_id=run.pk, verify=False)
    assert build.status == "done", build.error
    # train, start the audit, see it done and start the run, see it done, mark the build done
    assert tasks == 4 and len(sent) == 1 + 3
    assert "training the demo model, epoch 2 of 3" in stages
    assert any(s.startswith("auditing the demo model") for s in stages)
    assert any(s.startswith("debiasing the demo model") for s in stages)
    assert build.audit.status == "done" and build.audit.config["checks"] == demo.CHECKS
    assert build.mitigation.status == "done" and build.mitigation.audit_id == build.audit_id
    assert build.metrics["accuracy"] == 0.5
    # Done: `make run` again queues nothing and the home page shows no build.
    assert demo_builds.demo_build_queue()[0] is None
    assert demo_builds.demo_build_current(organisation=build.organisation) is None


@pytest.mark.django_db
def test_a_failed_audit_of_the_build_fails_the_build(fake_training, monkeypatch):
    monkeypatch.setattr(demo_builds, "job_enqueue", lambda **kw: None)
    build, _ = demo_builds.demo_build_queue()
    demo_builds.demo_build_run(build_id=build.pk)  # trains
    demo_builds.demo_build_run(build_id=build.pk)  # starts the audit
    build.refresh_from_db()
    Audit.objects.filter(pk=build.audit_id).update(status="failed", error="worker lost 3 times")
    build = demo_builds.demo_build_run(build_id=build.pk)
    assert build.status == "failed" and "worker lost 3 times" in build.error
    assert Audit.objects.count() == 1  # not started again behind the build's back


@pytest.mark.django_db
def test_a_failed_step_fails_the_build_with_its_reason_and_a_new_run_retries(fake_training, monkeypatch):
    monkeypatch.setattr(demo_builds, "job_enqueue", lambda **kw: None)

    def broken(**kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(demo, "demo_audited", broken)
    build, _ = demo_builds.demo_build_queue()
    build = demo_builds.demo_build_run(build_id=build.pk, inline=True)
    assert build.status == "failed" and "disk full" in build.error
    assert demo_builds.demo_build_current(organisation=build.organisation) == build  # shown with its reason
    again, _ = demo_builds.demo_build_queue()
    assert again.pk != build.pk and again.status == "queued"


@pytest.mark.django_db
def test_home_shows_the_build_and_its_audit_progress(fake_training, client, monkeypatch):
    monkeypatch.setattr(demo_builds, "job_enqueue", lambda **kw: None)
    build, people = demo_builds.demo_build_queue()
    client.force_login(people["user"])
    page = client.get(reverse("audits:home")).content.decode()
    assert 'id="demo-build"' in page and "waiting for the worker" in page
    DemoBuild.objects.filter(pk=build.pk).update(status="running", stage="training the demo model, epoch 2 of 3",
                                                 progress_done=30, progress_total=66)
    status = client.get(reverse("audits:demo_progress")).json()
    assert status["stage"] == "training the demo model, epoch 2 of 3" and (status["done"], status["total"]) == (30, 66)


@pytest.mark.django_db
def test_home_as_first_served_shows_the_running_audits_own_stage(fake_training, client, monkeypatch,
                                                                  tiny_model_dir):
    """The page before any script runs says what the poll will: the demo audit's stage and bar."""
    monkeypatch.setattr(demo_builds, "job_enqueue", lambda **kw: None)
    build, people = demo_builds.demo_build_queue()
    org, user = build.organisation, people["user"]
    model = model_register_folder(organisation=org, user=user, name="tiny", folder=tiny_model_dir)
    audit = people_audit(org, user, model, people_dataset(org, user))
    Audit.objects.filter(pk=audit.pk).update(status="running", stage="checks", progress_done=2, progress_total=7)
    DemoBuild.objects.filter(pk=build.pk).update(status="running", stage=f"auditing the demo model (audit {audit.pk})",
                                                 audit=audit, progress_done=0, progress_total=0)
    client.force_login(user)
    page = client.get(reverse("audits:home")).content.decode()
    assert f'id="demo-stage">auditing the demo model (audit {audit.pk}): checks</span>' in page
    assert 'max="7" value="2"' in page



def test_status_shows_the_running_audits_own_stage():
    build = DemoBuild(status="running", stage="auditing the demo model (audit 4)", progress_done=0, progress_total=0)
    build.audit = Audit(pk=4, status="running", stage="checks", progress_done=2, progress_total=7)
    status = demo_builds.demo_build_status(build=build)
    assert status["stage"] == "auditing the demo model (audit 4): checks" and (status["done"], status["total"]) == (2, 7)
    build.audit.status = "done"
    assert demo_builds.demo_build_status(build=build)["stage"] == "auditing the demo model (audit 4)"


@pytest.mark.django_db
def test_demo_progress_is_only_your_organisations(fake_training, client, monkeypatch):
    monkeypatch.setattr(demo_builds, "job_enqueue", lambda **kw: None)
    demo_builds.demo_build_queue()
    outsider = make_user("olga", Organisation.objects.create(name="Elsewhere"))
    client.force_login(outsider)
    assert client.get(reverse("audits:demo_progress")).status_code == 404
    assert 'id="demo-build"' not in client.get(reverse("audits:home")).content.decode()
