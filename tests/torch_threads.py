"""One torch thread for a test package of tiny models; a conftest imports the fixture.

The tiny models' batches are far too small to gain from intra-op threads, and on a
shared two-core machine two threads fighting other processes make each forward pass
many times slower (measured: 40 single-text forwards of a tiny Llama took 5.8 s with
two threads under load, 0.05 s with one).
"""
from __future__ import annotations

import pytest
import torch


@pytest.fixture(scope="package", autouse=True)
def one_torch_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
