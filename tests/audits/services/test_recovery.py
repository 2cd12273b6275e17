"""Recovery by the database (issue 13): claims, stages entered again after a kill, the
reconciler's re-queue / re-send / fail decisions, and sends that find the broker down.

Kills are played in-process: a stage that raises a BaseException (as a killed process
would simply stop) leaves the rows as a dead worker leaves them; the reconciler is then
run with a clock past the stale window. Celery is eager here, so what it re-sends runs
at once, as a worker would run it.
"""
from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone
from kombu.exceptions import OperationalError as BrokerError

import audits.services.explain_chunks as explain_chunks
import audits.services.reconcile as reconcile
from auditplatform.celery import app
from audits.errors import QueueUnavailable
from audits.models import Audit, ExplainChunk, MitigationRun, ModelArtifact
from audits.services.audits import audit_run
from audits.services.explain_chunks import explain_chunk_run
from audits.services.job_claims import job_claim, job_heartbeat
from audits.services.jobs import job_enqueue
from audits.services.reconcile import jobs_reconcile
from tests.audits.api.conftest import token_client
from tests.factories import people_audit, people_dataset


class Killed(BaseException):
    """What a SIGKILL looks like from inside: the code after it never runs."""


@pytest.fixture(autouse=True)
def cheap(settings):
    settings.EXPLAIN_LIME_SAMPLES, settings.EXPLAIN_SHAP_EVALS, settings.EXPLAIN_IG_STEPS = 60, 40, 4
    settings.EXPLAIN_CHUNK_ROWS = 1
    settings.JOB_STALE_SECONDS, settings.JOB_MAX_ATTEMPTS = 120, 3
    settings.JOB_QUEUED_GRACE_SECONDS = 60


@pytest.fixture
def dataset(org, user):
    return people_dataset(org, user, rows=40)


def _later(seconds: int = 3600):
    return timezone.now() + timedelta(seconds=seconds)


def _waiting_on_chunks(org, user, model, dataset, capture) -> Audit:
    """An audit whose checks are stored and whose two chunks were never sent."""
    with capture(execute=False):
        audit = audit_run(audit_id=people_audit(org, user, model, dataset, explain=2).pk, inline=False)
    assert audit.stage == "explain" and audit.explain_chunks.count() == 2
    return audit


def test_a_worker_killed_while_writing_the_report_is_finished_by_the_reconciler(
        org, user, model, dataset, monkeypatch, django_capture_on_commit_callbacks):
    audit = _waiting_on_chunks(org, user, model, dataset, django_capture_on_commit_callbacks)
    first, last = audit.explain_chunks.all()
    explain_chunk_run(chunk_id=first.pk)

    def killed(**kwargs):
        raise Killed()

    monkeypatch.setattr(explain_chunks, "audit_finish", killed)
    with pytest.raises(Killed):
        explain_chunk_run(chunk_id=last.pk)  # the last chunk moved the audit on, then died
    monkeypatch.undo()
    audit.refresh_from_db()
    assert (audit.status, audit.stage) == ("running", "report")
    results = dict(ExplainChunk.objects.filter(audit=audit).values_list("pk", "result"))
    explain_chunk_run(chunk_id=last.pk)  # the broker's redelivery: the chunk is done, nothing to do
    assert Audit.objects.get(pk=audit.pk).stage == "report"

    assert not jobs_reconcile()  # the report writer may still be alive: not before the stale window
    with django_capture_on_commit_callbacks(execute=True):
        assert jobs_reconcile(now=_later())["requeued"] == 1
    audit.refresh_from_db()
    assert (audit.status, audit.stage, audit.attempts) == ("done", "done", 2)
    assert sorted(e["row"] for e in audit.report["explanations"]["examples"]) == sorted(
        item["row"] for c in (first, last) for item in c.rows)
    # No chunk was explained or stored twice.
    assert dict(ExplainChunk.objects.filter(audit=audit).values_list("pk", "result")) == results
    assert not jobs_reconcile(now=_later())


