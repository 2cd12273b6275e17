"""mitigation_compute: split, train, sweep, compare, save, and report a mitigation.

Pure computation: arrays in, a report section and a model folder out. Every figure in
the section is measured on the held-out rows, which no training step sees; the "after"
figures come from the saved folder loaded back through the runtime, so they are the
figures of the model a user will register and audit.
"""
from __future__ import annotations

from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

import runtime

from .adversarial import MitigationCancelled, one_thread, train_predictor
from .baselines import reweighing_weights, threshold_fit, threshold_predict, threshold_rules
from .evaluate import adversary_accuracy, held_out_figures, point_figures, stratified_split
from .options import options_validate
from .predictor import check_head_matches, head_predictor, save_model, unfrozen_predictor
from .recommend import GAP_DEFINITIONS, recommend


@dataclass
class MitigationOutcome:
    section: dict
    model_folder: Path | None
    # Additive extras for callers and tests: held-out row indices (into the inputs), and
    # the "after" predictions (label ids) and favourable probabilities on those rows.
    held_out_rows: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    after_predictions: np.ndarray | None = None
    after_probabilities: np.ndarray | None = None


def _fav_logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(np.asarray(p, dtype=np.float64), 1e-7, 1 - 1e-7)
    return np.log(p) - np.log1p(-p)


def _check_inputs(texts, labels, group, privileged, favourable_id, num_labels) -> None:
    n = len(texts)
    if not (len(labels) == len(group) == len(privileged) == n):
        raise ValueError("texts, labels, group and privileged must have one entry per row.")
    if num_labels < 2:
        raise ValueError("Mitigation needs a classifier with at least two labels.")
    if not 0 <= favourable_id < num_labels:
        raise ValueError(f"favourable_id {favourable_id} is not a label id of this model (0..{num_labels - 1}).")
    if labels.min() < 0 or labels.max() >= num_labels:
        raise ValueError(f"labels must be label ids of this model (0..{num_labels - 1}).")
    if privileged.all() or not privileged.any():
        raise ValueError("Both privileged and non-privileged rows are needed.")


def _threshold_groups(group, privileged, fav_true, train) -> tuple[np.ndarray, str]:
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


