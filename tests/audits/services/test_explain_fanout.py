"""Explanation chunks fanned out as Celery tasks and joined through the database."""
from __future__ import annotations

import pytest

import explain.run
from audits.models import Audit, ExplainChunk
from audits.services.audits import audit_run
from audits.services.explain_chunks import _chunk_store
from audits.services.job_claims import job_claim
from tests.factories import people_audit, people_dataset


@pytest.fixture(autouse=True)
def cheap_explanations(settings):
    settings.EXPLAIN_LIME_SAMPLES = 100
    settings.EXPLAIN_SHAP_EVALS = 60
    settings.EXPLAIN_IG_STEPS = 8
    settings.EXPLAIN_CHUNK_ROWS = 2


@pytest.fixture
def dataset(org, user):
    return people_dataset(org, user, rows=40)


def _without_timings(section: dict) -> dict:
    return {k: v for k, v in section.items() if k not in {"timings", "engine"}}


def test_fanned_out_chunks_join_into_the_same_report_as_inline(org, user, model, dataset,
                                                              django_capture_on_commit_callbacks):
    inline = audit_run(audit_id=people_audit(org, user, model, dataset, explain=5).pk, inline=True)
    queued = people_audit(org, user, model, dataset, explain=5)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        audit = audit_run(audit_id=queued.pk, inline=False)
    # The checks are done; the audit waits on its three chunks, which are not run yet.
    assert audit.status == Audit.Status.RUNNING and audit.stage == "explain"
    assert list(ExplainChunk.objects.filter(audit=audit).values_list("status", flat=True)) == ["queued"] * 3
    assert len(callbacks) == 1
    callbacks[0]()  # eager Celery: each chunk task runs here, the last writes the report
    audit.refresh_from_db()
    assert audit.status == Audit.Status.DONE and audit.stage == "done"
    assert audit.progress_done == audit.progress_total == 5
    assert _without_timings(audit.report["explanations"]) == _without_timings(inline.report["explanations"])
    assert audit.report["checks"] == inline.report["checks"]


def test_exactly_one_chunk_finishes_the_audit(org, user, model, dataset, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False):
        audit = audit_run(audit_id=people_audit(org, user, model, dataset, explain=4).pk, inline=False)
    first, second = ExplainChunk.objects.filter(audit=audit)
    attempts = [job_claim(job=ExplainChunk, job_id=c.pk) for c in (first, second)]
    assert attempts == [1, 1]
    assert _chunk_store(chunk=first, status="done", result={}, error="", attempt=1) is False
    assert _chunk_store(chunk=second, status="done", result={}, error="", attempt=1) is True
    # A late duplicate (a redelivered task) neither overwrites nor finishes again.
    assert _chunk_store(chunk=second, status="failed", result=None, error="late", attempt=1) is False
    second.refresh_from_db()
    assert second.status == "done" and second.error == ""
    assert Audit.objects.get(pk=audit.pk).stage == "report"
    # Nor can a duplicate delivery take a chunk that is done.
    assert job_claim(job=ExplainChunk, job_id=second.pk) is None


def test_a_failed_chunk_is_named_and_the_rest_are_reported(org, user, model, dataset, monkeypatch):
    real, calls = explain.run.explain_chunk, []

    def first_chunk_breaks(loaded, *, rows, **kwargs):
        calls.append(list(rows))
        if len(calls) == 1:
            raise RuntimeError("chunk broke")
        return real(loaded, rows=rows, **kwargs)

    monkeypatch.setattr(explain.run, "explain_chunk", first_chunk_breaks)
    audit = audit_run(audit_id=people_audit(org, user, model, dataset, explain=4).pk, inline=True)
    section = audit.report["explanations"]
    assert audit.status == Audit.Status.DONE and len(calls) == 2
    assert sorted(e["row"] for e in section["examples"]) == sorted(calls[1])
    assert section["failed_chunks"] == [f"rows {', '.join(map(str, calls[0]))}: RuntimeError: chunk broke"]
