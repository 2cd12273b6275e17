"""Row selection: each category in turn, deterministic by seed, never a row twice."""
from __future__ import annotations

import numpy as np
import pandas as pd

from explain.sample import select_rows

RNG = np.random.default_rng(1)
P = RNG.random(200)
LABELS = list(RNG.random(200) < 0.5)
GROUPS = pd.DataFrame({"gender": RNG.choice(["f", "m", "x"], 200), "age": RNG.choice(["young", "old"], 200)})


def _select(**kwargs):
    args = {"probabilities": P, "labels": LABELS, "groups": GROUPS, "counterfactual_rows": [7, 3, 7, 999],
            "size": 20, "seed": 5}
    return select_rows(**{**args, **kwargs})


def test_same_inputs_and_seed_give_the_same_rows_without_duplicates():
    first = _select()
    assert first == _select()
    rows = [s["row"] for s in first]
    assert len(rows) == len(set(rows)) == 20
    assert _select(seed=6) != first  # the group picks and the fill are seeded


def test_each_category_gets_its_share():
    picked = _select()
    reasons = [s["reason"] for s in picked]
    # Row 7 once, row 3, the out-of-range 999 ignored.
    assert [s["row"] for s in picked[:2]] == [7, 3]
    assert reasons[:2] == ["counterfactual", "counterfactual"]
    # Unused counterfactual budget (3 of 5) passes to the misclassified rows.
    wrong = [s["row"] for s in picked if s["reason"] == "misclassified"]
    assert len(wrong) == 8
    assert all((P[r] >= 0.5) != LABELS[r] for r in wrong)
    margins = [abs(P[r] - 0.5) for r in wrong]
    assert margins == sorted(margins, reverse=True)  # most confidently wrong first
    near = [s["row"] for s in picked if s["reason"] == "near_threshold"]
    assert len(near) == 5
    assert max(abs(P[r] - 0.5) for r in near) <= np.sort(np.abs(P - 0.5))[len(near) + 2]
    strata = [s["reason"] for s in picked if s["reason"].startswith("group:")]
    assert strata[:5] == ["group:gender=f", "group:gender=m", "group:gender=x", "group:age=old", "group:age=young"]


def test_without_labels_groups_or_counterfactuals_the_rest_is_filled_at_random():
    picked = select_rows(probabilities=P, size=10, seed=0)
    reasons = [s["reason"] for s in picked]
    # The counterfactual and misclassified budgets (3 + 3) pass to near-threshold; the
    # group budget (2) has no groups to go to and is filled at random.
    assert reasons == ["near_threshold"] * 8 + ["random"] * 2
    assert len({s["row"] for s in picked}) == 10
    assert select_rows(probabilities=P[:3], size=10) and len(select_rows(probabilities=P[:3], size=10)) == 3
    assert select_rows(probabilities=[], size=5) == []
