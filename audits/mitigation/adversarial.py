"""Adversarial debiasing (Zhang, Lemoine & Mitchell 2018) and the training loop it shares
with reweighing.

The predictor (the classifier head, optionally with the top encoder layers) is trained
against an adversary that predicts privilege from the predictor's favourable-class
logit (and the true label, for equalised odds). The predictor's step is the paper's

    grad_P  -  proj_{grad_A} grad_P  -  alpha * grad_A

where grad_A is the gradient of the adversary's loss with respect to the predictor's
weights: the projection removes the part of the predictor's step that would help the
adversary, and -alpha * grad_A actively hurts it. As in the paper, the projection is over
all predictor weights as one vector (AIF360's TensorFlow version projects per tensor).
"""
from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import nn

import runtime


class MitigationCancelled(Exception):
    """Raised between batches when the caller's should_stop() says so."""


def one_thread():
    """Tiny tensors (a head on cached features) run 10-40x faster on one thread: with
    several, each small op pays for waking the others (measured on a shared 2-core box)."""
    return runtime.pinned_threads(1)


def projected_update(pred_grads: Sequence[torch.Tensor], adv_grads: Sequence[torch.Tensor],
                     alpha: float) -> list[torch.Tensor]:
    """The paper's predictor gradient, tensor by tensor, projection over all of them."""
    g = torch.cat([x.reshape(-1) for x in pred_grads])
    h = torch.cat([x.reshape(-1) for x in adv_grads])
    norm2 = torch.dot(h, h)
    # With no adversary gradient there is nothing to project away or push against.
    projection = (torch.dot(g, h) / norm2) * h if norm2 > 0 else torch.zeros_like(g)
    update = g - projection - alpha * h
    out, start = [], 0
    for x in pred_grads:
        out.append(update[start:start + x.numel()].view_as(x))
        start += x.numel()
    return out


def favourable_logit(logits: torch.Tensor, favourable_id: int) -> torch.Tensor:
    """log p(fav) - log p(not fav): the binary logit of the favourable label, any label count."""
    others = torch.cat([logits[:, :favourable_id], logits[:, favourable_id + 1:]], dim=1)
    return logits[:, favourable_id] - torch.logsumexp(others, dim=1)


class Adversary(nn.Module):
    """The paper's adversary: s = sigmoid((1 + |c|) z), then a logistic regression on s
    (demographic parity) or on [s, s*y, s*(1-y)] (equalised odds).

    reads "logit": s = z / scale instead, with `scale` fixed before training (the spread
    of the parent's logits). A fine-tuned parent's logits sit at +-5 or beyond, where
    the sigmoid is flat: the adversary's gradient with respect to the predictor vanishes
    and nothing moves (issue 16's textbook case: |SPD| 1.00 at every adversary weight).
    On the scaled logit the gradient stays as large as the dependence it measures."""

    def __init__(self, goal: str, reads: str = "logit", scale: float = 1.0):
        super().__init__()
        self.equalised_odds = goal == "equalised_odds"
        self.reads, self.scale = reads, float(scale)
        # c scales the sigmoid's input; on the scaled logit the linear layer's weight does that.
        self.register_parameter("c", nn.Parameter(torch.ones(1)) if reads == "sigmoid" else None)
        self.linear = nn.Linear(3 if self.equalised_odds else 1, 1)

    def forward(self, fav_logit: torch.Tensor, fav_true: torch.Tensor) -> torch.Tensor:
        if self.reads == "logit":
            s = fav_logit / self.scale
        else:
            s = torch.sigmoid((1 + self.c.abs()) * fav_logit)
        if self.equalised_odds:
            x = torch.stack([s, s * fav_true, s * (1 - fav_true)], dim=1)
        else:
            x = s[:, None]
        return self.linear(x).squeeze(1)


def _adversary_fit(adversary: Adversary, optimiser, fav_logit: torch.Tensor, fav_true: torch.Tensor,
                   target: torch.Tensor, pos_weight: torch.Tensor, steps: int, l2: float = 0.0) -> None:
    """`steps` updates of the adversary on the batch (the predictor's output detached),
    its weights penalised by l2 * |w|^2. Unpenalised, the weight grows without bound while
    the logit separates the groups, and when the predictor crosses independence it keeps
    pushing for several batches (issue 16's textbook case swung from favouring every "m"
    row to every "f" row, epoch after epoch: bench/debias_textbook.py --per-epoch);
    bounded, its push follows the dependence that is left."""
    fav_logit = fav_logit.detach()
    for _ in range(steps):
        loss = nn.functional.binary_cross_entropy_with_logits(adversary(fav_logit, fav_true), target,
                                                              pos_weight=pos_weight)
        loss = loss + l2 * adversary.linear.weight.pow(2).sum()
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()


