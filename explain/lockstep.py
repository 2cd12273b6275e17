"""Several rows' SHAP explanations side by side, their masked inputs in shared model calls.

shap's Partition explainer asks for its masked inputs one batch at a time and waits for
the answers before it picks the next; one row alone sends small batches (with adaptive
budgets, mostly the few masks a budget adds), and every model call costs a fixed
overhead beyond its rows (on a shared CPU, most of it). Each row's explainer runs in a
thread of its own; a `Gather` holds every request until each live thread has asked (or
finished), then answers their union in one call to the model function, whose cache and
length-sorted, token-capped batches serve all rows at once.

The explainer breaks priority ties with np.random.randn, from numpy's global generator.
`thread_random` gives each thread its own generator, seeded as the one-row path seeds
the global one, so a row's values are the same whatever rows run beside it.
"""
from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from contextlib import contextmanager

import numpy as np

_local = threading.local()


class Gather:
    """A model function for `parties` threads: each call waits until every live thread has
    called (or `leave`s), then one call of `fn` answers all of them."""

    def __init__(self, fn: Callable[[list], np.ndarray], parties: int) -> None:
        self._fn = fn
        self._cond = threading.Condition()
        self._live = parties
        self._asked: dict[int, list] = {}
        self._answers: dict[int, np.ndarray] = {}
        self._error: BaseException | None = None
        self._rank: dict[int, int] = {}
        self.calls = 0

    def join(self, rank: int) -> None:
        """The calling thread is party `rank`: requests go to the model in rank order, so
        the batches (and their rounding) do not depend on which thread asked first."""
        with self._cond:
            self._rank[threading.get_ident()] = rank

    def __call__(self, batch: Sequence) -> np.ndarray:
        me = threading.get_ident()
        with self._cond:
            self._asked[me] = list(batch)
            self._run_if_all_asked()
            while me not in self._answers and self._error is None:
                self._cond.wait()
            if self._error is not None:
                raise RuntimeError("the shared model call failed") from self._error
            return self._answers.pop(me)

    def leave(self) -> None:
        """This thread asks no more (it finished or failed)."""
        with self._cond:
            self._live -= 1
            self._run_if_all_asked()

    def _run_if_all_asked(self) -> None:
        if not self._asked or len(self._asked) < self._live:
            return
        asked = dict(sorted(self._asked.items(), key=lambda item: self._rank.get(item[0], 0)))
        self._asked = {}
        try:
            out = self._fn([row for batch in asked.values() for row in batch])
        except BaseException as exc:  # every waiting thread must hear of it, not wait forever
            self._error = exc
            self._cond.notify_all()
            return
        self.calls += 1
        at = 0
        for who, batch in asked.items():
            self._answers[who] = out[at:at + len(batch)]
            at += len(batch)
        self._cond.notify_all()


def run_threads(work: Callable[[int], object], n: int, gather: Gather) -> list:
    """work(i) for i in range(n), each in its own thread that leaves `gather` when done;
    results in order; the first exception is raised again here."""
    results: list = [None] * n
    errors: list[BaseException] = []

    def target(i: int) -> None:
        try:
            gather.join(i)
            results[i] = work(i)
        except BaseException as exc:  # noqa: BLE001 - re-raised in the caller's thread
            errors.append(exc)
        finally:
            gather.leave()

    threads = [threading.Thread(target=target, args=(i,), daemon=True) for i in range(n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]
    return results


@contextmanager
def thread_random(seed: int):
    """This thread's randn draws (in shap's partition explainer) from its own generator."""
    _local.state = np.random.RandomState(seed)
    try:
        yield
    finally:
        _local.state = None


class _Random:
    def __getattr__(self, name):
        return getattr(np.random, name)

    def randn(self, *args):
        state = getattr(_local, "state", None)
        return (state or np.random).randn(*args)


class _Numpy:
    """numpy, except that `random.randn` is the calling thread's generator when it has one."""

    random = _Random()

    def __getattr__(self, name):
        return getattr(np, name)


def install(module) -> None:
    """Give `module` (shap's partition explainer) the thread-aware numpy."""
    if not isinstance(module.np, _Numpy):
        module.np = _Numpy()
