"""The bfloat16 stand-in (runtime.bf16_linears) and how the plan picks a copy
(audits.services.explain_engine): the faster copy first, each refused as soon as it
cannot pass, and nothing but evidence lets one stand in."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import audits.services.explain_engine as engine
import runtime
from audits.checks.confidence import wilson
from audits.services.explain_engine import (
    allowed_disagreements,
    perturbation_model,
    perturbation_plan,
    plan_on_this_worker,
)
from runtime.bf16_linears import Bf16Linear, bf16_copy
from runtime.compress import encoder_linears

from .test_int8_standin import _texts


def test_the_copy_multiplies_in_bfloat16_and_stays_close(loaded):
    ids = runtime.tokenize(loaded, _texts(40))
    variant = bf16_copy(loaded)
    into_activation = []
    for name in encoder_linears(loaded.model):
        layer = variant.model.get_submodule(name)
        assert isinstance(layer, Bf16Linear) and layer.weight.dtype == torch.bfloat16
        if layer.into_activation:
            into_activation.append(name)
    # Only the feed-forward's first Linear hands bfloat16 on (to GELU, then the next Linear).
    assert into_activation and all(name.endswith("intermediate.dense") for name in into_activation)
    together = runtime.predict_token_ids(variant, ids)
    alone = np.concatenate([runtime.predict_token_ids(variant, [row]) for row in ids])
    # Bfloat16 rounding of the Linears' inputs turns float32's batch-to-batch differences
    # (~1e-7) into whole bfloat16 steps now and then: small against what an explanation reads.
    assert np.abs(together - alone).max() < 5e-3
    assert np.abs(together - runtime.predict_token_ids(loaded, ids)).max() < 0.05
    assert not any(isinstance(m, Bf16Linear) for m in loaded.model.modules())
    assert variant.checked_batching == runtime.batching(loaded)


@pytest.mark.parametrize("n", [60, 765, 2000, 5000])
def test_allowed_disagreements_is_the_wilson_boundary(n):
    allowed = allowed_disagreements(n, 0.995)
    if allowed >= 0:
        assert wilson(n - allowed, n)[0] >= 0.995
    assert wilson(n - allowed - 1, n)[0] < 0.995
    assert (allowed == -1) == (n == 60)


def test_a_copy_that_cannot_pass_is_refused_after_its_first_block(loaded, settings, monkeypatch):
    monkeypatch.setattr(engine, "BLOCK_ROWS", 20)
    monkeypatch.setattr(engine, "native_bf16", lambda: True)
    settings.EXPLAIN_STANDIN_AGREEMENT = 0.9
    texts = _texts(100)
    probs = runtime.predict_token_ids(loaded, runtime.tokenize(loaded, texts))
    plan = perturbation_plan(loaded=loaded, texts=texts, probs=probs[:, ::-1], seed=0)  # every label flipped
    assert plan["model"] == "audited" and [t["model"] for t in plan["tried"]] == ["int8", "bf16"]
    for tried in plan["tried"]:
        assert tried["stopped_early"] and tried["rows"] < tried["sample"] == 100
        # The interval is the best the whole sample could still show: below the bar.
        assert tried["interval"][0] < 0.9
    assert "of the first" in plan["reason"] and "So the audited model ran every input." in plan["reason"]
    assert perturbation_model(loaded, plan) is None


def _bf16_only_plan(loaded, settings, monkeypatch, texts: list[str], *, native: bool = True) -> dict:
    """The plan with int8 off and the bar lowered to 50 % (the tiny model's rows are too few
    to show 99.5 %), on a CPU with or without native bfloat16."""
    monkeypatch.setattr(engine, "native_bf16", lambda: native)
    settings.EXPLAIN_INT8, settings.EXPLAIN_STANDIN_AGREEMENT = False, 0.5
    probs = runtime.predict_token_ids(loaded, runtime.tokenize(loaded, texts))
    return perturbation_plan(loaded=loaded, texts=texts, probs=probs, seed=0)


def test_the_bfloat16_copy_stands_in_where_int8_is_off(loaded, settings, monkeypatch):
    plan = _bf16_only_plan(loaded, settings, monkeypatch, _texts(80))
    assert plan["model"] == "bf16" and "ranges" not in plan and plan["rows"] == 80
    assert "bfloat16 copy predicted" in plan["reason"] and "so it ran SHAP's and LIME's" in plan["reason"]
    assert isinstance(perturbation_model(loaded, plan).model.get_submodule(next(iter(encoder_linears(loaded.model)))),
                      Bf16Linear)
    # A worker with the bfloat16 copy switched off runs the audited model instead.
    assert plan_on_this_worker(plan) == plan
    settings.EXPLAIN_BF16 = False
    assert plan_on_this_worker(plan) is None


def test_no_bfloat16_copy_on_a_cpu_without_native_bfloat16(loaded, settings, monkeypatch):
    plan = _bf16_only_plan(loaded, settings, monkeypatch, _texts(80), native=False)
    assert plan["model"] == "audited" and plan["tried"] == [{"model": "bf16", "refused": plan["reason"].split(" So")[0]}]
    assert "no native bfloat16" in plan["reason"]


def test_an_accepted_bfloat16_plan_runs_shap_and_lime_on_the_copy(loaded, settings, monkeypatch):
    from explain.run import explain_rows

    from .conftest import GAY_TEXTS, OTHER_TEXTS

    texts = _texts(60) + GAY_TEXTS + OTHER_TEXTS
    plan = _bf16_only_plan(loaded, settings, monkeypatch, texts)
    rows, options = [60, 61, 62], {"shap_max_evals": 120, "lime_num_samples": 200, "ig_steps": 10}
    plain = explain_rows(loaded, texts=texts, favourable_id=1, rows=rows, options=options)
    fast = explain_rows(loaded, texts=texts, favourable_id=1, rows=rows, options=options,
                        perturb=perturbation_model(loaded, plan), plan=plan)
    assert fast["perturbation"]["model"] == "bf16" and fast["perturbation"]["reason"] == plan["reason"]
    for a, b in zip(plain["examples"], fast["examples"], strict=True):
        assert b["predicted"] == a["predicted"] and b["methods"]["ig"]["scores"] == a["methods"]["ig"]["scores"]
        for method in ("shap", "lime"):
            assert b["methods"][method]["scores"] != a["methods"][method]["scores"]
            np.testing.assert_allclose(b["methods"][method]["scores"], a["methods"][method]["scores"], atol=0.02)
    with pytest.raises(ValueError, match="disagree"):
        explain_rows(loaded, texts=texts, favourable_id=1, rows=rows, options=options, plan=plan)
