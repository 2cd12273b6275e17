"""mitigation_compute: split, train, sweep, compare, save, and report a mitigation.

Pure computation: arrays in, a report section and a model folder out. Every figure in
the section is measured on the held-out rows, which no training step sees; the "after"
figures come from the saved folder loaded back through the runtime, so they are the
figures of the model a user will register and audit.
"""
from __future__ import annotations

from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

import runtime

from .adversarial import MitigationCancelled, one_thread, train_predictor
from .balancing import balance_rows
from .baselines import reweighing_weights, threshold_fit, threshold_predict, threshold_rules
from .cached import cached_predictor, can_cache, is_decoder, lora_predictor, lower_outputs, replay_matches
from .evaluate import adversary_accuracy, held_out_figures, point_figures, stratified_split
from .identity_aucs import identity_aucs
from .options import options_validate
from .predictor import check_head_matches, head_predictor, save_model, unfrozen_predictor
from .recommend import GAP_DEFINITIONS, recommend
from .select import EpochKeeper
from .twins import flip_rate, twin_texts


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


@dataclass
class _Work:
    """What every step of a computation reads: the inputs, the split, the parent's
    predictions, and `report` (progress, and the place a cancel is noticed)."""

    loaded: runtime.LoadedModel
    ids: list
    labels: np.ndarray
    group: np.ndarray
    privileged: np.ndarray
    favourable_id: int
    opts: dict
    seed: int
    train: np.ndarray
    test: np.ndarray
    # A prompted classifier has no head to retrain: only thresholds apply, with nothing to compare.
    frozen: bool
    features: torch.Tensor | None  # the head's inputs, when frozen
    parent_probs: np.ndarray
    report: Callable[[str, int, int], None]
    # The lower layers' outputs per row when only the top layers train (cached.lower_outputs).
    cache: list | None = None
    # Rows of a separate training dataset follow the audit's rows; None: the audit's rows split.
    training_dataset_rows: int | None = None
    # Data balancing: the training rows and the rows it added (after all others); its counts.
    balanced: np.ndarray | None = None
    balancing: dict | None = None
    loaded_texts: list = field(default_factory=list)  # every row's text, as `ids` tokenises them
    twins: tuple | None = None

    @property
    def cheap(self) -> bool:
        """Fits cost little (cached inputs): every method and the reference are fitted."""
        return self.frozen or self.cache is not None

    @property
    def goal(self) -> str:
        return self.opts["goal"]

    @property
    def fav_true(self) -> np.ndarray:
        return self.labels == self.favourable_id

    @property
    def parent_pred(self) -> np.ndarray:
        return self.parent_probs.argmax(1)

    def points(self, test_predictions: np.ndarray) -> dict:
        return point_figures(self.labels[self.test], test_predictions, self.favourable_id,
                             self.privileged[self.test], self.goal)


@dataclass
class _Thresholds:
    """Fairlearn's fitted thresholds, the groups they are per, and their held-out decisions."""

    optimiser: object
    rule_group: np.ndarray
    decisions: np.ndarray
    predictions: np.ndarray


@dataclass
class _Tried:
    """Every method tried: the sweep, the comparison rows, the section's extras, the fit
    of the model to save when one of them is it, and the thresholds when fitted."""

    sweep: list = field(default_factory=list)
    comparison: list = field(default_factory=list)
    extra: dict = field(default_factory=dict)
    chosen: tuple | None = None
    thresholds: _Thresholds | None = None


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

    work = _prepare(model_dir=model_dir, texts=texts, labels=np.asarray(labels, dtype=np.int64),
                    group=np.asarray(group).astype(str), privileged=np.asarray(privileged, dtype=bool),
                    favourable_id=favourable_id, opts=opts, seed=seed, report=report, parent_probs=parent_probs,
                    train_data=train_data, method=method)
    before_points = work.points(work.parent_pred[work.test])
    # Only the model to be saved is kept; the other fits leave their held-out predictions
    # (a fitted predictor holds a whole copy of the model).
    key = opts["adversary_weight"] if method == "adversarial" else method
    tried = _try_methods(work, method, key)
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


