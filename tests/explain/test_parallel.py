"""One chunk's rows in forked processes (explain.parallel): the same explanations as in one
process, every row once, and a failing or dying process reported, never a partial result."""
from __future__ import annotations

import os
import signal

import numpy as np
import pytest

from explain.parallel import deal, in_processes
from explain.run import explain_chunk

from .conftest import GAY_TEXTS, OTHER_TEXTS

OPTIONS = {"shap_max_evals": 60, "lime_num_samples": 80, "ig_steps": 6}


@pytest.mark.parametrize("sizes,parts", [([5, 1, 1, 1, 1, 1], 2), ([3, 3, 3], 2), ([1], 3), ([], 2),
                                         (list(range(17)), 3)])
def test_deal_gives_every_position_once_in_balanced_parts(sizes, parts):
    dealt = deal(sizes, parts)
    assert sorted(p for part in dealt for p in part) == list(range(len(sizes)))
    assert all(part == sorted(part) and part for part in dealt) and len(dealt) <= parts
    loads = [sum(sizes[p] for p in part) for part in dealt]
    if loads:
        assert max(loads) - min(loads) <= max(sizes)


def test_parts_run_at_once_in_other_processes_and_come_back_in_order():
    results = in_processes(lambda part: (os.getpid(), [x * 2 for x in part]), [[1], [2, 3], [4]])
    assert [r[1] for r in results] == [[2], [4, 6], [8]]
    # Every part in a child of its own; this process only waits.
    assert os.getpid() not in {r[0] for r in results} and len({r[0] for r in results}) == 3


def test_a_failing_process_raises_with_its_traceback():
    def work(part):
        if part == [2]:
            raise ValueError("row 2 is broken")
        return part

    with pytest.raises(RuntimeError, match="(?s)failed:.*ValueError: row 2 is broken"):
        in_processes(work, [[1], [2]])


def test_a_killed_process_raises_with_its_signal():
    def work(part):
        if part == [2]:
            os.kill(os.getpid(), signal.SIGKILL)
        return part

    with pytest.raises(RuntimeError, match="without a result .killed by signal 9"):
        in_processes(work, [[1], [2]])


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
in_processes(work, [[1], [2]])
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
