"""The int8 stand-in for SHAP's and LIME's perturbed inputs (runtime.int8_ranges,
audits.services.explain_engine): used only with evidence of agreement, recorded in the
result, and never for the figures that judge the audited model."""
from __future__ import annotations

import numpy as np
import pytest

import runtime
from audits.services.explain_engine import perturbation_model, perturbation_plan
from explain.run import explain_rows
from runtime.int8_ranges import FixedRangeInt8Linear, calibrate_ranges, encoder_linears, int8_with_ranges

from .conftest import GAY_TEXTS, OTHER_TEXTS

WORDS = ["you", "are", "gay", "nice", "the", "community", "is", "here", "and", "proud", "what", "a",
         "lovely", "morning", "it", "was", "football", "with", "guys", "short"]


def _texts(n: int, seed: int = 0) -> list[str]:
    rng = np.random.default_rng(seed)
    return [" ".join(rng.choice(WORDS, size=int(rng.integers(2, 12)))) for _ in range(n)]


def test_rows_score_alike_alone_and_in_any_batch(loaded):
    ids = runtime.tokenize(loaded, _texts(40))
    variant = int8_with_ranges(loaded, calibrate_ranges(loaded, ids[:20]))
    assert all(isinstance(variant.model.get_submodule(n), FixedRangeInt8Linear) for n in encoder_linears(loaded.model))
    together = runtime.predict_token_ids(variant, ids)
    alone = np.concatenate([runtime.predict_token_ids(variant, [row]) for row in ids])
    reversed_ = runtime.predict_token_ids(variant, ids[::-1])[::-1]
    # Float rounding before the fixed quantisation grid can move a value by one step at
    # most: far below any difference an explanation reads.
    assert np.abs(together - alone).max() < 1e-3
    assert np.abs(together - reversed_).max() < 1e-3
    assert np.abs(together - runtime.predict_token_ids(loaded, ids)).max() < 0.05
    # The audited model itself is untouched.
    assert not any(isinstance(m, FixedRangeInt8Linear) for m in loaded.model.modules())


def test_plan_refuses_without_enough_evidence(loaded, settings):
    texts = _texts(60)
    probs = runtime.predict_token_ids(loaded, runtime.tokenize(loaded, texts))
    plan = perturbation_plan(loaded=loaded, texts=texts, probs=probs, seed=0)
    # 60 rows cannot show 99.5 % agreement: even all 60 agreeing leave the interval's
    # lower end near 94 %.
    assert plan["model"] == "audited" and plan["rows"] == 60 and "ranges" not in plan
    assert plan["interval"][0] < 0.995 and "Only 60 rows" in plan["reason"] and "no faster copy was tried" in plan["reason"]
    assert perturbation_model(loaded, plan) is None
    settings.EXPLAIN_INT8 = settings.EXPLAIN_BF16 = False
    assert perturbation_plan(loaded=loaded, texts=texts, probs=probs, seed=0) == {
        "model": "audited", "reason": "EXPLAIN_INT8 and EXPLAIN_BF16 are off."}


def test_plan_samples_the_rows_reproducibly(loaded, settings, monkeypatch):
    import audits.services.explain_engine as engine

    monkeypatch.setattr(engine, "AGREEMENT_ROWS", 30)
    texts = _texts(80)
    probs = runtime.predict_token_ids(loaded, runtime.tokenize(loaded, texts))
    first = perturbation_plan(loaded=loaded, texts=texts, probs=probs, seed=3)
    assert first["rows"] == 30 and first["sampled"] is True
    assert perturbation_plan(loaded=loaded, texts=texts, probs=probs, seed=3) == first


@pytest.fixture
def accepted(loaded, settings):
    """A plan that lets the int8 copy stand in (the threshold lowered: the tiny model's
    test rows are too few to show 99.5 %)."""
    settings.EXPLAIN_STANDIN_AGREEMENT = 0.5
    texts = _texts(60) + GAY_TEXTS + OTHER_TEXTS
    probs = runtime.predict_token_ids(loaded, runtime.tokenize(loaded, texts))
    plan = perturbation_plan(loaded=loaded, texts=texts, probs=probs, seed=0)
    assert plan["model"] == "int8" and plan["interval"][0] >= 0.5
    return texts, plan


def test_an_accepted_plan_runs_shap_and_lime_on_the_copy_and_says_so(loaded, accepted):
    texts, plan = accepted
    rows = [60, 61, 62]  # the planted "gay" texts
    options = {"shap_max_evals": 120, "lime_num_samples": 200, "ig_steps": 10}
    plain = explain_rows(loaded, texts=texts, favourable_id=1, rows=rows, options=options)
    fast = explain_rows(loaded, texts=texts, favourable_id=1, rows=rows, options=options,
                        perturb=perturbation_model(loaded, plan), plan=plan)
    assert plain["perturbation"] == {"model": "audited"}
    assert fast["perturbation"]["model"] == "int8" and "ranges" not in fast["perturbation"]
    assert fast["perturbation"]["agreement"] == plan["agreement"]
    for a, b in zip(plain["examples"], fast["examples"], strict=True):
        # The audited model's own figures: the prediction, IG and attention are unchanged.
        assert b["predicted"] == a["predicted"]
        assert b["methods"]["ig"]["scores"] == a["methods"]["ig"]["scores"]
        assert b["methods"]["attention"]["scores"] == a["methods"]["attention"]["scores"]
        # SHAP's and LIME's values are the copy's: close, and the planted word still leads.
        for method in ("shap", "lime"):
            words, scores = b["words"], b["methods"][method]["word_scores"]
            assert words[int(np.argmax(np.abs(scores)))] == "gay"
            assert b["methods"][method]["scores"] != a["methods"][method]["scores"]
        assert set(b["faithfulness"]) == set(a["faithfulness"])
