"""mitigation_compute: split, train, sweep, compare, save, and report a mitigation.

Pure computation: arrays in, a report section and a model folder out. Every figure in
the section is measured on the held-out rows, which no training step sees; the "after"
figures come from the saved folder loaded back through the runtime, so they are the
figures of the model a user will register and audit.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

import runtime

from .adversarial import MitigationCancelled
from .baselines import threshold_predict, threshold_rules
from .cached import is_decoder
from .evaluate import adversary_accuracy, held_out_figures
from .fitting import Thresholds, fit, try_methods
from .identity_aucs import identity_aucs
from .options import options_validate
from .predictor import save_model
from .recommend import GAP_DEFINITIONS, recommend
from .twins import flip_rate, twin_texts
from .work import Work, fav_logit, prepare


@dataclass
class MitigationOutcome:
    section: dict
    model_folder: Path | None
    # Additive extras for callers and tests: held-out row indices (into the inputs), and
    # the "after" predictions (label ids) and favourable probabilities on those rows.
    held_out_rows: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    after_predictions: np.ndarray | None = None
    after_probabilities: np.ndarray | None = None


@dataclass
class _After:
    """The chosen method's held-out predictions and favourable logits (training and held-out rows)."""

    predictions: np.ndarray
    probabilities: np.ndarray | None
    logit_train: np.ndarray
    logit_test: np.ndarray
    model_folder: Path | None = None
    twin_predictions: np.ndarray | None = None  # the saved model's labels for _twins(work)


def mitigation_compute(*, model_dir: Path, texts: list[str], labels: np.ndarray, group: np.ndarray,
                       privileged: np.ndarray, favourable_id: int, method: str, options: dict, seed: int,
                       out_dir: Path, resamples: int = 1000, progress=None, should_stop=None,
                       attribute: str = "", parent_probs: np.ndarray | None = None,
                       train_data: dict | None = None) -> MitigationOutcome:
    """`parent_probs`: the parent's probabilities for `texts` when the caller has them (an
    audit's cached predictions), so the unfrozen path need not predict them again.
    `train_data`: a separate training dataset ({"texts", "labels", "group", "privileged"},
    mapped like the audit's rows): training uses only it, and every figure is measured on
    all of the audit's rows. Without it the audit's rows are split (option held_out)."""
    opts = options_validate(method, options)

    def report(stage: str, done: int, total: int) -> None:
        if should_stop is not None and should_stop():
            raise MitigationCancelled(f"Cancelled during {stage}.")
        if progress is not None:
            progress(stage, done, total)

    work = prepare(model_dir=model_dir, texts=texts, labels=np.asarray(labels, dtype=np.int64),
                    group=np.asarray(group).astype(str), privileged=np.asarray(privileged, dtype=bool),
                    favourable_id=favourable_id, opts=opts, seed=seed, report=report, parent_probs=parent_probs,
                    train_data=train_data, method=method)
    before_points = work.points(work.parent_pred[work.test])
    # Only the model to be saved is kept; the other fits leave their held-out predictions
    # (a fitted predictor holds a whole copy of the model).
    key = opts["adversary_weight"] if method == "adversarial" else method
    tried = try_methods(work, method, key)
    section = {"method": method, "attribute": attribute, "settings": {**opts, "seed": seed}, **tried.extra}
    if method == "threshold":
        after = _threshold_after(work, tried.thresholds, section)
    else:
        after = _model_after(work, key, tried.chosen, Path(out_dir) / "model", section)
    _held_out_section(work, section, after, before_points, resamples)
    section["evaluated_on"] = (
        "all of the audit's rows; training used only the training dataset's rows"
        if work.training_dataset_rows is not None else
        f"a held-out {opts['held_out']:.0%} of the audit's rows (the rest trained): fewer rows than the audit's,"
        " so wider intervals; a separate training dataset leaves all of the audit's rows for the figures")
    section["trained"] = ("classification head" if work.frozen else
                          f"top {opts['unfreeze_layers']} layer(s) and head"
                          + (", lower layers' outputs cached" if work.cache is not None else "")
                          + (f", as LoRA adapters of rank {opts['lora_rank']}" if not work.frozen and work.cache is None
                             and is_decoder(work.loaded) and opts["lora_rank"] > 0 else ""))
    section["sweep"] = tried.sweep
    section["comparison"] = tried.comparison
    section["recommendation"] = recommend(before_points, tried.comparison, work.goal, opts["accuracy_budget"],
                                          retrained=tried.extra.get("no_mitigation_retrained"))
    report("done", 1, 1)
    return MitigationOutcome(section=section, model_folder=after.model_folder, held_out_rows=work.test,
                             after_predictions=np.asarray(after.predictions), after_probabilities=after.probabilities)


