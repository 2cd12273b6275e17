"""Integrated Gradients caps the padded tokens of a captum pass (PATH_TOKENS), which bounds
its memory on long texts; the attributions are the same as with one pass for all points."""
from __future__ import annotations

import numpy as np

import runtime
from explain.methods import integrated_gradients as ig

from .conftest import GAY_TEXTS, OTHER_TEXTS


def test_path_rows_fall_with_the_texts_length_but_never_below_one_per_text():
    assert ig._path_rows(200, 4, 10) == 200  # short texts keep the asked rows
    assert ig._path_rows(200, 4, 256) == ig.PATH_TOKENS // 256 < 200
    assert ig._path_rows(200, 4, 10**6) == 4  # captum's minimum: one point per text


def test_small_passes_give_the_same_attributions(loaded, fn, monkeypatch):
    ids = runtime.tokenize(loaded, GAY_TEXTS + OTHER_TEXTS)
    whole = ig.ig_explain(loaded, ids, favourable_id=1, steps=20, fn=fn)
    # 40 padded tokens a pass: a handful of path points each, many passes per text.
    monkeypatch.setattr(ig, "PATH_TOKENS", 40)
    split = ig.ig_explain(loaded, ids, favourable_id=1, steps=20, fn=fn)
    for a, b in zip(whole, split, strict=True):
        np.testing.assert_allclose(b.scores, a.scores, atol=1e-5)
        assert abs(b.extra["convergence_delta"] - a.extra["convergence_delta"]) < 1e-5
