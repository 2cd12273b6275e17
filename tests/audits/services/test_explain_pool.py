"""Explanation chunks of an in-process audit in forked processes (audits.services.explain_pool):
the same explanations as one process, each chunk stored once, the report written once."""
from __future__ import annotations

import os

import numpy as np
import pytest

from audits.models import Audit, ExplainChunk
from audits.services.audits import audit_run
from tests.factories import people_audit, people_dataset


@pytest.fixture(autouse=True)
def cheap_explanations(settings):
    settings.EXPLAIN_LIME_SAMPLES = 120
    settings.EXPLAIN_SHAP_EVALS = 80
    settings.EXPLAIN_IG_STEPS = 8
    settings.EXPLAIN_CHUNK_ROWS = 1  # 4 rows: 4 chunks


def _explained(org, user, model, dataset, processes: int, settings, pids_file=None, monkeypatch=None):
    import explain.run

    settings.EXPLAIN_PROCESSES = processes
    if pids_file is not None:
        original = explain.run.explain_chunk

        def recorded(*args, **kwargs):
            with open(pids_file, "a") as fh:  # a file: the children's memory is their own
                fh.write(f"{os.getpid()}\n")
            return original(*args, **kwargs)

        monkeypatch.setattr(explain.run, "explain_chunk", recorded)
    audit = audit_run(audit_id=people_audit(org, user, model, dataset, explain=4).pk, inline=True)
    assert audit.status == Audit.Status.DONE and audit.stage == "done", audit.error
    assert sorted(ExplainChunk.objects.filter(audit=audit).values_list("status", flat=True)) == ["done"] * 4
    return audit.report["explanations"]


@pytest.mark.django_db(transaction=True)
def test_chunks_in_two_processes_equal_one_process(org, user, model, settings, tmp_path, monkeypatch):
    dataset = people_dataset(org, user, rows=40)
    pids = tmp_path / "pids"
    forked = _explained(org, user, model, dataset, 2, settings, pids, monkeypatch)
    ran_in = {int(line) for line in pids.read_text().split()}
    assert os.getpid() not in ran_in and len(ran_in) in (1, 2)  # children did the work
    alone = _explained(org, user, model, dataset, 1, settings)
    assert [e["row"] for e in forked["examples"]] == [e["row"] for e in alone["examples"]]
    for a, b in zip(forked["examples"], alone["examples"], strict=True):
        for method in forked["methods"]:
            # One thread against two rounds floats differently (~1e-7), nothing more.
            np.testing.assert_allclose(a["methods"][method]["word_scores"], b["methods"][method]["word_scores"],
                                       atol=1e-4)
    assert forked["faithfulness"].keys() == alone["faithfulness"].keys()


def test_inside_a_transaction_the_chunks_run_here(org, user, model, settings, tmp_path, monkeypatch):
    dataset = people_dataset(org, user, rows=40)
    pids = tmp_path / "pids"
    _explained(org, user, model, dataset, 2, settings, pids, monkeypatch)
    assert {int(line) for line in pids.read_text().split()} == {os.getpid()}
