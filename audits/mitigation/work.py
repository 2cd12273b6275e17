"""The inputs of a mitigation run, prepared once: the parent, the rows (the audit's,
then a training dataset's, then data balancing's), the split, the parent's predictions
and, where only the top layers train, the lower layers' cached outputs."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

import runtime

from .balancing import balance_rows
from .cached import cached_predictor, can_cache, is_decoder, lora_predictor, lower_outputs, replay_matches
from .evaluate import point_figures, stratified_split
from .predictor import check_head_matches, head_predictor, unfrozen_predictor


def fav_logit(p: np.ndarray) -> np.ndarray:
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



@dataclass
class Work:
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
    # Training rows no fit trains on, where each fit's epoch is chosen (select.EpochKeeper).
    val: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))

    @property
    def cheap(self) -> bool:
        """Fits cost little (cached inputs): every method and the reference are fitted."""
        return self.frozen or self.cache is not None

    @property
    def every_train(self) -> np.ndarray:
        """The training rows with the validation rows: what a fit that chooses no epoch trains on."""
        return np.sort(np.concatenate([self.train, self.val]))

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


def prepare(*, model_dir: Path, texts: list[str], labels: np.ndarray, group: np.ndarray, privileged: np.ndarray,
            favourable_id: int, opts: dict, seed: int, report, parent_probs: np.ndarray | None,
            train_data: dict | None = None, method: str = "") -> Work:
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
    every_train = train
    train, val = _validation_split(train, labels, privileged, opts["validation"], seed)
    frozen = opts["unfreeze_layers"] == 0 and loaded.kind == "classifier"
    balanced = balancing = None
    if method == "balancing" or frozen or can_cache(loaded, opts["unfreeze_layers"]):
        texts, labels, group, privileged, balanced, balancing = _balanced(
            texts, labels, group, privileged, every_train, favourable_id, required=method == "balancing")
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
    work = Work(loaded=loaded, ids=ids, labels=labels, group=group, privileged=privileged,
                favourable_id=favourable_id, opts=opts, seed=seed, train=train, test=test, frozen=frozen,
                features=features, parent_probs=parent_probs, report=report, cache=cache,
                training_dataset_rows=None if split is None else len(every_train), balanced=balanced,
                balancing=balancing, loaded_texts=list(texts), val=val)
    if cache is not None and not replay_matches(loaded, predictor_for(work), parent_probs):
        work.cache = None  # train on full passes rather than on a replay that differs
    return work


def _validation_split(train: np.ndarray, labels: np.ndarray, privileged: np.ndarray, share: float,
                      seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(rows to fit, rows to choose the epoch on), both from the training rows, stratified
    like the held-out split; no validation rows when `share` is 0 or they would lack a
    group or a label (the epoch is then chosen on the rows fitted)."""
    none = np.zeros(0, dtype=np.int64)
    if share <= 0:
        return train, none
    # Its own generator: the held-out split above must not change with this option.
    fit, val = stratified_split(labels[train], privileged[train], share, np.random.default_rng([seed, 1]))
    fit, val = train[fit], train[val]
    if len(np.unique(privileged[val])) < 2 or len(np.unique(labels[val])) < 2:
        return train, none
    return fit, val


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


def predictor_for(work: Work):
    opts = work.opts
    if work.frozen:
        return head_predictor(work.loaded, work.features)
    if work.cache is not None:
        return cached_predictor(work.loaded, work.ids, opts["unfreeze_layers"], work.cache)
    if is_decoder(work.loaded) and opts["lora_rank"] > 0:
        return lora_predictor(work.loaded, work.ids, opts["unfreeze_layers"], opts["lora_rank"])
    return unfrozen_predictor(work.loaded, work.ids, opts["unfreeze_layers"])


