"""Which epoch of a fit to keep, judged on training rows only (the validation part of
them when there is one).

The adversarial game does not settle monotonically: on issue 16's textbook case the
predictor passed through fair, accurate states and then swung on, to the reverse
dependence or to one label for every row. After each epoch the predictor is scored on
(up to ROWS of) the training rows by the trade-off its adversary weight sets,

    accuracy - weight * fairness gap,

and the parameters of the best epoch that did not collapse to one label are restored at
the end. The rows the figures are measured on are never looked at.
"""
from __future__ import annotations

import numpy as np
import torch

from .evaluate import point_figures

ROWS = 2000


class EpochKeeper:
    def __init__(self, *, predictor, rows: torch.Tensor, labels: np.ndarray, privileged: np.ndarray,
                 favourable_id: int, goal: str, weight: float, batches: int):
        self.predictor, self.weight, self.batches = predictor, weight, batches
        self.labels, self.privileged = labels[:ROWS], privileged[:ROWS]
        self.rows, self.favourable_id, self.goal = rows[:ROWS], favourable_id, goal
        self.best: tuple[float, int, list[torch.Tensor]] | None = None
        self.epochs = 0

    def __call__(self, done: int, _total: int) -> None:
        """on_batch: called before each batch and once at the end; an epoch has just ended
        when `done` is a positive multiple of the batches per epoch."""
        if done and done % self.batches == 0:
            self.epochs += 1
            self._score()

    def score_start(self) -> None:
        """Score the parameters before the first epoch (epoch 0): a warm-started fit keeps
        them when no epoch does better."""
        self._score()

    def _score(self) -> None:
        with torch.no_grad():
            logits = torch.cat([self.predictor.forward(self.rows[i:i + 256]) for i in range(0, len(self.rows), 256)])
        figures = point_figures(self.labels, logits.argmax(1).numpy(), self.favourable_id, self.privileged, self.goal)
        if figures["collapsed"] or figures["fairness_gap"] is None:
            return
        score = figures["accuracy"] - self.weight * figures["fairness_gap"]
        if self.best is None or score > self.best[0]:
            self.best = (score, self.epochs, [p.detach().clone() for p in self.predictor.params])

    def restore(self) -> int | None:
        """Put the best epoch's parameters back; its number (1-based; 0 the starting point),
        or None if every epoch collapsed."""
        if self.best is None:
            return None
        with torch.no_grad():
            for p, kept in zip(self.predictor.params, self.best[2], strict=True):
                p.copy_(kept)
        return self.best[1]
