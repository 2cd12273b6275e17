"""A real Celery worker on Redis and PostgreSQL runs an audit to the end, its
explanation chunks as tasks of their own on two processes, joined in PostgreSQL.

Everything runs in subprocesses with the production settings path (DATABASE_URL,
CELERY_BROKER_URL); the test only plays the part of the web process and the browser.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.integration


CREATE_SCRIPT = """
import json, sys
from pathlib import Path
from django.core.files import File
from audits.models import Organisation
from audits.services.model_uploads import model_register_folder
from audits.services.datasets import dataset_upload, dataset_map
from audits.services.audits import audit_create
org = Organisation.objects.create(name="IT")
model = model_register_folder(organisation=org, user=None, name="tiny", folder=Path(sys.argv[1]))
with open(sys.argv[2], "rb") as fh:
    ds = dataset_upload(organisation=org, user=None, name="it.csv", uploaded_file=File(fh, name="it.csv"))
mapping = {"text_column": "text", "label_column": "label", "favorable_label": "False",
           "protected": {"gender": ["male"]}, "identity_terms": False}
ds = dataset_map(dataset=ds, mapping=mapping)
audit = audit_create(organisation=org, user=None, model=model, dataset=ds,
                     config={**mapping, "checks": ["group_fairness"], "seed": 0, "explain": 3})
print(json.dumps({"audit": audit.pk}))
"""

POLL_SCRIPT = """
import json, sys
from audits.models import Audit
a = Audit.objects.get(pk=int(sys.argv[1]))
print(json.dumps({"status": a.status, "stage": a.stage, "error": a.error,
                  "checks": [c["id"] for c in (a.report or {}).get("checks", [])],
                  "explained": sorted(e["row"] for e in ((a.report or {}).get("explanations") or {}).get("examples", [])),
                  "chunks": list(a.explain_chunks.values_list("status", flat=True))}))
"""


def _dataset(path: Path) -> Path:
    rng = np.random.default_rng(0)
    n = 120
    gender = rng.choice(["male", "female"], size=n)
    text = [f"my {g} friend is {'gay' if rng.random() < 0.3 else 'kind'}" for g in gender]
    pd.DataFrame({"text": text, "label": rng.random(n) < 0.3, "gender": gender}).to_csv(path, index=False)
    return path


def _python(env, script, *args) -> dict:
    out = subprocess.run(
        [sys.executable, "-c", "import django; django.setup()\n" + script, *args],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_worker_runs_audit_on_redis_and_postgres(pg_database, tiny_model_dir, tmp_path):
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "auditplatform.settings",
        "SECRET_KEY": "integration-test",
        "DATABASE_URL": pg_database,
        "CELERY_BROKER_URL": os.environ.get("INTEGRATION_BROKER_URL", "redis://127.0.0.1:6379/15"),
        "CELERY_TASK_ALWAYS_EAGER": "0",
        "VAR_DIR": str(tmp_path / "var"),
        "MEDIA_ROOT": str(tmp_path / "media"),
        "BOOTSTRAP_RESAMPLES": "200",
        # Three one-row chunks, cheap explainers: the join is under test, not the methods.
        "EXPLAIN_CHUNK_ROWS": "1", "EXPLAIN_LIME_SAMPLES": "100", "EXPLAIN_SHAP_EVALS": "60",
        "EXPLAIN_IG_STEPS": "8",
        "PYTHONPATH": str(ROOT),
    }
    subprocess.run([sys.executable, "manage.py", "migrate", "--noinput"], cwd=ROOT, env=env,
                   check=True, capture_output=True, timeout=300)
    queue = f"it-{uuid.uuid4().hex[:6]}"
    env["CELERY_TASK_DEFAULT_QUEUE"] = queue  # our own queue: no stray task from elsewhere
    worker = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "auditplatform", "worker", "--concurrency=2",
         "--pool=prefork", "-Q", queue, "--without-gossip", "--without-mingle", "--loglevel=INFO"],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    try:
        audit_id = _python(env, CREATE_SCRIPT, str(tiny_model_dir), str(_dataset(tmp_path / "it.csv")))["audit"]
        seen_stages, state = set(), {}
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline:
            state = _python(env, POLL_SCRIPT, str(audit_id))
            seen_stages.add(state["stage"])
            if state["status"] in {"done", "failed"}:
                break
            time.sleep(1)
        assert state["status"] == "done", state
        assert state["checks"] == ["group_fairness"]
        assert len(state["explained"]) == 3 and state["chunks"] == ["done"] * 3
    finally:
        worker.terminate()
        try:
            log, _ = worker.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            worker.kill()
            log, _ = worker.communicate()
    assert "audit_run_task" in log and "succeeded" in log, log[-3000:]
    assert log.count("explain_chunk_task") >= 3, log[-3000:]