def _adversarial_grads(params, adversary, adv_optimiser, logits, loss_p, fav_true, target, pos_weight,
                       favourable_id: int, alpha: float, steps: int, l2: float = 0.0) -> tuple[list, int]:
    """The predictor's projected gradient after the adversary's own steps on this batch, and
    how many of the batch's rows the adversary placed correctly."""
    fav_logit = favourable_logit(logits, favourable_id)
    _adversary_fit(adversary, adv_optimiser, fav_logit, fav_true, target, pos_weight, steps, l2)
    adv_logit = adversary(fav_logit, fav_true)
    loss_a = nn.functional.binary_cross_entropy_with_logits(adv_logit, target, pos_weight=pos_weight)
    pred_grads = torch.autograd.grad(loss_p, params, retain_graph=True)
    adv_on_pred = torch.autograd.grad(loss_a, params)
    correct = int(((adv_logit.detach() > 0).float() == target).sum())
    return projected_update(pred_grads, adv_on_pred, alpha), correct


def train_predictor(
    *,
    params: list[nn.Parameter],
    forward: Callable[[torch.Tensor], torch.Tensor],
    labels: torch.Tensor,
    privileged: torch.Tensor,
    favourable_id: int,
    goal: str,
    alpha: float | None,
    weights: torch.Tensor | None = None,
    epochs: int,
    batch_size: int,
    learning_rate: float,
    seed: int,
    on_batch: Callable[[int, int], None] | None = None,
    adversary_reads: str = "logit",
    adversary_scale: float = 1.0,
    adversary_steps: int = 1,
    lr_decay: float = 0.0,
    momentum: float = 0.9,
    adversary_l2: float = 0.0,
) -> dict:
    """Train `params` so that forward(row indices) -> logits fits `labels`.

    alpha None: plain (optionally weighted) cross-entropy, as reweighing needs. Otherwise
    adversarial with weight alpha; alpha 0 keeps the projection alone. Returns the
    adversary's accuracy on the last epoch's batches (None without an adversary).
    adversary_steps: the adversary's updates per batch, before the predictor's. An
    adversary that lags behind the predictor pushes it past independence into the reverse
    dependence (seen on issue 16's textbook case: the adversary's accuracy swung between 1
    and 0); one near its optimum pushes in proportion to the dependence that is left.
    lr_decay d: epoch t (from 0) trains the predictor at learning_rate / (1 + d t) (the
    paper's 1/t decay is d = 1), so that the two settle.
    adversary_l2: the penalty on the adversary's weights (_adversary_fit).
    """
    torch.manual_seed(seed)
    shuffle = torch.Generator().manual_seed(seed)
    n = len(labels)
    fav_true = (labels == favourable_id).float()
    target = privileged.float()
    # Balanced adversary loss: with a small protected group a plain log-loss adversary sits
    # near its minimum by predicting the majority, and its gradient barely moves the
    # predictor (seen on the demo: 15 % of comments mention a sexuality term).
    positives = target.sum().clamp(min=1.0)
    pos_weight = (n - positives).clamp(min=1.0) / positives
    weights = torch.ones(n) if weights is None else weights.float()
    # Adam without momentum for the predictor by default: momentum carries a min-max game
    # past its equilibrium (Gidel et al. 2019); on the textbook case it swung the predictor
    # from favouring one group to favouring the other.
    optimiser = torch.optim.Adam(params, lr=learning_rate, betas=(momentum, 0.999))
    schedule = torch.optim.lr_scheduler.LambdaLR(optimiser, lambda t: 1.0 / (1.0 + lr_decay * t))
    adversary = Adversary(goal, adversary_reads, adversary_scale) if alpha is not None else None
    adv_optimiser = torch.optim.Adam(adversary.parameters(), lr=0.05) if adversary else None
    batches = (n + batch_size - 1) // batch_size
    total = epochs * batches
    correct = seen = 0
    for epoch in range(epochs):
        order = torch.randperm(n, generator=shuffle)
        correct = seen = 0
        for b in range(batches):
            if on_batch:
                on_batch(epoch * batches + b, total)
            idx = order[b * batch_size:(b + 1) * batch_size]
            logits = forward(idx)
            losses = nn.functional.cross_entropy(logits, labels[idx], reduction="none")
            loss_p = (losses * weights[idx]).sum() / weights[idx].sum()
            if adversary is None:
                grads = torch.autograd.grad(loss_p, params)
            else:
                grads, right = _adversarial_grads(params, adversary, adv_optimiser, logits, loss_p, fav_true[idx],
                                                  target[idx], pos_weight, favourable_id, alpha, adversary_steps,
                                                  adversary_l2)
                correct, seen = correct + right, seen + len(idx)
            for p, g in zip(params, grads, strict=True):
                p.grad = g
            optimiser.step()
        schedule.step()
    if on_batch:
        on_batch(total, total)
    return {"adversary_train_accuracy": correct / seen if seen else None}
