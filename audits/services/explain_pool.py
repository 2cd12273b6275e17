"""An audit's explanation chunks run here (the CLI, the demo's in-process audits) in
EXPLAIN_PROCESSES forked processes, with the torch threads split between them.

On two cores, two processes of one thread each explained 8 rows in 36 s where one
process of two threads took 42 s (bench/audit_10k.py; the explainers' Python work and
the small per-layer operations do not use the second thread). A chunk's result does not
depend on where it ran (explain.run), and the chunks store and finish exactly as Celery
tasks do (audits.services.explain_chunks), each child on its own database connection.

Not where the caller holds an open transaction (a child could not see its rows: tests),
not inside a Celery pool process (it may not have children), and not where fork is
missing (macOS, Windows): there the chunks run one after another, here.
"""
from __future__ import annotations

import multiprocessing
import sys

from django.db import connection, connections


def chunks_run_here(chunk_ids: list[int], run) -> list:
    """`run(chunk_id=...)` for every chunk, in forked processes when allowed, else in turn;
    what each returned, in no particular order."""
    from django.conf import settings

    processes = min(int(settings.EXPLAIN_PROCESSES), len(chunk_ids))
    if processes <= 1 or connection.in_atomic_block or sys.platform != "linux" or _daemonic():
        return [run(chunk_id=chunk_id) for chunk_id in chunk_ids]
    import torch

    threads = max(1, (settings.TORCH_THREADS or torch.get_num_threads()) // processes)
    # Children must not share the parent's database sockets: each opens its own.
    connections.close_all()
    context = multiprocessing.get_context("fork")
    with context.Pool(processes, initializer=_child_start, initargs=(threads,)) as pool:
        # Ordered results are not needed; each chunk stores its own. A child's exception
        # (a lost database) is raised here, and the audit fails as it would in one process.
        return list(pool.imap_unordered(_ChildRun(run), chunk_ids, chunksize=1))


def _daemonic() -> bool:
    """A Celery pool process (billiard marks it daemonic) may not start processes of its
    own; its worker's concurrency is what runs chunks side by side there."""
    try:
        import billiard.process
    except ImportError:  # pragma: no cover - billiard comes with celery
        return multiprocessing.current_process().daemon
    return bool(multiprocessing.current_process().daemon or billiard.process.current_process().daemon)


def _child_start(threads: int) -> None:
    import torch
    from django.conf import settings

    settings.TORCH_THREADS = threads  # runtime.set_threads would put the parent's count back
    torch.set_num_threads(threads)


class _ChildRun:
    """Picklable for the pool (the function travels by its module path)."""

    def __init__(self, run) -> None:
        self.run = run

    def __call__(self, chunk_id: int):
        try:
            return self.run(chunk_id=chunk_id)
        finally:
            connections.close_all()