def _with_training_rows(texts, labels, group, privileged, train_data: dict | None):
    """The audit's rows followed by the training dataset's, and their (train, test) indices;
    (None, None) indices without a training dataset."""
    if train_data is None:
        return texts, labels, group, privileged, None
    n, m = len(texts), len(train_data["texts"])
    if m == 0:
        raise ValueError("The training dataset has no rows.")
    merged = (list(texts) + list(train_data["texts"]),
              np.concatenate([labels, np.asarray(train_data["labels"], dtype=np.int64)]),
              np.concatenate([group, np.asarray(train_data["group"]).astype(str)]),
              np.concatenate([privileged, np.asarray(train_data["privileged"], dtype=bool)]))
    return (*merged, (np.arange(n, n + m), np.arange(n)))


def _prepare(*, model_dir: Path, texts: list[str], labels: np.ndarray, group: np.ndarray, privileged: np.ndarray,
             favourable_id: int, opts: dict, seed: int, report, parent_probs: np.ndarray | None,
             train_data: dict | None = None, method: str = "") -> _Work:
    """Load the parent, check the inputs, split the rows (or append the training dataset's),
    and get the parent's predictions (and, for a frozen encoder, its head's inputs; for
    frozen lower layers, their outputs)."""
    loaded = runtime.load_model(model_dir)
    _check_inputs(texts, labels, group, privileged, favourable_id, loaded.num_labels)
    if train_data is not None:
        _check_inputs(train_data["texts"], np.asarray(train_data["labels"]), train_data["group"],
                      np.asarray(train_data["privileged"], bool), favourable_id, loaded.num_labels)
    n_audit = len(texts)
    texts, labels, group, privileged, split = _with_training_rows(texts, labels, group, privileged, train_data)
    train, test = split or stratified_split(labels, privileged, opts["held_out"], np.random.default_rng(seed))
    frozen = opts["unfreeze_layers"] == 0 and loaded.kind == "classifier"
    balanced = balancing = None
    if method == "balancing" or frozen or can_cache(loaded, opts["unfreeze_layers"]):
        texts, labels, group, privileged, balanced, balancing = _balanced(
            texts, labels, group, privileged, train, favourable_id, required=method == "balancing")
    ids = runtime.tokenize(loaded, texts)
    features = cache = None
    if frozen:
        head_inputs, parent_probs = runtime.classifier_inputs(
            loaded, ids, progress=lambda d, t: report("features", d, t))
        check_head_matches(loaded, head_inputs, parent_probs)
        features = torch.from_numpy(head_inputs)
    else:
        if parent_probs is None or len(parent_probs) != len(ids):
            known = parent_probs if parent_probs is not None and len(parent_probs) == n_audit else None
            rest = ids[n_audit:] if known is not None else ids
            predicted = runtime.predict_token_ids(loaded, rest, progress=lambda d, t: report("predicting", d, t))
            parent_probs = predicted if known is None else np.concatenate([known, predicted])
        if can_cache(loaded, opts["unfreeze_layers"]):
            cache = lower_outputs(loaded, ids, opts["unfreeze_layers"], progress=lambda d, t: report("caching", d, t))
    work = _Work(loaded=loaded, ids=ids, labels=labels, group=group, privileged=privileged,
                 favourable_id=favourable_id, opts=opts, seed=seed, train=train, test=test, frozen=frozen,
                 features=features, parent_probs=parent_probs, report=report, cache=cache,
                 training_dataset_rows=None if split is None else len(train), balanced=balanced,
                 balancing=balancing, loaded_texts=list(texts))
    if cache is not None and not replay_matches(loaded, _predictor(work), parent_probs):
        work.cache = None  # train on full passes rather than on a replay that differs
    return work