def mitigation_compute(*, model_dir: Path, texts: list[str], labels: np.ndarray, group: np.ndarray,
                       privileged: np.ndarray, favourable_id: int, method: str, options: dict, seed: int,
                       out_dir: Path, resamples: int = 1000, progress=None, should_stop=None,
                       attribute: str = "", parent_probs: np.ndarray | None = None) -> MitigationOutcome:
    """`parent_probs`: the parent's probabilities for `texts` when the caller has them (an
    audit's cached predictions), so the unfrozen path need not predict them again."""
    opts = options_validate(method, options)
    labels = np.asarray(labels, dtype=np.int64)
    group = np.asarray(group).astype(str)
    privileged = np.asarray(privileged, dtype=bool)
    goal = opts["goal"]

    def report(stage: str, done: int, total: int) -> None:
        if should_stop is not None and should_stop():
            raise MitigationCancelled(f"Cancelled during {stage}.")
        if progress is not None:
            progress(stage, done, total)

    loaded = runtime.load_model(model_dir)
    _check_inputs(texts, labels, group, privileged, favourable_id, loaded.num_labels)
    rng = np.random.default_rng(seed)
    train, test = stratified_split(labels, privileged, opts["held_out"], rng)
    ids = runtime.tokenize(loaded, texts)
    # A prompted classifier has no head to retrain: only thresholds apply, with nothing to compare.
    frozen = opts["unfreeze_layers"] == 0 and loaded.kind == "classifier"
    if frozen:
        features, parent_probs = runtime.classifier_inputs(
            loaded, ids, progress=lambda d, t: report("features", d, t))
        check_head_matches(loaded, features, parent_probs)
        features_t = torch.from_numpy(features)
    else:
        if parent_probs is None:
            parent_probs = runtime.predict_token_ids(loaded, ids, progress=lambda d, t: report("predicting", d, t))
    parent_pred = parent_probs.argmax(1)
    fav_true = labels == favourable_id
    train_t, test_t = torch.from_numpy(train), torch.from_numpy(test)

    def fit(alpha, weights, stage):
        """Train a fresh copy of the parent on the training rows; held-out predictions."""
        predictor = (head_predictor(loaded, features_t) if frozen
                     else unfrozen_predictor(loaded, ids, opts["unfreeze_layers"]))
        with one_thread() if frozen else nullcontext():
            stats = train_predictor(
                params=predictor.params, forward=lambda idx: predictor.forward(train_t[idx]),
                labels=torch.from_numpy(labels[train]), privileged=torch.from_numpy(privileged[train]),
                favourable_id=favourable_id, goal=goal, alpha=alpha,
                weights=None if weights is None else torch.from_numpy(weights),
                epochs=opts["epochs"], batch_size=opts["batch_size"], learning_rate=opts["learning_rate"],
                seed=seed, on_batch=lambda d, t: report(stage, d, t))
        with torch.no_grad():
            logits = torch.cat([predictor.forward(test_t[i:i + 256]) for i in range(0, len(test), 256)])
        return predictor, logits.argmax(1).numpy(), stats

    before_points = point_figures(labels[test], parent_pred[test], favourable_id, privileged[test], goal)
    sweep, comparison, section_extra = [], [], {}
    # Only the model to be saved is kept; the other fits leave their held-out predictions
    # (a fitted predictor holds a whole copy of the model).
    key = opts["adversary_weight"] if method == "adversarial" else method
    chosen = None
    if method == "adversarial" or frozen:
        weights_to_try = opts["sweep"]
        for i, weight in enumerate(weights_to_try):
            report("sweep", i, len(weights_to_try))
            fitted = fit(weight, None, f"sweep {i + 1} of {len(weights_to_try)}")
            if weight == key:
                chosen = fitted
            entry = {"adversary_weight": weight,
                     **point_figures(labels[test], fitted[1], favourable_id, privileged[test], goal)}
            sweep.append(entry)
            comparison.append({"method": "adversarial", "adversary_weight": weight, "makes_model": True,
                               **{k: entry[k] for k in ("accuracy", "fairness_gap")}})
    if frozen:
        # Retraining the head with no adversary and no weights: what the sweep is measured against.
        plain = fit(None, None, "reference")[1]
        section_extra["no_mitigation_retrained"] = point_figures(
            labels[test], plain, favourable_id, privileged[test], goal)
    if method == "reweighing" or frozen:
        fitted = fit(None, reweighing_weights(fav_true[train], privileged[train]), "reweighing")
        if key == "reweighing":
            chosen = fitted
        points = point_figures(labels[test], fitted[1], favourable_id, privileged[test], goal)
        comparison.append({"method": "reweighing", "makes_model": True,
                           **{k: points[k] for k in ("accuracy", "fairness_gap")}})
    fav_score = parent_probs[:, favourable_id]
    if method == "threshold" or frozen:
        report("thresholds", 0, 1)
        rule_group, section_extra["threshold_groups"] = _threshold_groups(group, privileged, fav_true, train)
        optimiser = threshold_fit(fav_score[train], fav_true[train], rule_group[train], goal)
        decisions = threshold_predict(optimiser, fav_score[test], rule_group[test], seed)
        threshold_pred = _decisions_to_labels(decisions, parent_probs[test], favourable_id)
        points = point_figures(labels[test], threshold_pred, favourable_id, privileged[test], goal)
        comparison.append({"method": "threshold", "makes_model": False,
                           **{k: points[k] for k in ("accuracy", "fairness_gap")}})

    section = {"method": method, "attribute": attribute, "settings": {**opts, "seed": seed}, **section_extra}
    model_folder = None
    if method == "threshold":
        after_pred, after_probs = threshold_pred, None
        train_decisions = threshold_predict(optimiser, fav_score[train], rule_group[train], seed)
        after_logit_train, after_logit_test = train_decisions.astype(float), decisions.astype(float)
        section["thresholds"] = threshold_rules(optimiser)
        section["model"] = {"weights_changed": False, "note": (
            "Threshold post-processing changes decisions, not weights: no new model is saved. The"
            " per-group thresholds above apply to the parent model's probability of the favourable"
            " label and need each row's group at prediction time, which text inputs usually lack.")}
    else:
        if chosen is None:  # an adversary weight outside the sweep
            chosen = fit(key, None, "training")
        predictor, memory_pred, stats = chosen
        report("saving", 0, 1)
        model_folder = save_model(predictor.model, loaded.folder, Path(out_dir) / "model",
                                  {"method": method, "attribute": attribute, "settings": section["settings"],
                                   "parent_folder": loaded.folder.name})
        runtime.evict(model_folder)
        saved = runtime.load_model(model_folder)
        all_probs = runtime.predict_token_ids(saved, ids, progress=lambda d, t: report("evaluating", d, t))
        runtime.evict(model_folder)
        after_pred, after_probs = all_probs[test].argmax(1), all_probs[test, favourable_id]
        after_logit_train = _fav_logit(all_probs[train, favourable_id])
        after_logit_test = _fav_logit(after_probs)
        section["saved_model_agreement"] = float(np.mean(after_pred == memory_pred))
        section["adversary_train_accuracy"] = stats["adversary_train_accuracy"]
        section["model"] = {"weights_changed": True, "note": (
            "A new model: the parent's weights with the " + ("classification head" if frozen else
            f"classification head and top {opts['unfreeze_layers']} encoder layer(s)") + " retrained;"
            " the parent's tokenizer files are copied unchanged.")}

    report("evaluating", 0, 1)
    eval_rng = np.random.default_rng(seed)
    parent_fav = parent_probs[:, favourable_id]
    section["before"] = held_out_figures(labels[test], parent_pred[test], parent_fav[test], favourable_id,
                                         group[test], privileged[test], resamples, eval_rng)
    section["after"] = held_out_figures(labels[test], after_pred, after_probs, favourable_id,
                                        group[test], privileged[test], resamples, eval_rng)
    section["held_out_rows"], section["train_rows"] = int(len(test)), int(len(train))
    after_points = point_figures(labels[test], after_pred, favourable_id, privileged[test], goal)
    section["fairness_gap"] = {"definition": GAP_DEFINITIONS[goal], "before": before_points["fairness_gap"],
                               "after": after_points["fairness_gap"]}
    section["accuracy_cost"] = before_points["accuracy"] - after_points["accuracy"]
    chance = _chance(fav_true, privileged, train, test, goal)
    for name, probe in (("adversary_accuracy", False), ("probe_accuracy", True)):
        section[name] = {
            "before": adversary_accuracy(_fav_logit(parent_fav[train]), fav_true[train], privileged[train],
                                         _fav_logit(parent_fav[test]), fav_true[test], privileged[test], goal, probe),
            "after": adversary_accuracy(after_logit_train, fav_true[train], privileged[train],
                                        after_logit_test, fav_true[test], privileged[test], goal, probe),
            "chance": chance,
        }
    section["probe_accuracy"]["note"] = (
        "adversary_accuracy: a fresh copy of the paper's adversary (logistic regression on the"
        " favourable probability) fitted on training rows, scored on held-out rows. probe_accuracy:"
        " the same on score deciles, which also sees group differences that are not monotone in the"
        " score; it can stay above chance while decisions are fair. chance: the majority share of"
        " held-out rows (demographic parity), or the accuracy from the true label alone (equalised"
        " odds, where the label may tell the group and only the prediction's extra information counts).")
    section["sweep"] = sweep
    section["comparison"] = comparison
    section["recommendation"] = recommend(before_points, comparison, goal, opts["accuracy_budget"],
                                          retrained=section_extra.get("no_mitigation_retrained"))
    report("done", 1, 1)
    return MitigationOutcome(section=section, model_folder=model_folder, held_out_rows=test,
                             after_predictions=np.asarray(after_pred), after_probabilities=after_probs)


def _chance(fav_true, privileged, train, test, goal: str) -> float:
    if goal == "demographic_parity":
        share = float(privileged[test].mean())
        return max(share, 1 - share)
    # Best guess of privilege from the label alone, learnt on the training rows.
    guess = {y: privileged[train][fav_true[train] == y].mean() >= 0.5 for y in (False, True)}
    return float(np.mean(np.where(fav_true[test], guess[True], guess[False]) == privileged[test]))


def _decisions_to_labels(decisions: np.ndarray, probs: np.ndarray, favourable_id: int) -> np.ndarray:
    """Favourable where the thresholds say so; otherwise the likeliest other label."""
    others = probs.copy()
    others[:, favourable_id] = -np.inf
    return np.where(decisions, favourable_id, others.argmax(1))
