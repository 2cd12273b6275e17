"""One chunk's rows in several forked processes, one torch thread each (on two cores).

Two single-threaded processes beat one process with two threads on the explanation stage
(shap's and lime's Python runs between forwards, and small batches scale poorly across
threads): bench/audit_10k.py measures it. The work is pure (token ids in, a JSON-safe dict
out), so the children need nothing but the memory they were forked with: they touch no
database and no file, send their result back through a pipe, and leave with os._exit (no
atexit handler of the parent runs twice). A child that fails raises in the parent with its
traceback; one that dies (killed, out of memory) raises with its exit status.
"""
from __future__ import annotations

import ctypes
import os
import pickle
import select
import signal
import sys
import traceback
from collections.abc import Callable, Sequence
from typing import TypeVar

T = TypeVar("T")
PR_SET_PDEATHSIG = 1  # linux/prctl.h


def longest_first(sizes: Sequence[int]) -> list[list[int]]:
    """Positions 0..n-1 as one-position parts, the largest first: handed to `at_once`
    processes in that order, the processes finish close together whatever each row turns
    out to cost (adaptive budgets make that unpredictable; two fixed halves of a chunk kept
    only 1.5-1.8 of 2 cores busy)."""
    return [[i] for i in sorted(range(len(sizes)), key=lambda i: (-sizes[i], i))]


def in_processes(work: Callable[[list[int]], T], parts: list[list[int]], at_once: int) -> list[T]:
    """[work(part) for part in parts], each part in a forked child, `at_once` of them at a
    time (the next starts when one ends); this process only waits. So its heap never holds
    an explanation's working memory: the children's goes back to the system when they exit
    (in a 10,000-text audit the worker otherwise kept ~900 MB of fragmented heap from its
    own share into the report)."""
    results: list = [None] * len(parts)
    running: dict[int, tuple[int, int, bytearray]] = {}  # read end -> (part index, pid, bytes so far)
    waiting = list(range(len(parts)))
    try:
        while waiting or running:
            while waiting and len(running) < max(1, at_once):
                index = waiting.pop(0)
                pid, read = _fork(work, parts[index])
                running[read] = (index, pid, bytearray())
            ready, _, _ = select.select(list(running), [], [])
            for read in ready:
                chunk = os.read(read, 1 << 20)
                if chunk:
                    running[read][2].extend(chunk)
                    continue
                index, pid, data = running.pop(read)
                os.close(read)
                results[index] = _result(bytes(data), _reap(pid))
        return results
    finally:
        for read, (_, pid, _) in running.items():  # one failed: do not leave the others running
            os.close(read)
            _reap(pid, kill=True)


def _fork(work: Callable[[list[int]], T], part: list[int]) -> tuple[int, int]:
    read, write = os.pipe()
    # Set around the fork so the tokenizers library's fork handler in the child finds it
    # and says nothing (it warns on stderr when its thread pool was used before a fork).
    before = os.environ.get("TOKENIZERS_PARALLELISM")
    os.environ["TOKENIZERS_PARALLELISM"] = "false"
    parent = os.getpid()
    pid = os.fork()
    if pid == 0:
        os.close(read)
        _die_with(parent)
        code = 0
        try:
            payload = pickle.dumps(("ok", work(part)), protocol=pickle.HIGHEST_PROTOCOL)
        except BaseException:  # noqa: BLE001 - whatever it was, the parent must hear of it
            payload, code = pickle.dumps(("error", traceback.format_exc())), 1
        try:
            with os.fdopen(write, "wb") as out:
                out.write(payload)
        finally:
            os._exit(code)
    if before is None:
        os.environ.pop("TOKENIZERS_PARALLELISM", None)
    else:
        os.environ["TOKENIZERS_PARALLELISM"] = before
    os.close(write)
    return pid, read


def _die_with(parent: int) -> None:
    """A child must not outlive the worker that waits for it (a killed Celery worker would
    leave it computing for nobody): the kernel's parent-death signal, on Linux."""
    if sys.platform.startswith("linux"):
        try:
            ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
        except (OSError, AttributeError):
            pass
    if os.getppid() != parent:  # the parent died before the signal was set
        os._exit(1)


def _result(data: bytes, status: int):
    if not data:
        raise RuntimeError(f"An explanation process ended without a result ({_status(status)}).")
    kind, value = pickle.loads(data)
    if kind == "error":
        raise RuntimeError("An explanation process failed:\n" + value)
    return value


def _reap(pid: int, kill: bool = False) -> int:
    if kill:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    return os.waitpid(pid, 0)[1]


def _status(status: int) -> str:
    if os.WIFSIGNALED(status):
        return f"killed by signal {os.WTERMSIG(status)}"
    return f"exit status {os.WEXITSTATUS(status)}"
