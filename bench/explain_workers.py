"""Does a second worker shorten the explanation stage? (The production layout, measured.)

    python bench/explain_workers.py [--rows 1000] [--explain 20]

Starts deploy/Procfile's processes (tests/integration/cluster.py: gunicorn, Celery workers,
the reconciler) on a fresh PostgreSQL database and a Redis server of its own (PostgreSQL
and Redis must run on 127.0.0.1, as for the integration tests), uploads the demo model and
`--rows` madlib comments (bench/madlib.py) through the REST API, and runs the same audit
(group fairness, `--explain` rows in chunks of EXPLAIN_CHUNK_ROWS, the default budgets and
stand-in gate) under three layouts:

- one worker pinned to one torch thread (one core; it forks no children),
- two such workers (a core each): the chunks' Celery tasks spread over both,
- one worker with both threads (its chunks' rows in two forked children: the default).

It prints each layout's explanation stage: wall seconds from the first chunk running to
the last one ended (the database polled every 0.2 s), and the ratio against the first.
This machine has two cores, so "a second worker" here is a second core's worth of
worker; on more machines each worker brings its own.
"""
from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import common  # noqa: F401  # isort: skip - sets up Django and puts the repository on sys.path
import pandas as pd
from madlib import bench_model, madlib_comments

from tests.integration import cluster as layout  # the integration tests' production layout
from tests.integration.conftest import pg_create, pg_drop

# The integration tests' environment makes audits cheap; the bench wants the defaults.
CHEAP = ("EXPLAIN_LIME_SAMPLES", "EXPLAIN_SHAP_EVALS", "EXPLAIN_IG_STEPS", "EXPLAIN_CHUNK_ROWS",
         "BOOTSTRAP_RESAMPLES", "TORCH_THREADS")


def bench_env(**kwargs) -> dict[str, str]:
    env = test_env(**kwargs)
    for name in CHEAP:
        env.pop(name, None)
    return env | {"TORCH_THREADS": "1"}


test_env, layout.app_env = layout.app_env, bench_env


def comments_csv(rows: int) -> bytes:
    frame = pd.DataFrame(madlib_comments(rows, seed=5)).rename(columns={"comment": "text", "toxic": "label"})
    frame["gender"] = ["male" if i % 2 else "female" for i in range(len(frame))]
    return frame.to_csv(index=False).encode()


def chunk_states(cluster: layout.Cluster, audit_id: int) -> list[str]:
    return [row[0] for row in cluster.sql("SELECT status FROM audits_explainchunk WHERE audit_id = %s", audit_id)]


def explain_stage(cluster: layout.Cluster, model: int, dataset: int, explain: int, seed: int) -> tuple[float, int]:
    """(wall seconds of the audit's explanation stage, its chunks)."""
    status, data, _ = cluster.api.json("POST", "/api/audits/", {
        "model": model, "dataset": dataset, "checks": ["group_fairness"], "seed": seed, "explain": explain})
    assert status in (201, 202), data
    audit_id = data["id"]
    started = None
    while True:
        states = chunk_states(cluster, audit_id)
        if started is None and any(s != "queued" for s in states):
            started = time.perf_counter()
        if states and all(s in ("done", "failed") for s in states):
            ended = time.perf_counter()
            break
        if cluster.api.state(audit_id)["status"] == "failed":
            raise SystemExit(f"audit {audit_id} failed:\n{cluster.logs()}")
        time.sleep(0.2)
    final = cluster.api.wait_ended(audit_id, 600)
    assert final["status"] == "done" and "failed" not in states, (final, states)
    return ended - started, len(states)


def workers(cluster: layout.Cluster, count: int, threads: int) -> None:
    """Exactly `count` workers, each with `threads` torch threads."""
    for worker in cluster.workers:
        worker.stop()
    cluster.workers = []
    cluster.env["TORCH_THREADS"] = str(threads)
    cluster.workers_ensure(count)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1000)
    parser.add_argument("--explain", type=int, default=20)
    args = parser.parse_args()
    folder, what = bench_model(60)
    url = pg_create()
    cluster = layout.Cluster(folder=Path(tempfile.mkdtemp(prefix="bench-workers-")), database_url=url)
    try:
        cluster.start(model_dir=folder)
        model = cluster.api.upload("/api/models/", {"name": "demo"},
                                   {"archive": ("demo.zip", layout.model_zip(folder))})["id"]
        dataset = cluster.api.upload("/api/datasets/", {"name": "madlib"},
                                     {"file": ("madlib.csv", comments_csv(args.rows))})["id"]
        status, data, _ = cluster.api.json("POST", f"/api/datasets/{dataset}/mapping/", layout.MAPPING)
        assert status == 200, data
        print(f"model: {what}; {args.rows} madlib comments, {args.explain} explained rows", flush=True)
        first = None
        for count, threads in [(1, 1), (2, 1), (1, 2)]:
            workers(cluster, count, threads)
            # The same seed each time: the same rows explained (nothing of an explanation is cached).
            seconds, chunks = explain_stage(cluster, model, dataset, args.explain, seed=11)
            first = first or seconds
            print(f"{count} worker(s) x {threads} thread(s): explanation stage {seconds:.1f} s wall, "
                  f"{chunks} chunks, {first / seconds:.2f}x the first", flush=True)
    finally:
        cluster.stop()
        pg_drop(url)


if __name__ == "__main__":
    main()