def _balanced(texts, labels, group, privileged, train, favourable_id: int, required: bool):
    """The rows with data balancing's rows appended, the training rows with them, and its
    counts; the rows unchanged (and None, None) when balancing cannot apply and is not the
    method asked for."""
    terms = sorted(set(group[train][~privileged[train]]))
    try:
        extra = balance_rows([texts[i] for i in train], labels[train], group[train], privileged[train],
                             favourable_id, terms)
    except ValueError:
        if required:
            raise
        return texts, labels, group, privileged, None, None
    n = len(texts)
    counts = {"counterfactual_rows": extra.counterfactual, "label_balancing_rows": extra.label_balancing,
              "terms": sorted(set(extra.group.tolist()))}
    return (list(texts) + extra.texts, np.concatenate([labels, extra.labels]),
            np.concatenate([group, extra.group.astype(str)]),
            np.concatenate([privileged, np.zeros(len(extra.texts), dtype=bool)]),
            np.concatenate([train, np.arange(n, n + len(extra.texts))]), counts)


def _predictor(work: _Work):
    opts = work.opts
    if work.frozen:
        return head_predictor(work.loaded, work.features)
    if work.cache is not None:
        return cached_predictor(work.loaded, work.ids, opts["unfreeze_layers"], work.cache)
    if is_decoder(work.loaded) and opts["lora_rank"] > 0:
        return lora_predictor(work.loaded, work.ids, opts["unfreeze_layers"], opts["lora_rank"])
    return unfrozen_predictor(work.loaded, work.ids, opts["unfreeze_layers"])


