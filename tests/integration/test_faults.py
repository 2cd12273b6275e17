"""Faults on the production layout (PostgreSQL, a Redis of the test's own, deploy/Procfile's
processes): a worker's pool process killed in each stage, whole workers killed while Redis
restarts without persistence, the broker stopped while audits are created and while a
worker sends explanation chunks. Every audit must end done, within the reconciler's bound
(tests/integration/cluster.py's short settings), each chunk stored once.

Pool processes pause where a test kills them (tests/integration/faults/, by audit seed)."""
from __future__ import annotations

import os
import signal

import pytest

from tests.integration.cluster import RECOVERY_BOUND_S, paused_pid, wait_until

pytestmark = pytest.mark.integration
WORK_S = 150  # an audit's own work on a loaded 2-core machine, its workers' start included


def _created(cluster, *, seed: int, explain: int = 0) -> int:
    status, data, _ = cluster.api.audit(model=cluster.model, dataset=cluster.dataset, seed=seed, explain=explain)
    assert status == 201, data
    return data["id"]


def _assert_done_once(cluster, audit_id: int, *, timeout: float, explained: int = 0) -> dict:
    state = cluster.api.wait_ended(audit_id, timeout)
    assert state["status"] == "done", (state, cluster.logs())
    chunks = cluster.sql("SELECT status FROM audits_explainchunk WHERE audit_id = %s", audit_id)
    assert [s for (s,) in chunks] == ["done"] * explained
    if explained:
        status, report, _ = cluster.api.json("GET", f"/api/audits/{audit_id}/report.json")
        rows = [e["row"] for e in report["explanations"]["examples"]]
        assert status == 200 and len(rows) == len(set(rows)) == explained
        assert "failed_chunks" not in report["explanations"]
    return state


def test_a_pool_process_killed_in_each_stage(cluster):
    """predict, checks (the audit's task), explain (a chunk's task), report (written by the
    last chunk's process): each kill is repaired by the reconciler."""
    cluster.workers_ensure()
    audit_id = _created(cluster, seed=101, explain=2)
    for stage in ("predict", "checks", "explain", "report"):
        pid = paused_pid(cluster.folder / "var", audit_id, stage, timeout=WORK_S + RECOVERY_BOUND_S)
        os.kill(pid, signal.SIGKILL)
    _assert_done_once(cluster, audit_id, timeout=WORK_S + 4 * RECOVERY_BOUND_S, explained=2)
    (attempts,) = cluster.sql("SELECT attempts FROM audits_audit WHERE id = %s", audit_id)[0]
    assert attempts >= 4  # killed in predict, in checks; planned the chunks; wrote the report


def test_workers_killed_and_redis_restarted_without_persistence(cluster):
    """A running audit loses its worker (main process and pool), a queued one its message:
    both run to the end once workers are back."""
    cluster.workers_ensure()
    running = _created(cluster, seed=201)
    pid = paused_pid(cluster.folder / "var", running, "checks", timeout=WORK_S)
    for worker in cluster.workers:
        worker.kill_group()
    queued = _created(cluster, seed=202)
    cluster.redis.stop()
    cluster.redis.start()  # empty: the queued audit's message and the unacknowledged one are gone
    cluster.workers_ensure()
    for audit_id in (running, queued):
        _assert_done_once(cluster, audit_id, timeout=WORK_S + 2 * RECOVERY_BOUND_S)
    assert pid not in {w.pid for w in cluster.workers}


def test_the_broker_stopped_while_audits_are_created_and_chunks_sent(cluster):
    """The API answers 503 and keeps the audit queued; a client's retry with the same
    Idempotency-Key gets that audit; a worker's chunks, sent while the broker is down, wait
    queued in the database. The reconciler sends all of them once Redis is back."""
    cluster.workers_ensure()
    api = cluster.api
    sending = _created(cluster, seed=301, explain=1)  # pauses in checks for 12 s
    paused_pid(cluster.folder / "var", sending, "checks", timeout=WORK_S)
    cluster.redis.stop()
    status, refused, head = api.audit(model=cluster.model, dataset=cluster.dataset, seed=302, key="release-42")
    assert status == 503 and refused["status"] == "queued" and head["Retry-After"], refused
    status, again, _ = api.audit(model=cluster.model, dataset=cluster.dataset, seed=302, key="release-42")
    assert status == 200 and again["id"] == refused["id"] and again["status"] == "queued"
    wait_until("the worker planned its chunk with the broker down",
               lambda: api.state(sending)["stage"] == "explain", timeout=WORK_S)
    cluster.redis.start()
    _assert_done_once(cluster, sending, timeout=WORK_S + 2 * RECOVERY_BOUND_S, explained=1)
    _assert_done_once(cluster, refused["id"], timeout=WORK_S + 2 * RECOVERY_BOUND_S)
    assert cluster.sql("SELECT count(*) FROM audits_audit WHERE request_key = %s", "release-42") == [(1,)]