def _threshold_after(work: Work, thresholds: Thresholds, section: dict) -> _After:
    """Thresholds change decisions, not weights: the "after" figures are the parent's,
    decided by the thresholds, and no model is saved."""
    fav_score = work.parent_probs[:, work.favourable_id]
    train_decisions = threshold_predict(thresholds.optimiser, fav_score[work.train],
                                        thresholds.rule_group[work.train], work.seed)
    section["thresholds"] = threshold_rules(thresholds.optimiser)
    section["model"] = {"weights_changed": False, "note": (
        "Threshold post-processing changes decisions, not weights: no new model is saved. The"
        " per-group thresholds above apply to the parent model's probability of the favourable"
        " label and need each row's group at prediction time, which text inputs usually lack.")}
    return _After(predictions=thresholds.predictions, probabilities=None,
                  logit_train=train_decisions.astype(float), logit_test=thresholds.decisions.astype(float))


def _model_after(work: Work, key, chosen: tuple | None, folder: Path, section: dict) -> _After:
    """Save the chosen fit as a model folder and measure it as loaded back through the
    runtime: the model a user will register and audit."""
    if chosen is None:  # an adversary weight outside the sweep
        chosen = fit(work, key, None, "training")
    predictor, memory_pred, stats = chosen
    work.report("saving", 0, 1)
    model_folder = save_model(predictor.trained_model(), work.loaded.folder, folder,
                              {"method": section["method"], "attribute": section["attribute"],
                               "settings": section["settings"], "parent_folder": work.loaded.folder.name})
    runtime.evict(model_folder)
    saved = runtime.load_model(model_folder)
    all_probs = runtime.predict_token_ids(saved, work.ids, progress=lambda d, t: work.report("evaluating", d, t))
    twins = _twins(work)[0]
    twin_predictions = runtime.predict_proba(saved, twins).argmax(1) if twins else None
    runtime.evict(model_folder)
    fav = work.favourable_id
    after = _After(predictions=all_probs[work.test].argmax(1), probabilities=all_probs[work.test, fav],
                   logit_train=fav_logit(all_probs[work.train, fav]),
                   logit_test=fav_logit(all_probs[work.test, fav]), model_folder=model_folder,
                   twin_predictions=twin_predictions)
    section["saved_model_agreement"] = float(np.mean(after.predictions == memory_pred))
    section["adversary_train_accuracy"] = stats["adversary_train_accuracy"]
    section["model"] = {"weights_changed": True, "note": (
        "A new model: the parent's weights with the " + ("classification head" if work.frozen else
        f"classification head and top {work.opts['unfreeze_layers']} encoder layer(s)") + " retrained;"
        " the parent's tokenizer files are copied unchanged.")}
    return after


