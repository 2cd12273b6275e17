"""One chunk's rows in forked processes (explain.parallel): the same explanations as in one
process, every row once, and a failing or dying process reported, never a partial result."""
from __future__ import annotations

import os
import signal
import time

import numpy as np
import pytest

from explain.parallel import in_processes, longest_first
from explain.run import explain_chunk

from .conftest import GAY_TEXTS, OTHER_TEXTS

OPTIONS = {"shap_max_evals": 60, "lime_num_samples": 80, "ig_steps": 6}


def test_longest_first_gives_every_position_once():
    assert longest_first([3, 9, 1, 9]) == [[1], [3], [0], [2]]
    assert longest_first([]) == []


def test_parts_come_back_in_order_from_other_processes_at_most_at_once_at_a_time(tmp_path):
    def work(part):
        started = time.time()
        time.sleep(0.3)
        (tmp_path / f"{part[0]}.txt").write_text(f"{started} {time.time()}")
        return os.getpid(), [x * 2 for x in part]

    results = in_processes(work, [[1], [2], [3], [4], [5]], at_once=2)
    assert [r[1] for r in results] == [[2], [4], [6], [8], [10]]
    # Every part in a child of its own; this process only waits.
    assert os.getpid() not in {r[0] for r in results} and len({r[0] for r in results}) == 5
    spans = [tuple(map(float, (tmp_path / f"{i}.txt").read_text().split())) for i in range(1, 6)]
    overlapping = max(sum(1 for a, b in spans if a <= t < b) for t, _ in spans)
    assert overlapping == 2


def test_results_larger_than_a_pipe_buffer_come_back_whole():
    results = in_processes(lambda part: str(part[0]) * 3_000_000, [[1], [2], [3]], at_once=3)
    assert [len(r) for r in results] == [3_000_000] * 3 and results[1][:3] == "222"


def test_a_failing_process_raises_with_its_traceback():
    def work(part):
        if part == [2]:
            raise ValueError("row 2 is broken")
        return part

    with pytest.raises(RuntimeError, match="(?s)failed:.*ValueError: row 2 is broken"):
        in_processes(work, [[1], [2]], at_once=2)


def test_a_killed_process_raises_with_its_signal():
    def work(part):
        if part == [2]:
            os.kill(os.getpid(), signal.SIGKILL)
        return part

    with pytest.raises(RuntimeError, match="without a result .killed by signal 9"):
        in_processes(work, [[1], [2]], at_once=2)


@pytest.fixture
def two_threads():
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(2)
    yield
    torch.set_num_threads(before)


def test_a_chunk_in_two_processes_explains_as_one_process_does(loaded, two_threads):
    texts = GAY_TEXTS + OTHER_TEXTS
    rows = [3, 0, 4, 1, 2]
    kwargs = {"texts": texts, "favourable_id": 1, "rows": rows, "options": OPTIONS, "seed": 0}
    one = explain_chunk(loaded, processes=1, **kwargs)
    reported = []
    two = explain_chunk(loaded, processes=2, progress=lambda done, total: reported.append((done, total)), **kwargs)
    assert reported == [(21, 21)]  # once, when both processes are back: 5 rows x 4 methods + 1
    assert two["processes"] == 2 and "processes" not in one
    assert [e["row"] for e in two["examples"]] == rows
    for a, b in zip(one["examples"], two["examples"], strict=True):
        assert a["words"] == b["words"] and a["predicted"] == pytest.approx(b["predicted"], abs=1e-6)
        for method in one["methods"]:
            # Batches differ between the two runs (fewer rows side by side): float rounding only.
            np.testing.assert_allclose(a["methods"][method]["scores"], b["methods"][method]["scores"], atol=1e-4)
    assert two["engine"]["calls"] > one["engine"]["calls"]  # each process calls the model itself
    assert set(two["timings"]) == set(one["timings"])


def test_a_child_dies_with_its_parent(tmp_path):
    """The worker that forked the children is killed: they do not compute on for nobody."""
    import subprocess
    import sys
    import time

    marker = tmp_path / "child.pid"
    script = f"""
import os, time
from explain.parallel import in_processes
def work(part):
    if part == [2]:
        open({str(marker)!r}, "w").write(str(os.getpid()))
        time.sleep(60)
    else:
        time.sleep(60)
in_processes(work, [[1], [2]], at_once=2)
"""
    parent = subprocess.Popen([sys.executable, "-c", script], cwd=os.getcwd())
    deadline = time.time() + 30
    while not marker.exists() or not marker.read_text():
        assert time.time() < deadline, "the child never started"
        time.sleep(0.05)
    child = int(marker.read_text())
    parent.kill()
    parent.wait()
    while time.time() < deadline:
        try:
            os.kill(child, 0)
        except ProcessLookupError:
            return
        time.sleep(0.05)
    os.kill(child, signal.SIGKILL)
    raise AssertionError("the child outlived its parent")


def test_no_more_processes_than_threads_to_share(loaded):
    """The tests run torch on one thread: a worker pinned to one thread forks nothing."""
    result = explain_chunk(loaded, texts=GAY_TEXTS, favourable_id=1, rows=[0, 1, 2], options=OPTIONS, processes=2)
    assert "processes" not in result and [e["row"] for e in result["examples"]] == [0, 1, 2]


def test_the_explainers_are_warmed_once_in_the_worker_before_it_forks(loaded, two_threads, monkeypatch):
    """shap's numba functions compile on first use: done in the forking process, once, so
    every child inherits them instead of compiling them again."""
    import explain.run as run

    monkeypatch.setattr(run, "_warm", set())
    warmed = []
    real = run.explain_chunk

    def counting(loaded_, **kwargs):
        if kwargs["texts"] == ["a short text to warm the explainers up"]:
            warmed.append((os.getpid(), tuple(kwargs["methods"])))
        return real(loaded_, **kwargs)

    monkeypatch.setattr(run, "explain_chunk", counting)
    kwargs = {"texts": GAY_TEXTS, "favourable_id": 1, "rows": [0, 1], "options": OPTIONS}
    counting(loaded, methods=["shap", "lime"], processes=2, **kwargs)
    counting(loaded, methods=["shap", "lime", "ig"], processes=2, **kwargs)
    assert warmed == [(os.getpid(), ("shap", "lime")), (os.getpid(), ("ig",))]
