"""The production layout runs: deploy/Procfile's gunicorn, two Celery workers and the
reconciler on PostgreSQL and Redis, used over HTTP as a release pipeline uses them
(README, "REST API and CI gate"), with static files from WhiteNoise and HTTPS enforced
behind a proxy."""
from __future__ import annotations

import pytest

pytestmark = pytest.mark.integration


def test_gunicorn_and_two_workers_run_an_audit_through_the_api(cluster):
    cluster.workers_ensure()
    api = cluster.api
    status, created, _ = api.audit(model=cluster.model, dataset=cluster.dataset, seed=0, explain=2)
    assert status == 201, created
    gate = api.call("GET", f"/api/audits/{created['id']}/gate/")
    assert gate[0] in (200, 409, 425)
    state = api.wait_ended(created["id"], timeout=240)
    assert state["status"] == "done", (state, cluster.logs())
    status, report, _ = api.json("GET", f"/api/audits/{created['id']}/report.json")
    assert status == 200 and [c["id"] for c in report["checks"]] == ["group_fairness"]
    assert len({e["row"] for e in report["explanations"]["examples"]}) == 2
    assert api.call("GET", f"/api/audits/{created['id']}/gate/")[0] in (200, 409)
    # Both chunks ran once each, on whichever worker took them.
    assert cluster.sql("SELECT status, attempts FROM audits_explainchunk WHERE audit_id = %s ORDER BY index",
                       created["id"]) == [("done", 1), ("done", 1)]


def test_static_files_and_https_behind_the_proxy(cluster):
    status, head, body = cluster.api.call("GET", "/static/audits/app.css")
    assert status == 200 and body and head.get("Cache-Control")  # WhiteNoise, DEBUG off
    assert "max-age=3600" in head.get("Strict-Transport-Security", "")
    plain = cluster.api.call("GET", "/api/", headers={"X-Forwarded-Proto": "http"})
    assert plain[0] == 301 and plain[1]["Location"].startswith("https://")