def _held_out_section(work: Work, section: dict, after: _After, before_points: dict, resamples: int) -> None:
    """The before and after figures on the held-out rows, the gap, the accuracy cost, and
    how well an adversary still tells the groups apart."""
    work.report("evaluating", 0, 1)
    eval_rng = np.random.default_rng(work.seed)
    train, test, fav_true, privileged = work.train, work.test, work.fav_true, work.privileged
    parent_fav = work.parent_probs[:, work.favourable_id]
    section["before"] = held_out_figures(work.labels[test], work.parent_pred[test], parent_fav[test],
                                         work.favourable_id, work.group[test], privileged[test], resamples, eval_rng)
    section["after"] = held_out_figures(work.labels[test], after.predictions, after.probabilities, work.favourable_id,
                                        work.group[test], privileged[test], resamples, eval_rng)
    section["identity_aucs"] = identity_aucs(work.labels[test], work.favourable_id, work.group[test],
                                             privileged[test], {"before": parent_fav[test], "after": after.probabilities},
                                             resamples, eval_rng)
    section["counterfactual_flip_rate"] = _flip_section(work, after, resamples, eval_rng)
    # Training rows include the validation rows that chose each fit's epoch (option validation).
    section["held_out_rows"], section["train_rows"] = int(len(test)), int(len(train) + len(work.val))
    section["validation_rows"] = int(len(work.val))
    after_points = work.points(after.predictions)
    section["fairness_gap"] = {"definition": GAP_DEFINITIONS[work.goal], "before": before_points["fairness_gap"],
                               "after": after_points["fairness_gap"]}
    section["accuracy_cost"] = before_points["accuracy"] - after_points["accuracy"]
    chance = _chance(fav_true, privileged, train, test, work.goal)
    for name, probe in (("adversary_accuracy", False), ("probe_accuracy", True)):
        section[name] = {
            "before": adversary_accuracy(fav_logit(parent_fav[train]), fav_true[train], privileged[train],
                                         fav_logit(parent_fav[test]), fav_true[test], privileged[test],
                                         work.goal, probe),
            "after": adversary_accuracy(after.logit_train, fav_true[train], privileged[train],
                                        after.logit_test, fav_true[test], privileged[test], work.goal, probe),
            "chance": chance,
        }
    section["probe_accuracy"]["note"] = (
        "adversary_accuracy: a fresh copy of the paper's adversary (logistic regression on the"
        " favourable probability) fitted on training rows, scored on held-out rows. probe_accuracy:"
        " the same on score deciles, which also sees group differences that are not monotone in the"
        " score; it can stay above chance while decisions are fair. chance: the majority share of"
        " held-out rows (demographic parity), or the accuracy from the true label alone (equalised"
        " odds, where the label may tell the group and only the prediction's extra information counts).")


def _twins(work: Work) -> tuple[list[str], np.ndarray]:
    """The identity-swapped twins of the measured rows (twins.twin_texts), made once."""
    if work.twins is None:
        texts = work.loaded_texts
        work.twins = twin_texts(texts, work.group, work.privileged, work.test)
    return work.twins


def _flip_section(work: Work, after: _After, resamples: int, rng: np.random.Generator) -> dict:
    twins, owner = _twins(work)
    if not twins:
        return {"note": "No measured row mentions a group of this attribute as a word of its text, so there are"
                        " no identity-swapped twins (a protected column's values are not terms of the texts)."}
    parent_twins = runtime.predict_proba(work.loaded, twins).argmax(1)
    out = {"before": flip_rate(owner, len(work.test), work.parent_pred[work.test], parent_twins, resamples, rng),
           "note": "Share of identity-swapped twins (the term replaced by each other term of the attribute found"
                   " among the measured rows) predicted unlike their original; interval over the originals."}
    if after.twin_predictions is not None:
        out["after"] = flip_rate(owner, len(work.test), after.predictions, after.twin_predictions, resamples, rng)
    return out


def _chance(fav_true, privileged, train, test, goal: str) -> float:
    if goal == "demographic_parity":
        share = float(privileged[test].mean())
        return max(share, 1 - share)
    # Best guess of privilege from the label alone, learnt on the training rows.
    guess = {y: privileged[train][fav_true[train] == y].mean() >= 0.5 for y in (False, True)}
    return float(np.mean(np.where(fav_true[test], guess[True], guess[False]) == privileged[test]))