def test_a_silent_chunk_is_run_again_and_a_lost_one_sent_again(
        org, user, model, dataset, monkeypatch, django_capture_on_commit_callbacks):
    audit = _waiting_on_chunks(org, user, model, dataset, django_capture_on_commit_callbacks)
    taken, lost = audit.explain_chunks.all()
    assert job_claim(job=ExplainChunk, job_id=taken.pk) == 1  # a worker took it, then died
    monkeypatch.setattr(reconcile, "queue_size", lambda name: 0)  # the broker lost the other
    with django_capture_on_commit_callbacks(execute=True):
        did = jobs_reconcile(now=_later())
    assert (did["requeued"], did["resent"]) == (1, 1)
    audit.refresh_from_db()
    assert audit.status == "done" and "failed_chunks" not in audit.report["explanations"]
    assert list(ExplainChunk.objects.filter(audit=audit).values_list("status", "attempts")) == [
        ("done", 2), ("done", 1)]


def test_a_chunk_that_keeps_dying_is_failed_and_the_audit_still_reports(
        org, user, model, dataset, settings, django_capture_on_commit_callbacks):
    settings.JOB_MAX_ATTEMPTS = 1
    audit = _waiting_on_chunks(org, user, model, dataset, django_capture_on_commit_callbacks)
    dying, fine = audit.explain_chunks.all()
    explain_chunk_run(chunk_id=fine.pk)
    job_claim(job=ExplainChunk, job_id=dying.pk)
    with django_capture_on_commit_callbacks(execute=True):
        jobs_reconcile(now=_later())
    audit.refresh_from_db()
    assert audit.status == "done", audit.error
    failed = audit.report["explanations"]["failed_chunks"]
    assert len(failed) == 1 and "Stopped after 1 attempts" in failed[0]


@pytest.mark.parametrize("case", ["attempts spent", "past its time limit", "never taken"])
def test_jobs_the_reconciler_fails_with_a_reason(org, user, model, dataset, settings, case):
    audit = people_audit(org, user, model, dataset)
    now = timezone.now()
    if case == "attempts spent":
        Audit.objects.filter(pk=audit.pk).update(status="running", stage="checks", attempts=3, heartbeat_at=now)
        expected = "Stopped after 3 attempts: its worker stopped at stage 'checks'"
        at = _later(settings.JOB_STALE_SECONDS + 1)
    elif case == "past its time limit":
        Audit.objects.filter(pk=audit.pk).update(status="running", stage="predict", attempts=1,
                                                 started_at=now - timedelta(days=1), heartbeat_at=now)
        expected, at = f"ran past its time limit of {settings.CELERY_TASK_TIME_LIMIT} s", now
    else:
        Audit.objects.filter(pk=audit.pk).update(created_at=now - timedelta(days=2))
        expected, at = "No worker took it within 24 hours: is a worker serving the queue 'celery'?", now
    assert jobs_reconcile(now=at)["failed"] == 1
    audit.refresh_from_db()
    assert audit.status == "failed" and expected in audit.error and audit.finished_at


def test_a_queued_audit_the_broker_lost_is_sent_again_only_when_its_queue_runs_short(
        org, user, model, dataset, monkeypatch, django_capture_on_commit_callbacks):
    audit = people_audit(org, user, model, dataset)  # stored, never sent
    monkeypatch.setattr(reconcile, "queue_size", lambda name: 1)  # a message waits for it
    assert not jobs_reconcile(now=_later())
    monkeypatch.setattr(reconcile, "queue_size", lambda name: 0)
    assert not jobs_reconcile()  # within the grace after it was queued: its message may be on the way
    monkeypatch.setattr(reconcile, "queue_size", lambda name: None)  # broker down: nothing to send with
    assert not jobs_reconcile(now=_later())
    monkeypatch.setattr(reconcile, "queue_size", lambda name: 0)
    with django_capture_on_commit_callbacks(execute=True):
        assert jobs_reconcile(now=_later())["resent"] == 1
    audit.refresh_from_db()
    assert audit.status == "done" and audit.attempts == 1


def test_a_dead_debiasing_run_is_failed_and_what_it_stored_removed(org, user, model, dataset, settings):
    audit = people_audit(org, user, model, dataset)
    run = MitigationRun.objects.create(organisation=org, audit=audit, method="threshold", attribute="gender",
                                       status="running", stage="register", attempts=3,
                                       heartbeat_at=timezone.now())
    leftover = ModelArtifact.objects.create(
        organisation=org, name="half-made", storage_prefix="models/half-made", sha256="c" * 64,
        architecture="BertForSequenceClassification", num_parameters=1, provenance={"mitigation_run": run.pk})
    assert jobs_reconcile(now=_later())["failed"] == 1
    run.refresh_from_db()
    assert run.status == "failed" and "stage 'register'" in run.error
    assert not ModelArtifact.objects.filter(pk=leftover.pk).exists() and ModelArtifact.objects.filter(pk=model.pk)


