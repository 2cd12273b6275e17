"""The planted test: a model whose small group's decision lives in a few small weights.
Magnitude pruning removes exactly those; the compression audit's figures must flag the
small group as paying for it, although overall accuracy moves by less than a point."""
from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import torch

from audits.checks import CheckContext, get_check
from audits.checks.policy import DEFAULT_POLICY
from audits.compression.figures import group_costs, verdict, with_changes
from runtime.compress import prune_magnitude

N, SMALL = 2000, 30


class Planted(torch.nn.Module):
    """encoder: Linear(8, 8); the decision is the sum of its first two outputs. The majority's
    label reaches output 0 through a weight of 1; the small group's label reaches output 1
    only through one weight of 0.02 (fed by a large input), the smallest non-zero weight."""

    def __init__(self):
        super().__init__()
        self.encoder = torch.nn.Linear(8, 8, bias=False)
        g = torch.Generator().manual_seed(0)
        weight = 0.5 + 0.5 * torch.rand(8, 8, generator=g)
        weight[:, 0] = 0
        weight[:, 2] = 0
        weight[0, 0], weight[1, 2] = 1.0, 0.02
        with torch.no_grad():
            self.encoder.weight.copy_(weight)

    def forward(self, x):
        score = self.encoder(x)[:, :2].sum(dim=1)
        return torch.stack([-score, score], dim=1)


def _data():
    rng = np.random.default_rng(3)
    small = np.zeros(N, dtype=bool)
    small[rng.choice(N, SMALL, replace=False)] = True
    label = rng.random(N) < 0.5
    sign = np.where(label, 1.0, -1.0)
    x = np.zeros((N, 8), dtype=np.float32)
    x[~small, 0] = sign[~small] * (0.2 + rng.random((~small).sum()))
    x[small, 2] = sign[small] * 100.0
    groups = pd.DataFrame({"group": np.where(small, "small", "majority")})
    return torch.from_numpy(x), label, groups


def _context(label, pred, prob, groups):
    return CheckContext(y_true=label, y_pred=pred, prob=prob, groups=groups, privileged={"group": ["majority"]},
                        policy=DEFAULT_POLICY, seed=1, resamples=300)


def test_pruning_what_a_small_group_depends_on_is_flagged():
    x, label, groups = _data()
    model = Planted().eval()
    with torch.no_grad():
        before = torch.softmax(model(x), dim=1).numpy()
        after = torch.softmax(prune_magnitude(model, 0.5)(x), dim=1).numpy()
    assert float(model.encoder.weight.detach()[1, 2]) == 0.0  # the planted weight is gone
    parent_pred, variant_pred = before.argmax(1), after.argmax(1)
    overall = (variant_pred == label).mean() - (parent_pred == label).mean()
    assert abs(overall) <= 0.01  # the average barely moves ...
    by_group = group_costs(groups=groups, y_true=label.astype(int), parent_pred=parent_pred,
                           variant_pred=variant_pred, seed=1, resamples=500, min_rows=10)
    small, majority = by_group["group"]["small"], by_group["group"]["majority"]
    assert small["costs"] and small["accuracy_change_ci_high"] < 0  # ... the small group pays
    assert not majority["costs"] and majority["accuracy_change"] == 0
    assert small["disagreement_ci_low"] > majority["disagreement_ci_high"]
    ctx = _context(label, parent_pred == 1, before[:, 1], groups)
    parent_checks = get_check("group_fairness")(ctx)
    variant_ctx = dataclasses.replace(ctx, y_pred=variant_pred == 1, prob=after[:, 1])
    checks = with_changes(get_check("group_fairness")(variant_ctx), parent_checks)
    result = verdict(checks=checks, parent_summary="pass", by_group=by_group)
    assert result["costs_groups"] == ["group=small"]
    assert result["groups_lost_most"][0]["group"] == "small"
    assert "group=small" in result["text"]


def test_a_pruning_that_spares_the_planted_weight_flags_nobody():
    x, label, groups = _data()
    model = Planted().eval()
    with torch.no_grad():
        before = torch.softmax(model(x), dim=1).numpy()
        after = torch.softmax(prune_magnitude(model, 0.2)(x), dim=1).numpy()  # only zeros go
    by_group = group_costs(groups=groups, y_true=label.astype(int), parent_pred=before.argmax(1),
                           variant_pred=after.argmax(1), seed=1, resamples=500, min_rows=10)
    assert not any(g["costs"] for g in by_group["group"].values())
