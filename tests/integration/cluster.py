"""The production layout for integration tests: deploy/Procfile's processes (gunicorn,
Celery workers, the reconciler) on a database and a Redis server of their own, driven
over HTTP as a client would, with faults injected by tests/integration/faults/.

The recovery settings are short here (a beat every 2 s, silent after 8 s, a reconciler
round every 2 s), so a killed worker's job runs again within about 10 s.
"""
from __future__ import annotations

import http.client
import io
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import uuid
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FAULTS = Path(__file__).resolve().parent / "faults"
RECOVERY = {"JOB_HEARTBEAT_SECONDS": "2", "JOB_STALE_SECONDS": "8", "RECONCILE_INTERVAL_SECONDS": "2",
            "JOB_QUEUED_GRACE_SECONDS": "3", "JOB_MAX_ATTEMPTS": "6", "BROKER_SEND_RETRIES": "2"}
# Each kill costs at most the stale window and a round; the rest is the work itself.
RECOVERY_BOUND_S = int(RECOVERY["JOB_STALE_SECONDS"]) + int(RECOVERY["RECONCILE_INTERVAL_SECONDS"])
MAPPING = {"text_column": "text", "label_column": "label", "favorable_label": "False",
           "protected": {"gender": ["male"]}, "identity_terms": False}
