"""The production settings: `manage.py check --deploy` is clean with the environment of
deploy/production.env.example, and the files that start the deployment name real commands."""
from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEPLOY = ROOT / "deploy"


def production_env(tmp_path: Path) -> dict[str, str]:
    """The example production environment, with a real secret and this test's folders."""
    env = {"PATH": os.environ["PATH"], "DJANGO_SETTINGS_MODULE": "auditplatform.settings"}
    for line in (DEPLOY / "production.env.example").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, _, value = line.partition("=")
            env[name] = value
    var = tmp_path / "var"
    env |= {"SECRET_KEY": secrets.token_urlsafe(50), "VAR_DIR": str(var), "MEDIA_ROOT": str(var / "media"),
            "STATIC_ROOT": str(var / "static"), "SIGNING_KEY_PATH": str(var / "key.pem"),
            "DATABASE_URL": f"sqlite:///{var / 'db.sqlite3'}"}
    return env


def _check_deploy(env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)


def test_check_deploy_is_clean_with_the_production_settings(tmp_path):
    env = production_env(tmp_path)
    clean = _check_deploy(env)
    assert clean.returncode == 0, clean.stdout + clean.stderr
    assert "System check identified no issues" in clean.stdout
    # The check is live: without the HTTPS settings it names what is missing.
    plain = _check_deploy({k: v for k, v in env.items() if not k.startswith("SECURE_")})
    assert plain.returncode != 0
    for warning in ("security.W004", "security.W008"):  # HSTS, SSL redirect (cookies are secure by default)
        assert warning in plain.stderr + plain.stdout


def test_the_procfile_and_units_start_the_documented_processes():
    procfile = dict(line.split(": ", 1) for line in (DEPLOY / "Procfile").read_text().splitlines()
                    if line and not line.startswith("#"))
    assert set(procfile) == {"web", "worker", "reconciler"}
    assert procfile["web"].startswith("gunicorn auditplatform.wsgi")
    assert procfile["worker"].startswith("celery -A auditplatform worker")
    assert procfile["reconciler"] == "python manage.py reconcile"
    units = {p.name: p.read_text() for p in (DEPLOY / "systemd").iterdir()}
    assert "gunicorn auditplatform.wsgi" in units["auditplatform-web.service"]
    assert "celery -A auditplatform worker" in units["auditplatform-worker@.service"]
    assert "manage.py reconcile" in units["auditplatform-reconciler.service"]
    assert "appendonly yes" in (DEPLOY / "redis.conf").read_text()
    requirements = (ROOT / "requirements.txt").read_text().splitlines()
    assert any(r.startswith("gunicorn==") for r in requirements)
    assert any(r.startswith("whitenoise==") for r in requirements)


SHOW_CELERY = """
import json, django
django.setup()
from django.conf import settings
from auditplatform.celery import app
print(json.dumps([settings.CELERY_BROKER_TRANSPORT_OPTIONS["visibility_timeout"], app.conf.task_time_limit,
                  app.tasks["audits.tasks.mitigation_run_task"].time_limit, app.conf.task_acks_late,
                  app.conf.task_reject_on_worker_lost]))
"""


def test_redis_gives_a_task_to_another_worker_only_after_the_longest_time_limit(tmp_path):
    out = subprocess.run([sys.executable, "-c", SHOW_CELERY], cwd=ROOT, env=production_env(tmp_path),
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    visibility, task_limit, run_limit, acks_late, reject_on_lost = json.loads(out.stdout.splitlines()[-1])
    assert visibility > max(task_limit, run_limit) and acks_late and reject_on_lost