def _fit(work: _Work, alpha, weights, stage: str, rows: np.ndarray | None = None) -> tuple:
    """Train a fresh copy of the parent on the training rows (or `rows`): (predictor,
    held-out predictions, stats)."""
    opts = work.opts
    predictor = _predictor(work)
    rows = work.train if rows is None else rows
    train_t, test_t = torch.from_numpy(rows), torch.from_numpy(work.test)
    parent_logit = _fav_logit(work.parent_probs[rows, work.favourable_id])
    keeper = None
    if alpha is not None and work.cheap:
        keeper = EpochKeeper(predictor=predictor, rows=train_t, labels=work.labels[rows],
                             privileged=work.privileged[rows], favourable_id=work.favourable_id,
                             goal=work.goal, weight=alpha, batches=-(-len(rows) // opts["batch_size"]))

    def on_batch(done: int, total: int) -> None:
        if keeper is not None:
            keeper(done, total)
        work.report(stage, done, total)

    with one_thread() if work.frozen else nullcontext():
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


def _try_methods(work: _Work, method: str, key) -> _Tried:
    """Fit the method asked for; with a frozen encoder (cheap fits), every method, and the
    head retrained with no mitigation, so the report can compare them."""
    tried = _Tried()
    if method == "adversarial" or work.cheap:
        weights_to_try = work.opts["sweep"]
        for i, weight in enumerate(weights_to_try):
            work.report("sweep", i, len(weights_to_try))
            fitted = _fit(work, weight, None, f"sweep {i + 1} of {len(weights_to_try)}")
            if weight == key:
                tried.chosen = fitted
            entry = {"adversary_weight": weight, **work.points(fitted[1]), "epoch_kept": fitted[2].get("epoch_kept")}
            tried.sweep.append(entry)
            tried.comparison.append({"method": "adversarial", "adversary_weight": weight, "makes_model": True,
                                     **{k: entry[k] for k in ("accuracy", "fairness_gap", "collapsed")}})
    if work.cheap or work.training_dataset_rows is not None:
        # Retraining the head with no adversary and no weights: what the sweep is measured against.
        tried.extra["no_mitigation_retrained"] = work.points(_fit(work, None, None, "reference")[1])
    if method == "reweighing" or work.cheap:
        fitted = _fit(work, None, reweighing_weights(work.fav_true[work.train], work.privileged[work.train]),
                      "reweighing")
        if key == "reweighing":
            tried.chosen = fitted
        points = work.points(fitted[1])
        tried.comparison.append({"method": "reweighing", "makes_model": True,
                                 **{k: points[k] for k in ("accuracy", "fairness_gap", "collapsed")}})
    if method == "balancing" or (work.cheap and work.balanced is not None):
        fitted = _fit(work, None, None, "balancing", rows=work.balanced)
        if key == "balancing":
            tried.chosen = fitted
        points = work.points(fitted[1])
        tried.extra["balancing"] = work.balancing
        tried.comparison.append({"method": "balancing", "makes_model": True,
                                 **{k: points[k] for k in ("accuracy", "fairness_gap", "collapsed")}})
    if method == "threshold" or work.cheap:
        tried.thresholds = _thresholds_fit(work, tried.extra)
        points = work.points(tried.thresholds.predictions)
        tried.comparison.append({"method": "threshold", "makes_model": False,
                                 **{k: points[k] for k in ("accuracy", "fairness_gap", "collapsed")}})
    return tried


def _thresholds_fit(work: _Work, extra: dict) -> _Thresholds:
    """Per-group thresholds on the parent's favourable probability, fitted on the training rows."""
    work.report("thresholds", 0, 1)
    rule_group, extra["threshold_groups"] = _threshold_groups(work.group, work.privileged, work.fav_true, work.train)
    fav_score = work.parent_probs[:, work.favourable_id]
    optimiser = threshold_fit(fav_score[work.train], work.fav_true[work.train], rule_group[work.train], work.goal)
    decisions = threshold_predict(optimiser, fav_score[work.test], rule_group[work.test], work.seed)
    predictions = _decisions_to_labels(decisions, work.parent_probs[work.test], work.favourable_id)
    return _Thresholds(optimiser=optimiser, rule_group=rule_group, decisions=decisions, predictions=predictions)


def _threshold_after(work: _Work, thresholds: _Thresholds, section: dict) -> _After:
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


def _model_after(work: _Work, key, chosen: tuple | None, folder: Path, section: dict) -> _After:
    """Save the chosen fit as a model folder and measure it as loaded back through the
    runtime: the model a user will register and audit."""
    if chosen is None:  # an adversary weight outside the sweep
        chosen = _fit(work, key, None, "training")
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
                   logit_train=_fav_logit(all_probs[work.train, fav]),
                   logit_test=_fav_logit(all_probs[work.test, fav]), model_folder=model_folder,
                   twin_predictions=twin_predictions)
    section["saved_model_agreement"] = float(np.mean(after.predictions == memory_pred))
    section["adversary_train_accuracy"] = stats["adversary_train_accuracy"]
    section["model"] = {"weights_changed": True, "note": (
        "A new model: the parent's weights with the " + ("classification head" if work.frozen else
        f"classification head and top {work.opts['unfreeze_layers']} encoder layer(s)") + " retrained;"
        " the parent's tokenizer files are copied unchanged.")}
    return after


def _held_out_section(work: _Work, section: dict, after: _After, before_points: dict, resamples: int) -> None:
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
    section["held_out_rows"], section["train_rows"] = int(len(test)), int(len(train))
    after_points = work.points(after.predictions)
    section["fairness_gap"] = {"definition": GAP_DEFINITIONS[work.goal], "before": before_points["fairness_gap"],
                               "after": after_points["fairness_gap"]}
    section["accuracy_cost"] = before_points["accuracy"] - after_points["accuracy"]
    chance = _chance(fav_true, privileged, train, test, work.goal)
    for name, probe in (("adversary_accuracy", False), ("probe_accuracy", True)):
        section[name] = {
            "before": adversary_accuracy(_fav_logit(parent_fav[train]), fav_true[train], privileged[train],
                                         _fav_logit(parent_fav[test]), fav_true[test], privileged[test],
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


def _twins(work: _Work) -> tuple[list[str], np.ndarray]:
    """The identity-swapped twins of the measured rows (twins.twin_texts), made once."""
    if work.twins is None:
        texts = work.loaded_texts
        work.twins = twin_texts(texts, work.group, work.privileged, work.test)
    return work.twins


def _flip_section(work: _Work, after: _After, resamples: int, rng: np.random.Generator) -> dict:
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


def _decisions_to_labels(decisions: np.ndarray, probs: np.ndarray, favourable_id: int) -> np.ndarray:
    """Favourable where the thresholds say so; otherwise the likeliest other label."""
    others = probs.copy()
    others[:, favourable_id] = -np.inf
    return np.where(decisions, favourable_id, others.argmax(1))
