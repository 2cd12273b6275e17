"""Fitting the methods of a mitigation run on the prepared rows: the adversarial sweep,
retraining without a method, reweighing, data balancing and per-group thresholds."""
from __future__ import annotations

from contextlib import nullcontext
from dataclasses import dataclass, field

import numpy as np
import torch

from .adversarial import one_thread, train_predictor
from .baselines import reweighing_weights, threshold_fit, threshold_predict
from .select import EpochKeeper
from .work import Work, fav_logit, predictor_for


def threshold_groups(group, privileged, fav_true, train) -> tuple[np.ndarray, str]:
    """The groups thresholds are fitted per: the attribute's own groups when each has
    both outcomes among the training rows, else privileged against the rest. Fairlearn
    cannot fit a group whose labels are all one value, and identity-term groups of real
    comments are often that small (one 'queer' comment, non-toxic)."""
    # A group with no training rows at all counts too: no threshold could be fitted for it.
    degenerate = sorted(g for g in np.unique(group) if len(np.unique(fav_true[train][group[train] == g])) < 2)
    if not degenerate:
        return group, "per group of the attribute"
    merged = np.where(privileged, "privileged", "non-privileged")
    return merged, ("privileged against non-privileged rows, because these groups have one outcome only"
                    f" among the training rows: {', '.join(degenerate)}")


@dataclass
class Thresholds:
    """Fairlearn's fitted thresholds, the groups they are per, and their held-out decisions."""

    optimiser: object
    rule_group: np.ndarray
    decisions: np.ndarray
    predictions: np.ndarray


@dataclass
class Tried:
    """Every method tried: the sweep, the comparison rows, the section's extras, the fit
    of the model to save when one of them is it, and the thresholds when fitted."""

    sweep: list = field(default_factory=list)
    comparison: list = field(default_factory=list)
    extra: dict = field(default_factory=dict)
    chosen: tuple | None = None
    thresholds: Thresholds | None = None