# Audits by seed (tests/integration/faults/sitecustomize.py): where a pool process pauses,
# and for how long, so that a test can kill it there or hold the stage open.
FAULT_PLAN = {101: {"predict": 600, "checks": 600, "explain": 600, "report": 600},  # child killed in each
              201: {"checks": 600},  # its whole worker killed
              301: {"checks": 12},  # the broker stopped meanwhile
              401: {"checks": 600}, 402: {"predict": 600}}  # the embedded default


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until(what: str, predicate, timeout: float, every: float = 0.5):
    """predicate()'s first truthy value within `timeout` seconds, else AssertionError."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout} s: {what}")
        time.sleep(every)


def app_env(*, var: Path, database_url: str, broker_url: str) -> dict[str, str]:
    """The environment every process of the deployment gets (deploy/production.env's
    names), with cheap audits, the short recovery settings and the fault hook."""
    plan = ",".join(f"{seed}:{stage}:{s}" for seed, stages in FAULT_PLAN.items() for stage, s in stages.items())
    (var / "faults").mkdir(parents=True, exist_ok=True)
    return {
        **os.environ, "DJANGO_SETTINGS_MODULE": "auditplatform.settings", "SECRET_KEY": secrets.token_urlsafe(50),
        "ALLOWED_HOSTS": "127.0.0.1,localhost", "DATABASE_URL": database_url, "CELERY_BROKER_URL": broker_url,
        "CELERY_TASK_ALWAYS_EAGER": "0", "VAR_DIR": str(var), "MEDIA_ROOT": str(var / "media"),
        "STATIC_ROOT": str(var / "static"), "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
        "PYTHONPATH": f"{ROOT}:{FAULTS}", "FAULT_DIR": str(var / "faults"), "FAULT_PLAN": plan,
        "TORCH_THREADS": "1", "BOOTSTRAP_RESAMPLES": "50", "EXPLAIN_CHUNK_ROWS": "1",
        "EXPLAIN_LIME_SAMPLES": "60", "EXPLAIN_SHAP_EVALS": "40", "EXPLAIN_IG_STEPS": "4", **RECOVERY,
    }


class Process:
    """A command in a process group of its own (as a process manager runs it), logged to a file."""

    def __init__(self, name: str, command: str, env: dict[str, str], log_dir: Path):
        self.name, self.log = name, log_dir / f"{name}-{uuid.uuid4().hex[:6]}.log"
        with open(self.log, "wb") as out:
            self.popen = subprocess.Popen(["bash", "-c", f"exec {command}"], cwd=ROOT, env=env, stdout=out,
                                          stderr=subprocess.STDOUT, start_new_session=True)

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def kill_group(self) -> None:
        """SIGKILL the process and its children: a crash, an OOM kill, a lost machine."""
        try:
            os.killpg(self.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.popen.wait(timeout=30)

    def stop(self, timeout: float = 20) -> None:
        if self.alive():
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                pass
        self.kill_group()

    def tail(self, chars: int = 3000) -> str:
        return self.log.read_text(errors="replace")[-chars:]


def procfile() -> dict[str, str]:
    lines = (ROOT / "deploy" / "Procfile").read_text().splitlines()
    return dict(line.split(": ", 1) for line in lines if line and not line.startswith("#"))


def parent_pid(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])


def running(pid: int) -> bool:
    """The process exists and is not a zombie waiting to be reaped."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def descendants(pid: int) -> set[int]:
    """Every live process below `pid` (from /proc)."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            child = int(stat.parent.name)
            children.setdefault(parent_pid(child), []).append(child)
        except (OSError, ValueError, IndexError):
            continue
    found, todo = set(), [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.add(child)
            todo.append(child)
    return found


def paused_pid(var: Path, audit_id: int, stage: str, timeout: float = 180) -> int:
    """The pid of the pool process paused at `stage` of the audit (the fault hook's file)."""
    marker = var / "faults" / f"{audit_id}-{stage}.pid"
    return wait_until(f"audit {audit_id} pauses at {stage}",
                      lambda: marker.exists() and marker.read_text().strip() and int(marker.read_text()), timeout)


def multipart(fields: dict[str, str], files: dict[str, tuple[str, bytes]]) -> tuple[bytes, str]:
    boundary = uuid.uuid4().hex
    parts = [f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode()
             for k, v in fields.items()]
    parts += [f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"; filename="{name}"\r\n'
              f"Content-Type: application/octet-stream\r\n\r\n".encode() + content + b"\r\n"
              for k, (name, content) in files.items()]
    return b"".join(parts) + f"--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


def model_zip(folder: Path) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for path in sorted(folder.iterdir()):
            archive.write(path, path.name)
    return buffer.getvalue()


def people_csv(rows: int = 60) -> bytes:
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(0)
    gender = rng.choice(["male", "female"], size=rows)
    text = [f"my {g} friend is {'gay' if rng.random() < 0.3 else 'kind'}" for g in gender]
    return pd.DataFrame({"text": text, "label": rng.random(rows) < 0.3, "gender": gender}).to_csv(index=False).encode()


class Api:
    """The REST API over HTTP with a token, as a CI client calls it. Behind the (absent)
    TLS proxy every request says it came over https, as the proxy would."""

    def __init__(self, port: int, token: str = ""):
        self.port, self.token = port, token

    def call(self, method: str, path: str, body: bytes = b"", headers: dict | None = None):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=120)
        sent = {"X-Forwarded-Proto": "https", **({"Authorization": f"Token {self.token}"} if self.token else {}),
                **(headers or {})}
        try:
            conn.request(method, path, body=body, headers=sent)
            response = conn.getresponse()
            return response.status, dict(response.getheaders()), response.read()
        finally:
            conn.close()

    def json(self, method: str, path: str, data: dict | None = None, headers: dict | None = None):
        body = json.dumps(data).encode() if data is not None else b""
        status, head, raw = self.call(method, path, body, {"Content-Type": "application/json", **(headers or {})})
        return status, (json.loads(raw) if raw and head.get("Content-Type", "").startswith("application/json")
                        else raw), head

    def upload(self, path: str, fields: dict[str, str], files: dict[str, tuple[str, bytes]]) -> dict:
        body, content_type = multipart(fields, files)
        status, _, raw = self.call("POST", path, body, {"Content-Type": content_type})
        assert status == 201, raw[-2000:]
        return json.loads(raw)

    def audit(self, *, model: int, dataset: int, seed: int, explain: int = 0, key: str = ""):
        headers = {"Idempotency-Key": key} if key else {}
        return self.json("POST", "/api/audits/", {"model": model, "dataset": dataset, "checks": ["group_fairness"],
                                                  "seed": seed, "explain": explain}, headers)

    def state(self, audit_id: int) -> dict:
        status, data, _ = self.json("GET", f"/api/audits/{audit_id}/")
        assert status == 200, data
        return data

    def wait_ended(self, audit_id: int, timeout: float) -> dict:
        return wait_until(f"audit {audit_id} done or failed",
                          lambda: (s := self.state(audit_id))["status"] in ("done", "failed") and s, timeout, every=1)


