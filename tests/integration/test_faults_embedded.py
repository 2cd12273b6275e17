"""Faults on the embedded default: `manage.py serve` (runserver, its supervised worker and
the reconciler's thread) on SQLite and Celery's filesystem broker, which loses a task for
good when the worker that took it dies. A pool process killed in a stage, then the whole
worker killed: serve starts the worker again and the reconciler repairs both audits.
When serve stops, no process of its worker is left."""
from __future__ import annotations

import os
import signal
import sqlite3

import pytest

from tests.integration.cluster import (
    RECOVERY_BOUND_S,
    Process,
    app_env,
    deployment_prepare,
    descendants,
    free_port,
    manage,
    parent_pid,
    paused_pid,
    running,
    wait_until,
)

pytestmark = pytest.mark.integration
WORK_S = 150


@pytest.fixture
def served(tmp_path, tiny_model_dir):
    var = tmp_path / "var"
    env = app_env(var=var, database_url=f"sqlite:///{var / 'db.sqlite3'}", broker_url="filesystem://")
    manage(env, "manage.py", "migrate", "--noinput")
    port = free_port()
    serve = Process("serve", f"python manage.py serve 127.0.0.1:{port}", env, tmp_path)
    try:
        wait_until("serve answers", lambda: _answers(port), 120)
        api, model, dataset = deployment_prepare(env, port, tiny_model_dir)
        yield serve, api, model, dataset, var
    finally:
        serve.stop()


def _answers(port: int) -> bool:
    from tests.integration.cluster import Api

    try:
        return Api(port).call("GET", "/api/")[0] < 500
    except OSError:
        return False


def _chunks(var, audit_id: int) -> list[tuple[str, int]]:
    with sqlite3.connect(var / "db.sqlite3", timeout=30) as conn:
        return conn.execute("SELECT status, attempts FROM audits_explainchunk WHERE audit_id = ?",
                            (audit_id,)).fetchall()


def test_serve_recovers_killed_workers_on_sqlite_and_the_filesystem_broker(served):
    serve, api, model, dataset, var = served
    status, child_killed, _ = api.audit(model=model, dataset=dataset, seed=401, explain=1)
    assert status == 201, child_killed
    pool = paused_pid(var, child_killed["id"], "checks", timeout=WORK_S)
    worker = parent_pid(pool)
    os.kill(pool, signal.SIGKILL)  # the task's message is already gone from the filesystem queue
    state = api.wait_ended(child_killed["id"], WORK_S + RECOVERY_BOUND_S)
    assert state["status"] == "done", (state, serve.tail())
    assert [s for s, _ in _chunks(var, child_killed["id"])] == ["done"]

    status, worker_killed, _ = api.audit(model=model, dataset=dataset, seed=402)
    pool = paused_pid(var, worker_killed["id"], "predict", timeout=WORK_S)
    assert parent_pid(pool) == worker
    os.killpg(worker, signal.SIGKILL)  # the worker's main process and its pool
    state = api.wait_ended(worker_killed["id"], WORK_S + RECOVERY_BOUND_S)
    assert state["status"] == "done", (state, serve.tail())
    assert "worker exited" in serve.tail(20000)

    workers = descendants(serve.pid)
    assert workers and worker not in workers  # a new worker, started by serve
    serve.popen.send_signal(signal.SIGTERM)
    serve.popen.wait(timeout=30)
    wait_until("serve's worker stopped with it", lambda: not any(running(p) for p in workers), 15)