def fit(work: Work, alpha, weights, stage: str, rows: np.ndarray | None = None, start: list | None = None,
        select: bool = True) -> tuple:
    """Train a copy of the parent on the training rows (or `rows`), from the parent's
    weights or from `start` (a kept fit's parameters): (predictor, held-out predictions,
    stats). With `select`, the epoch kept is the best on the validation rows by accuracy -
    weight x gap (weight 0 without an adversary), or, without validation rows, an
    adversarial fit's best on the rows it trains on. Reweighing and balancing keep their
    last epoch and train on the validation rows too: plain accuracy on the (biased)
    validation labels is not their objective, and chose their first epochs, before they
    had moved (tests/audits/mitigation)."""
    opts = work.opts
    predictor = predictor_for(work)
    if start is not None:
        with torch.no_grad():
            for p, value in zip(predictor.params, start, strict=True):
                p.copy_(value)
    rows = work.train if rows is None else rows
    train_t, test_t = torch.from_numpy(rows), torch.from_numpy(work.test)
    parent_logit = fav_logit(work.parent_probs[rows, work.favourable_id])
    scored = work.val if len(work.val) else (rows if alpha is not None and work.cheap else None)
    keeper = None
    if scored is not None and select:
        keeper = EpochKeeper(predictor=predictor, rows=torch.from_numpy(scored), labels=work.labels[scored],
                             privileged=work.privileged[scored], favourable_id=work.favourable_id,
                             goal=work.goal, weight=alpha or 0.0, batches=-(-len(rows) // opts["batch_size"]))
        if start is not None:
            keeper.score_start()  # a continuation may keep where it started

    def on_batch(done: int, total: int) -> None:
        if keeper is not None:
            keeper(done, total)
        work.report(stage, done, total)

    # Cached inputs make small tensors, which run fastest on one thread (adversarial.one_thread).
    with one_thread() if work.cheap else nullcontext():
        stats = train_predictor(
            params=predictor.params, forward=lambda idx: predictor.forward(train_t[idx]),
            labels=torch.from_numpy(work.labels[rows]), privileged=torch.from_numpy(work.privileged[rows]),
            favourable_id=work.favourable_id, goal=work.goal, alpha=alpha,
            weights=None if weights is None else torch.from_numpy(weights),
            epochs=opts["epochs"], batch_size=opts["batch_size"], learning_rate=opts["learning_rate"],
            seed=work.seed, on_batch=on_batch,
            adversary_reads=opts["adversary_input"], adversary_scale=max(1.0, float(np.std(parent_logit))),
            adversary_steps=opts["adversary_steps"], lr_decay=opts["lr_decay"], momentum=opts["momentum"],
            adversary_l2=opts["adversary_l2"])
        if keeper is not None:
            stats["epoch_kept"] = keeper.restore()
        with torch.no_grad():
            logits = torch.cat([predictor.forward(test_t[i:i + 256]) for i in range(0, len(work.test), 256)])
    return predictor, logits.argmax(1).numpy(), stats


def _kept(fitted: tuple) -> list:
    return [p.detach().clone() for p in fitted[0].params]


def try_methods(work: Work, method: str, key) -> Tried:
    """Fit the method asked for; with cheap fits (cached inputs), every method, and the
    same layers retrained with no method, so the report can compare them.

    With option warm_start the sweep is a continuation: retraining without a method
    first, then each weight in increasing order from the model the weight before kept,
    so the adversary's pressure grows along one path (as the paper's growing alpha) and
    each fit can keep where it started when its epochs do worse on the validation rows."""
    tried = Tried()
    start = None
    if work.cheap or work.training_dataset_rows is not None:
        # Retraining with no adversary and no weights: what the sweep is measured against.
        reference = fit(work, None, None, "reference")
        tried.extra["no_mitigation_retrained"] = {**work.points(reference[1]),
                                                  "epoch_kept": reference[2].get("epoch_kept")}
        start = _kept(reference) if work.opts["warm_start"] else None
        del reference
    if method == "adversarial" or work.cheap:
        weights_to_try = work.opts["sweep"]  # increasing (options_validate sorts them)
        for i, weight in enumerate(weights_to_try):
            work.report("sweep", i, len(weights_to_try))
            fitted = fit(work, weight, None, f"sweep {i + 1} of {len(weights_to_try)}", start=start)
            if work.opts["warm_start"]:
                start = _kept(fitted)
            if weight == key:
                tried.chosen = fitted
            entry = {"adversary_weight": weight, **work.points(fitted[1]), "epoch_kept": fitted[2].get("epoch_kept")}
            tried.sweep.append(entry)
            tried.comparison.append({"method": "adversarial", "adversary_weight": weight, "makes_model": True,
                                     **{k: entry[k] for k in ("accuracy", "fairness_gap", "collapsed")}})
            del fitted
    tried.extra["warm_start"] = bool(work.opts["warm_start"])
    if method == "reweighing" or work.cheap:
        rows = work.every_train  # no epoch to choose: the validation rows train too
        fitted = fit(work, None, reweighing_weights(work.fav_true[rows], work.privileged[rows]), "reweighing",
                     rows=rows, select=False)
        if key == "reweighing":
            tried.chosen = fitted
        points = work.points(fitted[1])
        tried.comparison.append({"method": "reweighing", "makes_model": True,
                                 **{k: points[k] for k in ("accuracy", "fairness_gap", "collapsed")}})
    if method == "balancing" or (work.cheap and work.balanced is not None):
        fitted = fit(work, None, None, "balancing", rows=work.balanced, select=False)
        if key == "balancing":
            tried.chosen = fitted
        points = work.points(fitted[1])
        tried.extra["balancing"] = work.balancing
        tried.comparison.append({"method": "balancing", "makes_model": True,
                                 **{k: points[k] for k in ("accuracy", "fairness_gap", "collapsed")}})
    if method == "threshold" or work.cheap:
        tried.thresholds = thresholds_fit(work, tried.extra)
        points = work.points(tried.thresholds.predictions)
        tried.comparison.append({"method": "threshold", "makes_model": False,
                                 **{k: points[k] for k in ("accuracy", "fairness_gap", "collapsed")}})
    return tried


def thresholds_fit(work: Work, extra: dict) -> Thresholds:
    """Per-group thresholds on the parent's favourable probability, fitted on the training rows."""
    work.report("thresholds", 0, 1)
    rule_group, extra["threshold_groups"] = threshold_groups(work.group, work.privileged, work.fav_true, work.train)
    fav_score = work.parent_probs[:, work.favourable_id]
    optimiser = threshold_fit(fav_score[work.train], work.fav_true[work.train], rule_group[work.train], work.goal)
    decisions = threshold_predict(optimiser, fav_score[work.test], rule_group[work.test], work.seed)
    predictions = decisions_to_labels(decisions, work.parent_probs[work.test], work.favourable_id)
    return Thresholds(optimiser=optimiser, rule_group=rule_group, decisions=decisions, predictions=predictions)


def decisions_to_labels(decisions: np.ndarray, probs: np.ndarray, favourable_id: int) -> np.ndarray:
    """Favourable where the thresholds say so; otherwise the likeliest other label."""
    others = probs.copy()
    others[:, favourable_id] = -np.inf
    return np.where(decisions, favourable_id, others.argmax(1))