TOKEN_SCRIPT = """
import django; django.setup()
from audits.api.tokens import token_rotate
from audits.models import Membership, Organisation
from django.contrib.auth.models import User
user = User.objects.create_user(username="ci-bot")
Membership.objects.create(user=user, organisation=Organisation.objects.create(name="IT"), role="data_scientist")
print(token_rotate(user=user))
"""


def manage(env: dict[str, str], *args: str) -> str:
    out = subprocess.run([sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-3000:]
    return out.stdout


def deployment_prepare(env: dict[str, str], port: int, model_dir: Path) -> tuple[Api, int, int]:
    """A user's token, the tiny model and a mapped dataset, through the API on `port`."""
    api = Api(port, manage(env, "-c", TOKEN_SCRIPT).strip().splitlines()[-1])
    model = api.upload("/api/models/", {"name": "tiny"}, {"archive": ("tiny.zip", model_zip(model_dir))})["id"]
    dataset = api.upload("/api/datasets/", {"name": "people"}, {"file": ("people.csv", people_csv())})["id"]
    status, data, _ = api.json("POST", f"/api/datasets/{dataset}/mapping/", MAPPING)
    assert status == 200, data
    return api, model, dataset


class Redis:
    """A redis-server of the test's own on a free port, without persistence: a restart
    loses every message, the worst case the reconciler has to repair."""

    def __init__(self, folder: Path):
        self.port, self.folder, self.process = free_port(), folder, None
        folder.mkdir(parents=True, exist_ok=True)

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.process = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--dir", str(self.folder)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_until("redis answers", self._answers, 20, every=0.1)

    def _answers(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()  # SHUTDOWN NOSAVE, the hard way
            self.process.wait(timeout=20)


class Cluster:
    """deploy/Procfile's processes: web (gunicorn), two workers and the reconciler."""

    def __init__(self, *, folder: Path, database_url: str):
        self.folder, self.database_url = folder, database_url
        self.redis = Redis(folder / "redis")
        self.port = free_port()
        self.env: dict[str, str] = {}
        self.web: Process | None = None
        self.reconciler: Process | None = None
        self.workers: list[Process] = []
        self.others: list[Process] = []

    def start(self, *, model_dir: Path) -> None:
        self.redis.start()
        self.env = app_env(var=self.folder / "var", database_url=self.database_url, broker_url=self.redis.url)
        self.env |= {"BIND": f"127.0.0.1:{self.port}", "WEB_CONCURRENCY": "2", "SECURE_SSL_REDIRECT": "1",
                     "SECURE_PROXY_SSL_HEADER": "1", "SECURE_HSTS_SECONDS": "3600"}
        manage(self.env, "manage.py", "migrate", "--noinput")
        manage(self.env, "manage.py", "collectstatic", "--noinput")
        commands = procfile()
        self.web = Process("web", commands["web"], self.env, self.folder)
        self.reconciler = Process("reconciler", commands["reconciler"], self.env, self.folder)
        self.workers_ensure()
        wait_until("gunicorn answers", lambda: self._answers(), 120)
        self.api, self.model, self.dataset = deployment_prepare(self.env, self.port, model_dir)

    def _answers(self) -> bool:
        try:
            return Api(self.port).call("GET", "/api/")[0] < 500
        except OSError:
            return False

    def workers_ensure(self, count: int = 2) -> None:
        """Start workers (deploy/Procfile's command) until `count` are alive."""
        self.workers = [w for w in self.workers if w.alive()]
        while len(self.workers) < count:
            self.workers.append(Process("worker", procfile()["worker"], self.env, self.folder))

    def worker_of(self, pid: int) -> Process:
        """The worker whose pool runs the process `pid`."""
        return next(w for w in self.workers if w.pid in (pid, parent_pid(pid)))

    def sql(self, query: str, *params):
        import psycopg

        with psycopg.connect(self.database_url) as conn:
            return conn.execute(query, params).fetchall()

    def logs(self) -> str:
        return "\n".join(f"--- {p.name} {p.pid}\n{p.tail()}" for p in [self.web, self.reconciler, *self.workers]
                         if p is not None)

    def stop(self) -> None:
        for process in [*self.workers, self.reconciler, self.web, *self.others]:
            if process is not None:
                process.stop()
        self.redis.stop()