def test_a_claimed_job_is_not_taken_twice(org, user, model, dataset):
    audit = people_audit(org, user, model, dataset)
    assert job_claim(job=Audit, job_id=audit.pk) == 1
    assert job_claim(job=Audit, job_id=audit.pk) is None
    assert audit_run(audit_id=audit.pk).status == "running"  # a duplicate delivery does nothing


@pytest.mark.django_db(transaction=True)
def test_the_heartbeat_thread_stamps_its_attempt_only(org, user, model, dataset, settings):
    import time

    settings.JOB_HEARTBEAT_SECONDS = 0.2
    audit = people_audit(org, user, model, dataset)
    attempt = job_claim(job=Audit, job_id=audit.pk)
    start = Audit.objects.get(pk=audit.pk).heartbeat_at
    with job_heartbeat(job=Audit, job_id=audit.pk, attempt=attempt):
        time.sleep(1.0)
        beat = Audit.objects.get(pk=audit.pk).heartbeat_at
    assert beat > start
    with job_heartbeat(job=Audit, job_id=audit.pk, attempt=attempt + 1):  # another attempt's beat
        time.sleep(0.6)
    assert Audit.objects.get(pk=audit.pk).heartbeat_at == beat


def _broker_down(monkeypatch):
    def refuse(*args, **kwargs):
        raise BrokerError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")

    monkeypatch.setattr(app.tasks["audits.tasks.audit_run_task"], "apply_async", refuse)


def test_a_send_that_finds_the_broker_down_leaves_the_job_queued(org, user, model, dataset, monkeypatch,
                                                                 django_capture_on_commit_callbacks):
    _broker_down(monkeypatch)
    audit = people_audit(org, user, model, dataset)
    with django_capture_on_commit_callbacks(execute=True):
        job_enqueue(task="audit_run_task", ids=[audit.pk])  # a worker's send: logged, left to the reconciler
    with pytest.raises(QueueUnavailable) as raised, django_capture_on_commit_callbacks(execute=True):
        job_enqueue(task="audit_run_task", ids=[audit.pk], required=True)
    assert raised.value.job_ids == [audit.pk]
    assert Audit.objects.get(pk=audit.pk).status == "queued"


@pytest.mark.django_db(transaction=True)  # real commits: the send runs inside the request
def test_the_api_answers_503_keeps_the_audit_queued_and_a_retry_makes_no_duplicate(
        org, user, model, dataset, monkeypatch):
    api = token_client(user)
    _broker_down(monkeypatch)
    body = {"model": model.pk, "dataset": dataset.pk, "checks": ["group_fairness"]}
    down = api.post(reverse("api:audit-list"), body, format="json", HTTP_IDEMPOTENCY_KEY="release-42")
    assert down.status_code == 503, down.content
    assert down.json()["status"] == "queued" and down["Retry-After"] and down["Location"].endswith(
        f"/{down.json()['id']}/")
    monkeypatch.undo()
    again = api.post(reverse("api:audit-list"), body, format="json", HTTP_IDEMPOTENCY_KEY="release-42")
    assert again.status_code == 200 and again.json()["id"] == down.json()["id"]
    assert Audit.objects.filter(created_by=user).count() == 1
    assert Audit.objects.get(pk=down.json()["id"]).status == "queued"  # the reconciler's to send
    other = api.post(reverse("api:audit-list"), {**body, "dataset": people_dataset(org, user, rows=40).pk},
                     format="json", HTTP_IDEMPOTENCY_KEY="release-42")
    assert other.status_code == 400 and "already used" in other.json()["detail"]


@pytest.mark.django_db(transaction=True)
def test_the_web_form_keeps_an_audit_queued_when_the_broker_is_down(client_in, user, model, dataset, monkeypatch):
    _broker_down(monkeypatch)
    response = client_in.post(reverse("audits:audit_new"), {
        "model": model.pk, "dataset": dataset.pk, "checks": ["group_fairness"], "seed": 0})
    audit = Audit.objects.get(created_by=user)
    assert response.status_code == 302 and response["Location"].endswith(f"/{audit.pk}/")
    assert audit.status == "queued"  # shown as queued; the reconciler sends it once the broker is back
